import { currentAttempt } from './attempt';

/**
 * How often a healthy attempt heartbeats between its own checkpoints. The details carry the
 * live progress figures too, which clients read from the server: a few seconds at most, so
 * they move while parts are slow. The worker sends at most one heartbeat per throttle interval
 * (2 s, src/worker.ts), the latest details given; at half that interval, those it sends were
 * taken at most 1 s before (at 2 s, up to 2 s: figures reached clients up to 6 s old). One
 * encoding a second costs nothing measurable, and the server sees no more heartbeats.
 */
export const KEEP_ALIVE_MS = 1_000;

/**
 * Longer than the slowest S3 call that still ends: 8 attempts of at most 5 s to connect and
 * 8 s without a byte, with up to 20 s back-off between them (src/s3/client.ts), is about 4 min.
 */
export const STALLED_AFTER_MS = 5 * 60_000;

/**
 * Heartbeats on a timer while the attempt is making progress. Heartbeats only at entry and
 * part boundaries would leave the heartbeat timeout to cover the slowest S3 call with all its
 * retries: two stalled requests in a row (8 s each before the SDK retries) already exceed
 * 20 s, and a healthy attempt would be abandoned and started over. With the timer the timeout
 * detects what it is for — a worker that died — while an attempt with no progress for
 * STALLED_AFTER_MS stops heartbeating, so a hung one still times out.
 *
 * Every heartbeat replaces the details on the server, so each carries the latest checkpoint.
 */
export class KeepAlive {
  private readonly ctx = currentAttempt();
  private lastProgress = Date.now();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private details: () => unknown,
    intervalMs = KEEP_ALIVE_MS,
  ) {
    this.timer = setInterval(() => {
      if (Date.now() - this.lastProgress < STALLED_AFTER_MS) this.ctx.heartbeat(this.details());
    }, intervalMs);
    this.timer.unref();
  }

  /** From now on, heartbeats carry what this returns. */
  follow(details: () => unknown): void {
    this.details = details;
  }

  /** Bytes moved or a step finished. */
  progressed(): void {
    this.lastProgress = Date.now();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
