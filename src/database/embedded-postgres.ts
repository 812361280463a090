import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';

export interface EmbeddedPostgres {
  url: string;
  stop(): Promise<void>;
}

/** Asks the OS for a free loopback port. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Serves an embedded PGlite database (persisted under `dataDir/pgdata`) on a loopback port, so the
 * application keeps one code path: plain `pg` over the wire protocol, whether the server is real
 * PostgreSQL or PGlite. The socket server multiplexes connections onto PGlite's single session.
 */
export async function startEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgres> {
  // Loaded only on this path: production never pulls PGlite into memory.
  const { PGlite } = require('@electric-sql/pglite') as typeof import('@electric-sql/pglite');
  const { PGLiteSocketServer } = require('@electric-sql/pglite-socket') as typeof import('@electric-sql/pglite-socket');
  const pgdata = join(dataDir, 'pgdata');
  mkdirSync(pgdata, { recursive: true });
  const db = await PGlite.create({ dataDir: pgdata });
  const port = await freePort();
  const server = new PGLiteSocketServer({ db: keepingProtocolGroupsWhole(db), host: '127.0.0.1', port, maxConnections: 100 });
  await server.start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

/** Extended-query messages after which the same connection must speak next: Parse, Bind, Describe, Execute, Close, Flush. */
const INSIDE_GROUP = new Set([0x50, 0x42, 0x44, 0x45, 0x43, 0x48]);

/**
 * The socket server queues protocol messages from all connections onto PGlite's one session and keeps a
 * connection's messages together only while a transaction is open. A parameterised statement outside a
 * transaction is several messages (Parse, Bind, Execute … Sync) on the unnamed statement and portal; when a
 * large statement arrives in several TCP packets, another connection's Parse could land in between and
 * take the unnamed statement ("bind message supplies 2 parameters, but prepared statement "" requires 1"),
 * or worse, run with the other's parameters. Reporting "in a transaction" from the first message of such a
 * group until its Sync (or a simple Query) makes the server keep the group whole, as it does transactions.
 */
function keepingProtocolGroupsWhole(db: PGlite): PGlite {
  let insideGroup = false;
  return new Proxy(db, {
    get(target, property) {
      if (property === 'isInTransaction') return () => target.isInTransaction() || insideGroup;
      if (property === 'execProtocolRawStream') {
        return async (...args: Parameters<PGlite['execProtocolRawStream']>) => {
          const [message] = args;
          try {
            return await target.execProtocolRawStream(...args);
          } finally {
            insideGroup = INSIDE_GROUP.has(message[0]);
          }
        };
      }
      // The server rolls back after a connection that held the floor went away: the group ended with it.
      if (property === 'exec') {
        return async (...args: Parameters<PGlite['exec']>) => {
          insideGroup = false;
          return target.exec(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
