import type { ArchiveProgress } from '../shared/progress';

export { RateMeter } from '../shared/progress';

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
 * line is plain text for logs and pipes. A rate not measured yet shows as `-- B/s`, not 0.
 */
export function formatProgress(
  progress: ArchiveProgress,
  bytesPerSecond: number | undefined,
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
    bytesPerSecond !== undefined && bytesPerSecond > 0 && bytesTotal > bytesDone
      ? formatDuration((bytesTotal - bytesDone) / bytesPerSecond)
      : '--:--';
  const fields = [
    `${formatBytes(bytesDone)} of ${formatBytes(bytesTotal)}`,
    bytesPerSecond === undefined ? '-- B/s' : `${formatBytes(bytesPerSecond)}/s`,
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
