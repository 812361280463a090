import { Controller, Get, Header, HttpCode, Inject, Req, Res, ServiceUnavailableException } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { headerOf } from '../common/http/headers';
import { DataSource } from 'typeorm';
import { Public } from '../access/public.decorator';
import { constantTimeEqualHex, keyedDigest } from '../common/crypto/digest';
import { ServiceUnavailableError } from '../common/errors/app-error';
import type { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { MetricsService } from './metrics.service';

/** The longest /health/ready waits for the database when no pool acquire timeout bounds it (or a longer one does). */
export const READY_CHECK_MAX_MS = 5_000;

/** PostgreSQL's undefined_table. */
const UNDEFINED_TABLE = '42P01';

@Public()
@Controller()
export class HealthController {
  /** How long the readiness check may take before it answers not-ready. */
  private readonly readyWithinMs: number;
  /** Whether a presented token is METRICS_TOKEN (keyed digests, compared in constant time); undefined when /metrics is open. */
  private readonly isMetricsToken?: (given: string) => boolean;
  /** The readiness check in progress: concurrent probes share it, so a flood of them costs one check at a time. */
  private readyCheck?: Promise<{ status: string; database: string; migrations: string }>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly metrics: MetricsService,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    const acquire = config.databaseTimeouts.poolAcquireMs;
    this.readyWithinMs = acquire > 0 ? Math.min(acquire, READY_CHECK_MAX_MS) : READY_CHECK_MAX_MS;
    if (config.metricsToken !== undefined) {
      const expected = keyedDigest(config.keys.token, 'metrics-token', config.metricsToken);
      this.isMetricsToken = (given) => constantTimeEqualHex(keyedDigest(config.keys.token, 'metrics-token', given), expected);
    }
  }

  /** The process is up and its event loop answers. */
  @Get('health/live')
  @HttpCode(200)
  live(): { status: string } {
    return { status: 'ok' };
  }

  /**
   * Ready for traffic: the database answers and no migration is pending. It goes through the app's pool, so
   * a pool with no connection free (every one stuck behind a lock, say) is not-ready too: the answer comes
   * within the pool's acquire timeout (at most READY_CHECK_MAX_MS), never a hang.
   */
  @Get('health/ready')
  async ready(): Promise<{ status: string; database: string; migrations: string }> {
    // /health is public and unthrottled (orchestrators probe it without credentials): a probe arriving while a
    // check runs waits for that check's answer instead of taking another pooled connection.
    this.readyCheck ??= this.checkReadiness().finally(() => (this.readyCheck = undefined));
    return this.readyCheck;
  }

  private async checkReadiness(): Promise<{ status: string; database: string; migrations: string }> {
    let database = 'down';
    let migrations = 'unknown';
    const check = async () => {
      try {
        await this.dataSource.query('SELECT 1');
        database = 'up';
        migrations = (await this.hasPendingMigrations()) ? 'pending' : 'applied';
      } catch (error) {
        // Reachable perhaps, but no connection free in time (or a statement timed out): 'timeout', not 'down'.
        const reason = ServiceUnavailableError.reasonOf(error);
        if (database === 'down' && reason && reason !== 'DATABASE_UNREACHABLE') database = 'timeout';
        throw error;
      }
    };
    // A failure is reported below (the state as far as the check got); so is a check past the bound.
    const finished = await settlesWithin(check(), this.readyWithinMs);
    if (!finished && database === 'down') database = 'timeout';
    const body = { status: finished && database === 'up' && migrations === 'applied' ? 'ok' : 'unavailable', database, migrations };
    if (body.status !== 'ok') throw new ServiceUnavailableException(body);
    return body;
  }

  /**
   * Whether a migration this build ships has not been applied. Not TypeORM's `showMigrations()`: that creates
   * the migrations table when it is missing (a probe must not write, and a least-privilege role may not), and
   * keeps its connection checked out for good when a statement fails midway (a timeout, a failover), so
   * failing probes would drain the pool. `DataSource.query` always hands its connection back.
   */
  private async hasPendingMigrations(): Promise<boolean> {
    const table = this.dataSource.options.migrationsTableName ?? 'migrations';
    let applied: Array<{ name: string }>;
    try {
      applied = (await this.dataSource.query(`SELECT name FROM "${table}"`)) as Array<{ name: string }>;
    } catch (error) {
      // No migrations table yet: nothing has been applied.
      if ((error as { driverError?: { code?: string } }).driverError?.code === UNDEFINED_TABLE) return this.dataSource.migrations.length > 0;
      throw error;
    }
    const names = new Set(applied.map((row) => row.name));
    // Named as TypeORM names them when it records one: the `name` property, else the class name.
    return this.dataSource.migrations.some((migration) => !names.has(migration.name || migration.constructor.name));
  }

  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  async metricsText(@Req() req: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    if (this.isMetricsToken) {
      const given = /^Bearer (.+)$/.exec(headerOf(req, 'authorization') ?? '')?.[1];
      if (given === undefined || !this.isMetricsToken(given)) {
        await reply.status(401).header('WWW-Authenticate', 'Bearer realm="metrics"').send({ status: 'unauthorized' });
        return;
      }
    }
    await reply.header('Content-Type', this.metrics.registry.contentType).send(await this.metrics.registry.metrics());
  }
}

/** Whether `work` settles (either way) within `ms`; it goes on in the background when it does not. */
function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    timer.unref();
    work.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
