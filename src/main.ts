import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { ConfigError } from './config/config';
import { startServer } from './server';

/**
 * However a shutdown goes (a pool closing behind a query stuck on a lock, a webhook receiver that never
 * answers), the process is gone by then: within docker-compose's 30 s `stop_grace_period` and Kubernetes'
 * default 30 s, so the orchestrator never has to kill it mid-write.
 */
const SHUTDOWN_DEADLINE_MS = 25_000;

/**
 * Entry point of `npm start` (which `exec`s node, so a signal sent to npm's process reaches this one).
 * Configuration problems end the process with one line saying why.
 */
async function main(): Promise<void> {
  const server = await startServer(process.env);
  // Graceful shutdown: Nest stops accepting, lets in-flight requests finish and closes the pool.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      const logger = new Logger('Shutdown');
      logger.log(`${signal} received: draining requests in flight, then stopping`);
      setTimeout(() => {
        logger.error(`shutdown did not finish within ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting`);
        process.exit(1);
      }, SHUTDOWN_DEADLINE_MS);
      server.stop().then(
        () => {
          logger.log('stopped');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error(error, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`Custos cannot start: ${error.message}\n`);
  } else {
    process.stderr.write(`Custos failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exit(1);
});
