import 'reflect-metadata';
import { ConfigError } from './config/config';
import { startServer } from './server';

/** Entry point of `npm start`. Configuration problems end the process with one line saying why. */
async function main(): Promise<void> {
  const server = await startServer(process.env);
  // Graceful shutdown: Nest stops accepting, lets in-flight requests finish and closes the pool.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      server.stop().then(
        () => process.exit(0),
        () => process.exit(1),
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
