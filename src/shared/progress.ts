/**
 * Live progress of one archive run, answered by the workflow's `progress` query and shown by
 * the client and the CLI. Plain JSON so the Web UI's query tab can show it as is.
 */
export type ArchivePhase = 'plan' | 'stream' | 'verify' | 'move' | 'done' | 'failed';

export interface ArchiveProgress {
  phase: ArchivePhase;
  /** Entries and source bytes listed so far; final once the phase is past `plan`. */
  entriesTotal: number;
  bytesTotal: number;
  /** Entries and source bytes already encoded into the archive. */
  entriesDone: number;
  bytesDone: number;
  /** Parts S3 holds, and the part the stream is cutting now (1-based; 0 before the first). */
  partsDone: number;
  currentPart: number;
  /** Times the streaming activity started again from a checkpoint. */
  resumes: number;
  /** Workflow time of the last update, ISO 8601; with live figures, when they were taken. */
  updatedAt: string;
  /**
   * Source bytes per second over the last few seconds (RATE_WINDOW_MS), from the writing
   * activities' heartbeats; absent when no writing activity reports live figures.
   */
  bytesPerSecond?: number;
}

/**
 * What the streaming activity tells its workflow with the `streamProgress` signal. The workflow
 * folds it into ArchiveProgress; totals come from planning, which the workflow ran itself.
 */
export interface StreamProgress {
  entriesDone: number;
  bytesDone: number;
  partsDone: number;
  currentPart: number;
  /** The checkpoint's count, so it agrees with the result's `resumes`. */
  resumes: number;
}

/** Name of the signal that carries StreamProgress (a plain name: activities import no workflow code). */
export const STREAM_PROGRESS_SIGNAL = 'streamProgress';

/**
 * The live figures a writing activity (streamArchive, copyArchive, assembleRange) puts in its
 * heartbeat details as `live`: the whole run's for a sequential stream or copy, one range's
 * for parallel assembly. Heartbeats reach the server every few seconds and add no history
 * events, so the client reads them (describe's pending activities) next to the query.
 */
export interface LiveProgress extends StreamProgress {
  /**
   * Source bytes per second over the last RATE_WINDOW_MS of this attempt; absent while a first
   * attempt has not measured yet (RATE_MEASURE_MS), so that "not known" never reads as 0 B/s.
   */
  bytesPerSecond?: number;
  /** When the figures were taken (ISO 8601, the worker's clock). */
  at: string;
}

/** The window rates are measured over: recent, so a resumed attempt shows its own speed. */
export const RATE_WINDOW_MS = 10_000;

/** Bytes per second over a sliding window of samples. */
export class RateMeter {
  private samples: { at: number; bytes: number }[] = [];

  constructor(private readonly windowMs = RATE_WINDOW_MS) {}

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

  /** How long the samples in the window span (ms): 0 until a second sample. */
  get spanMs(): number {
    const n = this.samples.length;
    return n < 2 ? 0 : this.samples[n - 1].at - this.samples[0].at;
  }
}

/**
 * How long a new attempt measures its own rate before reporting it. Until then it reports the
 * rate its previous attempt last heartbeated (a retry restarts from a checkpoint at about the
 * speed it left off), or none on a first attempt: 0 B/s would read as a stall, and ranges
 * restarted together after a worker dies would all read 0 at once.
 */
export const RATE_MEASURE_MS = 2_000;

/** The heartbeat-carried figures of one pending activity. */
export interface PendingLive {
  activityType: string;
  live: LiveProgress;
}

/** Activities whose live figures are the whole run's; assembleRange's are one range's. */
export const WHOLE_RUN_ACTIVITIES: ReadonlySet<string> = new Set(['streamArchive', 'copyArchive']);
/**
 * Activities whose live figures add to what the workflow counted: a range's own, or the end of
 * a parallel run (finishAssembly: the entries and parts it writes after the ranges).
 */
const ADDED_ACTIVITIES = new Set(['assembleRange', 'finishAssembly']);

/**
 * The workflow's progress with the writing activities' live figures folded in. A stream or
 * copy reports the whole run's counts; ranges report their own, added to what the workflow
 * counted for the ranges already finished. Only while the run streams: the figures of other
 * phases are the workflow's own.
 */
