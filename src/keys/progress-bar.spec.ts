import { formatDuration, formatProgress, ProgressBar } from './progress-bar';

describe('progress bar', () => {
  it('formats durations compactly', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(59_400)).toBe('59s');
    expect(formatDuration(65_000)).toBe('1m05s');
    expect(formatDuration(3_725_000)).toBe('1h02m');
    expect(formatDuration(Number.NaN)).toBe('--');
  });

  it('shows counts, share, rate and ETA, then the total time when done', () => {
    expect(formatProgress({ done: 250, total: 1000, elapsedMs: 500 }, 8)).toBe('[##......]  250/1000  25%  500/s  ETA 2s');
    expect(formatProgress({ done: 1000, total: 1000, elapsedMs: 2000, note: '3 skipped' }, 8)).toBe('[########]  1000/1000  100%  500/s  in 2s  3 skipped');
    expect(formatProgress({ done: 0, total: 10, elapsedMs: 0 }, 4)).toBe('[....]  0/10  0%  0.0/s  ETA --');
    expect(formatProgress({ done: 0, total: 0, elapsedMs: 0 }, 4)).toBe('[####]  0/0  100%  0.0/s  in 0s');
    // More done than counted at the start (rows added meanwhile): never above 100%.
    expect(formatProgress({ done: 12, total: 10, elapsedMs: 1000 }, 4)).toBe('[####]  12/12  100%  12/s  in 1s');
    expect(formatProgress({ done: 1500, total: 3000, elapsedMs: 1000 }, 4)).toContain('1.5k/s');
  });

  it('prints one line per update when the stream is not a terminal', () => {
    const lines: string[] = [];
    const bar = new ProgressBar({ write: (c: string) => lines.push(c), isTTY: false }, 'Work');
    bar.update({ done: 1, total: 2, elapsedMs: 1000 });
    bar.update({ done: 2, total: 2, elapsedMs: 2000 });
    bar.finish();
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.startsWith('Work [') && l.endsWith('\n'))).toBe(true);
  });

  it('redraws in place on a terminal and ends the line on finish', () => {
    const out: string[] = [];
    const bar = new ProgressBar({ write: (c: string) => out.push(c), isTTY: true, columns: 200 }, 'Work');
    bar.update({ done: 1, total: 3, elapsedMs: 10 });
    bar.update({ done: 2, total: 3, elapsedMs: 20 }); // throttled
    bar.update({ done: 3, total: 3, elapsedMs: 30 }); // the last one is always drawn
    bar.finish();
    expect(out).toHaveLength(3);
    expect(out[0]).toMatch(/^\rWork \[.*1\/3.*\x1b\[K$/);
    expect(out[1]).toMatch(/^\rWork \[.*3\/3  100%/);
    expect(out[2]).toBe('\n');
  });
});
