import type { Logger } from '@nestjs/common';
import { PeriodicJob } from './periodic-job';

describe('PeriodicJob', () => {
  afterEach(() => jest.useRealTimers());

  const logger = () => ({ warn: jest.fn() }) as unknown as Logger & { warn: jest.Mock };

  it('runs on each tick, skips a tick while a run is in flight, and stop waits for that run', async () => {
    jest.useFakeTimers();
    let finish: () => void = () => undefined;
    const work = jest.fn(() => new Promise<void>((resolve) => (finish = resolve)));
    const job = new PeriodicJob('sweep', logger(), work);
    job.start(1000);
    expect(work).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1000);
    expect(work).toHaveBeenCalledTimes(1);
    jest.advanceTimersByTime(3000); // still running: these ticks are skipped
    expect(work).toHaveBeenCalledTimes(1);
    let stopped = false;
    const stopping = job.stop().then(() => (stopped = true));
    await Promise.resolve();
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect(stopped).toBe(true);
    jest.advanceTimersByTime(5000); // no timer after stop
    expect(work).toHaveBeenCalledTimes(1);
  });

  it('runs at once with runNow, logs a failed run as a warning and runs again on the next tick', async () => {
    jest.useFakeTimers();
    const log = logger();
    const work = jest.fn().mockRejectedValueOnce(new Error('database gone')).mockResolvedValue(undefined);
    const job = new PeriodicJob('maintenance', log, work);
    job.start(1000, { runNow: true });
    expect(work).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(0);
    expect(log.warn).toHaveBeenCalledWith('maintenance failed: database gone');
    await jest.advanceTimersByTimeAsync(1000);
    expect(work).toHaveBeenCalledTimes(2);
    await job.stop();
  });
});