export function withLiveProgress(
  progress: ArchiveProgress,
  pending: PendingLive[],
): ArchiveProgress {
  if (progress.phase !== 'stream' || pending.length === 0) return progress;
  const latest = (a: string, b: string): string => (Date.parse(a) >= Date.parse(b) ? a : b);
  const merged: ArchiveProgress = { ...progress };
  // A heartbeat of an attempt older than the one that signalled the workflow (a worker died,
  // and the new attempt has not heartbeated yet) is not the run's present: left out.
  const whole = pending
    .filter((p) => WHOLE_RUN_ACTIVITIES.has(p.activityType) && p.live.resumes >= progress.resumes)
    .sort((a, b) => Date.parse(b.live.at) - Date.parse(a.live.at))[0];
  if (whole) {
    const { live } = whole;
    Object.assign(merged, {
      entriesDone: live.entriesDone,
      bytesDone: live.bytesDone,
      partsDone: live.partsDone,
      currentPart: live.currentPart,
      resumes: live.resumes,
      bytesPerSecond: live.bytesPerSecond,
      updatedAt: latest(progress.updatedAt, live.at),
    });
  }
  const ranges = pending.filter((p) => ADDED_ACTIVITIES.has(p.activityType)).map((p) => p.live);
  if (ranges.length > 0) {
    const sum = (pick: (l: LiveProgress) => number): number =>
      ranges.reduce((n, l) => n + pick(l), 0);
    // The rates of the ranges that have measured one; none when none has yet.
    const rated = ranges.filter((l) => l.bytesPerSecond !== undefined);
    Object.assign(merged, {
      entriesDone: merged.entriesDone + sum((l) => l.entriesDone),
      bytesDone: merged.bytesDone + sum((l) => l.bytesDone),
      partsDone: merged.partsDone + sum((l) => l.partsDone),
      currentPart: Math.max(merged.currentPart, ...ranges.map((l) => l.currentPart)),
      resumes: merged.resumes + sum((l) => l.resumes),
      bytesPerSecond: rated.length > 0 ? sum((l) => l.bytesPerSecond ?? 0) : undefined,
      updatedAt: ranges.reduce((at, l) => latest(at, l.at), merged.updatedAt),
    });
  }
  if (merged.bytesPerSecond === undefined) delete merged.bytesPerSecond;
  merged.entriesDone = Math.min(merged.entriesDone, merged.entriesTotal);
  merged.bytesDone = Math.min(merged.bytesDone, merged.bytesTotal);
  // Every source byte is read: what is left (the last parts, completing the upload) has no
  // source rate, and one decaying to 0 B/s would read as a stall.
  if (merged.bytesTotal > 0 && merged.bytesDone === merged.bytesTotal) delete merged.bytesPerSecond;
  return merged;
}

/** The `live` figures of heartbeat details, when they are well-formed. */
export function liveOf(details: unknown): LiveProgress | undefined {
  const live = (details as { live?: unknown } | null | undefined)?.live as
    Partial<LiveProgress> | undefined;
  if (live === null || typeof live !== 'object') return undefined;
  const counts = ['entriesDone', 'bytesDone', 'partsDone', 'currentPart', 'resumes'] as const;
  if (!counts.every((name) => Number.isSafeInteger(live[name]) && live[name]! >= 0))
    return undefined;
  if (
    live.bytesPerSecond !== undefined &&
    (typeof live.bytesPerSecond !== 'number' || !(live.bytesPerSecond >= 0))
  )
    return undefined;
  if (typeof live.at !== 'string' || Number.isNaN(Date.parse(live.at))) return undefined;
  return live as LiveProgress;
}

/**
 * Takes live figures for heartbeat details: the counts `read` returns, with the rate over the
 * recent window. Cheap (a few numbers), called at each heartbeat.
 */
export class LiveFigures {
  private readonly rate = new RateMeter();
  private readonly previous: LiveProgress | undefined;
  /** Whether the activity is reading source bytes: only then does it have a source rate. */
  private reading: 'not yet' | 'now' | 'done';

  /**
   * `previous`: the live figures the attempt before this one last heartbeated, if any.
   * `readsLater`: the activity does other work before it reads (startReading says when).
   */
  constructor(
    private readonly read: () => StreamProgress,
    options: { previous?: LiveProgress; readsLater?: boolean } = {},
  ) {
    this.previous = options.previous;
    this.reading = options.readsLater === true ? 'not yet' : 'now';
  }

  /** The activity starts reading source bytes: its rate is measured from here. */
  startReading(): void {
    if (this.reading === 'not yet') this.reading = 'now';
  }

  /**
   * Every source byte this activity reads has been read; what is left (its last parts) has no
   * source rate, and one decaying to 0 B/s would read as a stall: no rate from now on.
   */
  sourceRead(): void {
    this.reading = 'done';
  }

  take(now = Date.now()): LiveProgress {
    const figures = this.read();
    const at = new Date(now).toISOString();
    if (this.reading !== 'now') return { ...figures, at };
    const measured = this.rate.add(figures.bytesDone, now);
    const rate = this.rate.spanMs >= RATE_MEASURE_MS ? measured : this.previous?.bytesPerSecond;
    return { ...figures, ...(rate === undefined ? {} : { bytesPerSecond: Math.round(rate) }), at };
  }
}
