/**
 * What verifying an archive found. Plain JSON, free of Node APIs: the workflow result
 * carries it, and the CLI prints it.
 */
export interface VerificationReport {
  bucket: string;
  key: string;
  /** True when no problem was found. */
  ok: boolean;
  /** Entries in the central directory whose data was read and checked. */
  entries: number;
  /** The archive's size in bytes. */
  bytes: number;
  sha256: {
    /** The zipflow-sha256 tag (or the value the caller expected); absent when neither is known. */
    expected?: string;
    /** SHA-256 of the archive's bytes as read back. */
    actual: string;
  };
  /** The first problems, each naming what disagrees with what (at most `maxProblems`). */
  problems: string[];
  /** All problems found; more than problems.length when the list was cut. */
  problemCount: number;
}

/** Problems a report lists by default; more are counted, not listed. */
export const DEFAULT_MAX_PROBLEMS = 100;
