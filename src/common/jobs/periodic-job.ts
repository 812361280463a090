import type { Logger } from '@nestjs/common';

/**
 * Work a service repeats on a timer (sweeps, refreshes, maintenance): one run at a time per instance — a
 * tick that finds the previous run still going is skipped — a failed run logged as a warning and retried
 * on the next tick, an unref'd timer that never keeps the process alive, and a stop that waits for the run
 * in flight. Exclusion across instances, where a job needs it, is the job's own (an advisory lock).
 */
export class PeriodicJob {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    /** In the failure warning: `<name> failed: <reason>`. */
    private readonly name: string,
    private readonly logger: Logger,
    private readonly work: () => Promise<unknown>,
  ) {}

  /** Ticks every `intervalMs`; with `runNow`, the first run starts at once (start-up is not held up by it). */
  start(intervalMs: number, options: { runNow?: boolean } = {}): void {
    if (options.runNow) this.trigger();
    this.timer = setInterval(() => this.trigger(), intervalMs);
    this.timer.unref();
  }

  /** Starts a run unless one is in flight. */
  trigger(): void {
    if (this.running) return;
    this.running = this.work()
      .catch((error: unknown) => this.logger.warn(`${this.name} failed: ${(error as Error).message}`))
      .finally(() => (this.running = undefined));
  }

  /** Stops ticking and waits for the run in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
