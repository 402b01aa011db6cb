/**
 * Timestamps. The caller gives mtime as epoch milliseconds (never the clock).
 * The DOS fields are computed in UTC, not the worker's local zone, so two workers
 * in different zones write the same bytes (DESIGN invariant 4). With TZ=UTC this is
 * exactly what yazl writes.
 */

// APPNOTE 4.4.6: DOS dates run 1980-01-01 .. 2107-12-31; out-of-range times are
// clamped like yazl does (seconds have 2 s resolution, so the top is :58).
const MIN_DOS_MS = Date.UTC(1980, 0, 1, 0, 0, 0);
const MAX_DOS_MS = Date.UTC(2107, 11, 31, 23, 59, 58);

export interface DosDateTime {
  date: number;
  time: number;
}

export function dosDateTime(mtimeMs: number): DosDateTime {
  const clamped = Math.min(Math.max(mtimeMs, MIN_DOS_MS), MAX_DOS_MS);
  const d = new Date(clamped);
  const date =
    (d.getUTCDate() & 0x1f) |
    (((d.getUTCMonth() + 1) & 0xf) << 5) |
    (((d.getUTCFullYear() - 1980) & 0x7f) << 9);
  const time =
    Math.floor(d.getUTCSeconds() / 2) |
    ((d.getUTCMinutes() & 0x3f) << 5) |
    ((d.getUTCHours() & 0x1f) << 11);
  return { date, time };
}

/** Unix seconds for the Info-ZIP "UT" field: a signed 32-bit value, clamped. */
export function unixSeconds(mtimeMs: number): number {
  const seconds = Math.floor(mtimeMs / 1000);
  return Math.min(Math.max(seconds, -0x80000000), 0x7fffffff);
}
