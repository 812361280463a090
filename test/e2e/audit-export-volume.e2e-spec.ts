import { get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AuditWriter } from '../../src/modules/audit/audit-writer.service';
import { startTestApp, type TestApp } from '../helpers/app';
import { createStaff, gqlOk, signInAdmin, type SignedIn } from '../helpers/auth';

jest.setTimeout(300_000);

const ENTRIES = 100_000;
const MB = 1024 * 1024;

/** A full GC on demand (without starting jest with --expose-gc), so samples measure live memory, not garbage. */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('audit: export and verification at volume', () => {
  let t: TestApp;
  let auditor: SignedIn;
  let port: number;

  beforeAll(async () => {
    t = await startTestApp();
    const admin = await signInAdmin(t);
    auditor = await createStaff(t, admin, 'AUDITOR');
    const writer = t.app.get(AuditWriter);
    // ~700 bytes of details each: the export is ~100 MB, far more than the memory it may use.
    const padding = 'x'.repeat(600);
    for (let start = 0; start < ENTRIES; start += 5000) {
      await writer.recordMany(
        Array.from({ length: 5000 }, (_, i) => ({ action: 'test.volume', outcome: 'SUCCESS' as const, resourceType: 'Test', resourceId: String(start + i), details: { n: start + i, padding } })),
      );
    }
    const server = t.app.getHttpServer() as Server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => t?.close());

  function exportStream(query: string): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: `/audit/export${query}`, headers: { authorization: `Bearer ${auditor.accessToken}` } }, resolve).on('error', reject);
    });
  }

  it(`streams ${ENTRIES.toLocaleString('en')} entries with bounded memory, in chain order, with intact links`, async () => {
    gc();
    const baseline = process.memoryUsage();
    let peakHeap = baseline.heapUsed;
    let peakRss = baseline.rss;
    // What the process holds while the export runs (server and this reader share the process): a server
    // that buffered the export would show it here, above all while the reader is paused. Each sample forces a
    // full GC; the next one waits at least four times as long as that GC took, so on a loaded machine the
    // sampler cannot starve the export it is measuring.
    let sampling = true;
    let sampler: NodeJS.Timeout | undefined;
    const sample = () => {
      const gcStarted = Date.now();
      gc();
      const now = process.memoryUsage();
      peakHeap = Math.max(peakHeap, now.heapUsed);
      peakRss = Math.max(peakRss, now.rss);
      if (sampling) sampler = setTimeout(sample, Math.max(200, 4 * (Date.now() - gcStarted)));
    };
    sampler = setTimeout(sample, 200);

    const res = await exportStream('?format=jsonl');
    expect(res.statusCode).toBe(200);
    let lines = 0;
    let bytes = 0;
    let partial = '';
    let previous: { id: string; hash: string } | null = null;
    let firstId: string | null = null;
    let paused = false;
    let broken = 0;
    await new Promise<void>((resolve, reject) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        bytes += chunk.length;
        const parts = (partial + chunk).split('\n');
        partial = parts.pop()!;
        for (const line of parts) {
          const entry = JSON.parse(line) as { id: string; prevHash: string; hash: string };
          firstId ??= entry.id;
          if (previous && (BigInt(entry.id) !== BigInt(previous.id) + 1n || entry.prevHash !== previous.hash)) broken++;
          previous = { id: entry.id, hash: entry.hash };
          lines++;
        }
        // A slow reader: the server must wait for it rather than buffer the rest of the export.
        if (!paused && bytes > 20 * MB) {
          paused = true;
          res.pause();
          setTimeout(() => res.resume(), 1500);
        }
      });
      res.on('end', resolve);
      res.on('error', reject);
    });
    sampling = false;
    clearTimeout(sampler);

    expect(partial).toBe('');
    expect(firstId).toBe('1');
    expect(lines).toBeGreaterThan(ENTRIES);
    expect(broken).toBe(0);
    expect(bytes).toBeGreaterThan(70 * MB);
    const heapGrowth = (peakHeap - baseline.heapUsed) / MB;
    const rssGrowth = (peakRss - baseline.rss) / MB;
    console.log(`export: ${lines} lines, ${(bytes / MB).toFixed(0)} MB; peak live heap +${heapGrowth.toFixed(1)} MB, peak RSS +${rssGrowth.toFixed(1)} MB`);
    expect(heapGrowth).toBeLessThan(50);
    expect(rssGrowth).toBeLessThan(60);
  });

  it('streams CSV of the same volume', async () => {
    const res = await exportStream('?format=csv');
    expect(res.statusCode).toBe(200);
    let rows = 0;
    res.setEncoding('utf8');
    for await (const chunk of res) rows += (chunk as string).split('\r\n').length - 1;
    // Header + every entry (no cell of these rows holds a line break).
    expect(rows).toBeGreaterThan(ENTRIES + 1);
  });

  it('verifies the whole chain in batches', async () => {
    const started = Date.now();
    const { verifyAuditChain } = await gqlOk<{ verifyAuditChain: { valid: boolean; checked: number; headId: string } }>(
      t.gql, '{ verifyAuditChain { valid checked headId } }', undefined, auditor.accessToken,
    );
    console.log(`verifyAuditChain: ${verifyAuditChain.checked} entries in ${Date.now() - started} ms`);
    expect(verifyAuditChain).toMatchObject({ valid: true });
    expect(verifyAuditChain.checked).toBe(Number(verifyAuditChain.headId));
    expect(verifyAuditChain.checked).toBeGreaterThan(ENTRIES);
  });
});
