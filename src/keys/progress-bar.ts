/** A small progress display for long CLI runs: a redrawn bar on a terminal, one line per update otherwise. */

export interface ProgressSnapshot {
  done: number;
  total: number;
  elapsedMs: number;
  /** Free text after the figures, e.g. "12 skipped". */
  note?: string;
}

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const BAR_WIDTH = 28;
/** Terminal redraws at most this often; the last update is always drawn by `finish`. */
const REDRAW_MS = 100;

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '--';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** `[#########.........]  450/1000  45%  1.2k/s  ETA 0s` — counts, share, rate and estimated time left. */
export function formatProgress(p: ProgressSnapshot, width = BAR_WIDTH): string {
  const total = Math.max(p.total, p.done);
  const ratio = total === 0 ? 1 : p.done / total;
  const filled = Math.min(width, Math.floor(ratio * width));
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const seconds = p.elapsedMs / 1000;
  const rate = seconds > 0 ? p.done / seconds : 0;
  const eta = p.done >= total ? 0 : rate > 0 ? ((total - p.done) / rate) * 1000 : Number.NaN;
  const parts = [
    bar,
    `${p.done}/${total}`,
    `${Math.floor(ratio * 100)}%`,
    `${formatRate(rate)}/s`,
    p.done >= total ? `in ${formatDuration(p.elapsedMs)}` : `ETA ${formatDuration(eta)}`,
  ];
  if (p.note) parts.push(p.note);
  return parts.join('  ');
}

function formatRate(rate: number): string {
  if (rate >= 10_000) return `${(rate / 1000).toFixed(0)}k`;
  if (rate >= 1000) return `${(rate / 1000).toFixed(1)}k`;
  return rate >= 10 ? rate.toFixed(0) : rate.toFixed(1);
}

export class ProgressBar {
  private lastDraw = 0;
  private pending: ProgressSnapshot | undefined;
  private drawn = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly label: string,
    private readonly interactive = Boolean(stream.isTTY),
  ) {}

  update(p: ProgressSnapshot): void {
    if (!this.interactive) {
      this.stream.write(`${this.label} ${formatProgress(p)}\n`);
      return;
    }
    this.pending = p;
    const now = Date.now();
    if (now - this.lastDraw >= REDRAW_MS || p.done >= p.total) this.draw();
  }

  /** Draws the last state and ends the line, so later output starts on a fresh one. */
  finish(): void {
    if (!this.interactive) return;
    if (this.pending) this.draw();
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }

  /** Ends a bar that is being redrawn so a message can be printed below it. */
  interrupt(): void {
    if (this.interactive && this.drawn) {
      this.stream.write('\n');
      this.drawn = false;
    }
  }

  private draw(): void {
    if (!this.pending) return;
    let line = `${this.label} ${formatProgress(this.pending)}`;
    const columns = this.stream.columns;
    if (columns && line.length >= columns) line = line.slice(0, columns - 1);
    // Carriage return, the line, then erase whatever a longer previous line left behind.
    this.stream.write(`\r${line}\x1b[K`);
    this.lastDraw = Date.now();
    this.pending = undefined;
    this.drawn = true;
  }
}
