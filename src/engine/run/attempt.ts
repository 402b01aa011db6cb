import { AsyncLocalStorage } from 'node:async_hooks';
import type { StreamProgress } from '../../shared/progress';

/**
 * What the engine needs from whatever runs it: which attempt this is, the checkpoint the last
 * attempt reported, a way to report the next one, cancellation, and the run's progress channel.
 * Activities provide it from Temporal's activity Context (src/activities/attempt.ts); nothing in
 * the engine imports Temporal.
 *
 * It is ambient, like Temporal's own Context: the engine's long-lived objects (a writer, its
 * keep-alive timer, its progress reporter) reach it without every constructor passing it on.
 */
export interface Attempt {
  /** 1 for the first attempt; a later one continues from `checkpoint`. */
  readonly number: number;
  /** The details of the last heartbeat an earlier attempt sent, if any. */
  readonly checkpoint: unknown;
  /** Aborted when the run is cancelled or the attempt abandoned. */
  readonly signal: AbortSignal;
  /** Reports liveness and the checkpoint a later attempt would continue from. */
  heartbeat(details?: unknown): void;
  /** Sends progress figures to the run (best effort: resolves even when they are not sent). */
  signalProgress(progress: StreamProgress): Promise<void>;
  /** Throws if the run was asked to cancel, asking the server rather than waiting for a heartbeat. */
  throwIfCancelRequested(details: unknown): Promise<void>;
  warn(message: string, fields?: Record<string, unknown>): void;
}

const running = new AsyncLocalStorage<Attempt>();

/** The attempt the calling code runs in. */
export function currentAttempt(): Attempt {
  const attempt = running.getStore();
  if (!attempt) throw new Error('engine code called outside an attempt: wrap it in runAttempt()');
  return attempt;
}

/** Runs `body` (and everything it starts) as `attempt`. */
export function runAttempt<T>(attempt: Attempt, body: () => Promise<T>): Promise<T> {
  return running.run(attempt, body);
}
