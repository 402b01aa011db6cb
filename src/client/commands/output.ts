import { CommanderError, type Command } from 'commander';
import { WorkflowNotFoundError } from '@temporalio/common';
import { RequestError } from '../../shared/validate';
import { CodecConfigError } from '../../runtime/codec';
import { ConnectionConfigError } from '../../runtime/connection';
import { ArchiveNotFoundError } from '../../engine/verify';
import { ArchiveFailedError } from '../archives';
import { ScheduleNotFoundError } from '@temporalio/client';

/** Exit codes a shell user can rely on (also listed in the README). */
export const EXIT = {
  ok: 0,
  /** Anything unexpected: no connection to Temporal or S3, a bug. */
  error: 1,
  /** Wrong arguments, an invalid request or unusable settings: fix the command line or environment. */
  usage: 2,
  /** No such run, schedule or object (and `dev status`: no stack running). */
  notFound: 3,
  /** `verify` found the archive differs from what was recorded. */
  mismatch: 4,
  /** The archive run failed (DestinationExists, SourceChanged, …). */
  failed: 5,
  /** The archive run was cancelled or terminated. */
  cancelled: 6,
} as const;

/** A command line that cannot work as given (exit 2); the message says what to write instead. */
export class UsageError extends Error {}

/** Prints `value` as JSON with --json, else the human line. */
export function print(json: boolean | undefined, value: unknown, text: string): void {
  console.log(json ? JSON.stringify(value, null, 2) : text);
}

/** The exit code and message for an error that reached the top of a command. */
export function describeError(err: unknown): { code: number; message: string } {
  if (err instanceof CommanderError)
    return { code: err.exitCode === 0 ? EXIT.ok : EXIT.usage, message: '' };
  if (
    err instanceof RequestError ||
    err instanceof UsageError ||
    err instanceof CodecConfigError ||
    err instanceof ConnectionConfigError
  )
    return { code: EXIT.usage, message: err.message };
  if (err instanceof WorkflowNotFoundError) {
    return {
      code: EXIT.notFound,
      message: `no archive run "${err.workflowId}": check the id or the s3:// destination`,
    };
  }
  if (err instanceof ArchiveNotFoundError) {
    return {
      code: EXIT.notFound,
      message: `${err.message}: check the bucket and key (and --profile)`,
    };
  }
  if (err instanceof ScheduleNotFoundError) {
    return {
      code: EXIT.notFound,
      message: `schedule "${err.scheduleId}" does not exist: see "zipflow schedule list"`,
    };
  }
  if (err instanceof ArchiveFailedError) {
    // A request the workflow refused is a usage error too, e.g. a profile the worker lacks.
    if (err.type === 'InvalidRequest') return { code: EXIT.usage, message: err.message };
    const cancelled = err.type === 'Cancelled' || err.type === 'Terminated';
    return {
      code: cancelled ? EXIT.cancelled : EXIT.failed,
      message: cancelled ? err.message : `archive failed (${err.type}): ${err.message}`,
    };
  }
  return { code: EXIT.error, message: err instanceof Error ? err.message : String(err) };
}

/** The options of every command that starts a run (--task-queue, --wait, --json) and its exit codes. */
export function runOptions(command: Command, failed: string): Command {
  return command
    .option(
      '--task-queue <name>',
      'task queue of the workers (default $ZIPFLOW_TASK_QUEUE or zipflow)',
    )
    .option('--wait', 'wait for the result, showing progress on stderr')
    .option('--json', 'machine-readable output on stdout')
    .addHelpText(
      'after',
      `\nExit codes: 0 done (or started), 2 invalid arguments, 5 ${failed}, 6 it was cancelled, 1 other errors.`,
    );
}
