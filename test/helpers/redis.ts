import { spawnSync } from 'node:child_process';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Whether Redis answers PING at `url`, decided synchronously (in a child process) so a spec can choose
 * `describe` or `describe.skip` while jest collects it. Tests of the Redis path skip when it is down, except
 * with TEST_REQUIRE_REDIS=1 (CI sets it): there an unreachable Redis fails the spec instead of passing it
 * untested.
 */
export function redisReachable(url = TEST_REDIS_URL): boolean {
  const script = `
    const Redis = require(process.argv[1]);
    const c = new Redis(process.argv[2], { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0,
      retryStrategy: () => null, enableOfflineQueue: false });
    c.on('error', () => {});
    c.connect().then(() => c.ping()).then((r) => { process.stdout.write(String(r)); c.disconnect(); },
      () => { c.disconnect(); process.exitCode = 1; });`;
  const result = spawnSync(process.execPath, ['-e', script, require.resolve('ioredis'), url], { timeout: 10_000, encoding: 'utf8' });
  const up = result.status === 0 && result.stdout === 'PONG';
  if (!up && process.env.TEST_REQUIRE_REDIS === '1') throw new Error(`Redis at ${url} is unreachable and TEST_REQUIRE_REDIS=1: the Redis path cannot go untested`);
  return up;
}
