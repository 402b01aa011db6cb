/**
 * The frame every writer activity runs in (docs/design.md, "The three writers"): the source
 * and destination clients, failures no retry can fix named, the keep-alive heartbeat,
 * complete-or-recover on a retried attempt, and the retries it reports. The writers differ
 * only in what they run inside it: streaming (stream.ts), a parallel range or the end of a
 * parallel run (assemble.ts), server-side copy (copy.ts).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { withS3Clients } from '../../s3/client';
import type { ArchiveRequest } from '../../shared/request';
import { currentAttempt } from '../run/attempt';
import { entryFailure, withS3Failures } from '../run/failures';
import { KeepAlive } from '../run/keepAlive';
import { attemptRetries } from '../run/retries';
import { recoverCompleted, type RecordedArchive } from '../write/finalize';

/** What to do about a changed source, in the SourceChanged failure of the streaming writer. */
export const STREAMED_ADVICE =
  're-run the archive, or set onSourceChange to "skip" to leave such objects out';
/** The same for the writers whose layout is fixed in advance (parallel, copy). */
export const LAID_OUT_ADVICE =
  're-run the archive (an archive laid out in advance cannot skip changed objects)';

export interface WriterInput {
  request: ArchiveRequest;
  statePrefix: string;
  partSize: number;
}

/** One attempt of a writer activity: what runWriter gives the writer's own steps. */
export class WriterAttempt {
  readonly attempt = currentAttempt();
  private timer: KeepAlive | undefined;

  constructor(
    private readonly input: WriterInput,
    readonly src: S3Client,
    readonly dst: S3Client,
  ) {}

  /** The destination and the run's state prefix, as recording the archive needs them. */
  get location(): ArchiveRequest['destination'] & { statePrefix: string } {
    return { ...this.input.request.destination, statePrefix: this.input.statePrefix };
  }

  /**
   * Heartbeats `details` on the keep-alive timer from now on (the first call starts it; it
   * stops when the attempt ends).
   */
  keepAlive(details: () => unknown): KeepAlive {
    if (this.timer) this.timer.follow(details);
    else this.timer = new KeepAlive(details);
    return this.timer;
  }

  /**
   * Complete-or-recover (recoverCompleted), for a retried attempt: the archive an earlier one
   * completed and did not report, recorded; otherwise undefined and the writer goes on.
   */
  recoverCompleted(
    previous: { resentBytes: number; resumes: number },
    writer: Parameters<typeof recoverCompleted>[4],
  ): Promise<RecordedArchive | undefined> {
    return recoverCompleted(this.dst, this.location, this.input.partSize, previous, writer);
  }

  /**
   * ArchiveResult.retries: `earlier` (what earlier attempts or steps reported), what this
   * attempt's clients retried, and the attempts before this one.
   */
  retries(earlier = 0): number {
    return earlier + attemptRetries([this.src, this.dst]);
  }

  stop(): void {
    this.timer?.stop();
  }
}

/** Runs one attempt of a writer: `body` is the writer's own part. */
export function runWriter<T>(
  input: WriterInput,
  advice: string,
  body: (run: WriterAttempt) => Promise<T>,
): Promise<T> {
  return writerFailures(input.request, advice, async () => {
    const { source, destination } = input.request;
    return withS3Clients(
      [{ profile: source.profile }, { profile: destination.profile }],
      async ([src, dst]) => {
        const run = new WriterAttempt(input, src, dst);
        try {
          return await body(run);
        } finally {
          run.stop();
        }
      },
    );
  });
}

/**
 * Runs `body`, rethrowing what no retry can fix as a named failure: S3 and configuration
 * errors (s3Failure), entries the ZIP cannot carry and changed sources (entryFailure, with
 * `advice`).
 */
export function writerFailures<T>(
  request: ArchiveRequest,
  advice: string,
  body: () => Promise<T>,
): Promise<T> {
  return withS3Failures(request, async () => {
    try {
      return await body();
    } catch (err) {
      throw entryFailure(err, advice);
    }
  });
}
