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
  /** Workflow time of the last update, ISO 8601. */
  updatedAt: string;
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
