import type { ArchiveProgress } from '../shared/progress';

/** Bytes per second over a sliding window of samples. */
export class RateMeter {
  private samples: { at: number; bytes: number }[] = [];

  constructor(private readonly windowMs = 10_000) {}

  /** Records `bytes` done at time `at` (ms) and returns the rate over the window. */
  add(bytes: number, at: number): number {
    // A resumed run may report fewer bytes than before: start the window again.
    if (this.samples.length > 0 && bytes < this.samples[this.samples.length - 1].bytes) {
      this.samples = [];
    }
    this.samples.push({ at, bytes });
    while (this.samples.length > 2 && at - this.samples[0].at > this.windowMs) this.samples.shift();
    const first = this.samples[0];
    const seconds = (at - first.at) / 1000;
    return seconds > 0 ? (bytes - first.bytes) / seconds : 0;
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (v: number): string => String(v).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/**
 * One line of progress. `bar` draws a bar of that many cells (for a terminal); without it the
 * line is plain text for logs and pipes.
 */
export function formatProgress(
  progress: ArchiveProgress,
  bytesPerSecond: number,
  bar?: number,
): string {
  const { phase, bytesDone, bytesTotal, entriesDone, entriesTotal } = progress;
  if (phase === 'plan') {
    return `plan: listed ${entriesTotal} objects, ${formatBytes(bytesTotal)}`;
  }
  const fraction =
    bytesTotal > 0
      ? Math.min(1, bytesDone / bytesTotal)
      : entriesTotal > 0
        ? entriesDone / entriesTotal
        : 1;
  const eta =
    bytesPerSecond > 0 && bytesTotal > bytesDone
      ? formatDuration((bytesTotal - bytesDone) / bytesPerSecond)
      : '--:--';
  const fields = [
    `${formatBytes(bytesDone)} of ${formatBytes(bytesTotal)}`,
    `${formatBytes(bytesPerSecond)}/s`,
    `ETA ${eta}`,
    `entries ${entriesDone}/${entriesTotal}`,
    `part ${progress.currentPart}`,
    ...(progress.resumes > 0 ? [`resumes ${progress.resumes}`] : []),
  ];
  const percent = `${(fraction * 100).toFixed(0).padStart(3)}%`;
  if (bar === undefined) return `${phase}: ${percent} ${fields.join(', ')}`;
  const filled = Math.round(fraction * bar);
  return `${phase} [${'#'.repeat(filled)}${'-'.repeat(bar - filled)}] ${percent} ${fields.join('  ')}`;
}
