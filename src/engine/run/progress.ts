import { currentAttempt } from './attempt';
import { type StreamProgress } from '../../shared/progress';

/**
 * How often the streaming activity signals its progress to the workflow. Every signal is a
 * history event and a workflow task (about five events with the task's own), and a stream
 * cannot continue-as-new: at 30 s, the activity's 24-hour limit means at most 2,880 signals,
 * some 14,400 events, well under Temporal's 51,200-event cap; every 10 s would take 43,200 and
 * leave no room for retries. Finer, per-part figures are in the heartbeat details, which add no
 * events.
 */
export const PROGRESS_INTERVAL_MS = 30_000;

/**
 * Sends StreamProgress to the activity's own workflow run: once at the start of an attempt (so
 * `resumes` shows at once), every interval while the figures change, and once at the end even
 * when they have not changed: the workflow stamps each signal's time, and completing the upload
 * behind a slow store takes seconds in which the figures stay the same but must not look old.
 * A signal that fails is logged and forgotten: progress must never fail the archive.
 */
export class ProgressReporter {
  private readonly ctx = currentAttempt();
  private timer: NodeJS.Timeout | undefined;
  private lastSent = '';
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly read: () => StreamProgress,
    private readonly intervalMs = PROGRESS_INTERVAL_MS,
  ) {}

  start(): void {
    void this.send();
    this.timer = setInterval(() => {
      // One signal at a time: a slow server skips a tick rather than piling them up.
      if (!this.inFlight) void this.send();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and sends the last figures (awaited, so they land before the result). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
    await this.send(true);
  }

  private send(always = false): Promise<void> {
    let progress: StreamProgress;
    try {
      progress = this.read();
    } catch (err) {
      this.ctx.warn('could not read stream progress', { error: String(err) });
      return Promise.resolve();
    }
    const text = JSON.stringify(progress);
    if (text === this.lastSent && !always) return Promise.resolve();
    const sending = (async () => {
      try {
        await this.ctx.signalProgress(progress);
        this.lastSent = text;
      } catch (err) {
        this.ctx.warn('could not signal stream progress to the workflow', {
          error: err instanceof Error ? err.message : String(err),
        });
      }
    })();
    const tracked: Promise<void> = sending.finally(() => {
      if (this.inFlight === tracked) this.inFlight = undefined;
    });
    this.inFlight = tracked;
    return tracked;
  }
}
