import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { appendFile, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DataSource } from 'typeorm';
import { APP_CONFIG } from '../../../config/config.module';
import type { AppConfig } from '../../../config/config';
import { AUDIT_SETTINGS } from '../audit.settings';

/** A committed chain head as written to `AUDIT_CHECKPOINT_PATH` (one JSON line each). */
export interface Checkpoint {
  id: string;
  hash: string;
  at: string;
}

/** Enough of the file's end to hold its last line many times over. */
const TAIL_BYTES = 64 * 1024;

/**
 * Writes the chain head outside the database — a JSON line appended to `AUDIT_CHECKPOINT_PATH` and a log
 * line — shortly after appends (every N entries or a few seconds after the last one) and on shutdown.
 * Someone who can delete the newest rows (a superuser with triggers disabled) leaves a chain that is
 * internally valid; only a head recorded elsewhere shows that its tail was cut off.
 */
@Injectable()
export class AuditCheckpointer implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('AuditCheckpoint');
  private readonly path: string;
  private appendedSinceCheckpoint = 0;
  private timer?: NodeJS.Timeout;
  /** Checkpoints run one at a time, in order. */
  private queue: Promise<unknown> = Promise.resolve();
  private lastWritten?: Checkpoint;
  private directoryReady = false;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly dataSource: DataSource,
  ) {
    this.path = config.auditCheckpointPath;
  }

  onModuleInit(): void {
    this.timer = setInterval(() => {
      if (this.appendedSinceCheckpoint > 0) void this.checkpoint().catch((error: unknown) => this.logger.error(error));
    }, AUDIT_SETTINGS.checkpoint.intervalMs);
    this.timer.unref();
  }

  /** Runs before the database pool closes (TypeORM closes it in onApplicationShutdown). */
  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    if (this.appendedSinceCheckpoint > 0) await this.checkpoint().catch((error: unknown) => this.logger.error(error));
    await this.queue.catch(() => undefined);
  }

  /** Called by the writer after each append (committed or still inside the caller's transaction). */
  noteAppended(count: number): void {
    this.appendedSinceCheckpoint += count;
    if (this.appendedSinceCheckpoint >= AUDIT_SETTINGS.checkpoint.everyEntries) {
      void this.checkpoint().catch((error: unknown) => this.logger.error(error));
    }
  }

  /** Records the committed head now; resolves to it (null when the log is empty or unchanged). */
  checkpoint(): Promise<Checkpoint | null> {
    const run = this.queue.catch(() => undefined).then(() => this.writeHead());
    this.queue = run;
    return run;
  }

  private async writeHead(): Promise<Checkpoint | null> {
    this.appendedSinceCheckpoint = 0;
    // Only committed rows are visible here, so a checkpoint never names a head that could still roll back.
    const [head] = (await this.dataSource.query('SELECT id::text AS id, hash FROM audit_entry ORDER BY audit_entry.id DESC LIMIT 1')) as Array<{ id: string; hash: string }>;
    if (!head || head.id === this.lastWritten?.id) return null;
    // Never overwrite the evidence: a head that no longer extends the previous checkpoint (its row is gone
    // or different — a cut tail that has grown back) is not checkpointed, so verification keeps seeing it.
    const previous = this.lastWritten ?? (await this.lastCheckpoint());
    if (previous && !(await this.stillInChain(previous))) {
      this.logger.error({ auditCheckpoint: { previous, head } }, 'audit chain head no longer extends the last checkpoint; not checkpointing');
      return null;
    }
    const checkpoint: Checkpoint = { id: head.id, hash: head.hash, at: new Date().toISOString() };
    if (!this.directoryReady) {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      this.directoryReady = true;
    }
    await appendFile(this.path, `${JSON.stringify(checkpoint)}\n`, { mode: 0o600 });
    this.lastWritten = checkpoint;
    this.logger.log({ auditCheckpoint: checkpoint }, `audit chain head ${checkpoint.id} ${checkpoint.hash}`);
    return checkpoint;
  }

  private async stillInChain(checkpoint: Checkpoint): Promise<boolean> {
    const [row] = (await this.dataSource.query('SELECT hash FROM audit_entry WHERE id = $1', [checkpoint.id])) as Array<{ hash: string }>;
    return row?.hash === checkpoint.hash;
  }

  /** The newest checkpoint in the file (read from its end, so the file's length does not matter). */
  async lastCheckpoint(): Promise<Checkpoint | null> {
    let handle;
    try {
      handle = await open(this.path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, TAIL_BYTES);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      const lines = buffer.toString('utf8').split('\n').reverse();
      for (const line of lines) {
        const parsed = parseCheckpoint(line);
        if (parsed) return parsed;
      }
      return null;
    } finally {
      await handle.close();
    }
  }
}

function parseCheckpoint(line: string): Checkpoint | null {
  try {
    const value = JSON.parse(line) as Partial<Checkpoint>;
    if (typeof value.id === 'string' && /^\d{1,19}$/.test(value.id) && typeof value.hash === 'string' && typeof value.at === 'string') {
      return { id: value.id, hash: value.hash, at: value.at };
    }
  } catch {
    /* a torn or foreign line: look further back */
  }
  return null;
}
