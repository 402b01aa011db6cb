import type { WireBytes } from './procStatus';

/** What the harness tells a baseline process to do (passed as JSON in argv[2]). */
export interface BaselineConfig {
  kind: 'raw' | 'direct' | 'archiver' | 'yazl' | 'zipstream' | 'seed' | 'gets' | 'copies';
  sourceBucket: string;
  prefix: string;
  destinationBucket: string;
  destinationKey: string;
  compression: 'store' | 'deflate';
  level: number;
  partSize: number;
  concurrency: number;
  /** raw: objects whose GETs are sent ahead. */
  readAhead: number;
}

/** What a baseline process prints as its last stdout line. */
export interface BaselineReport {
  entries: number;
  inputBytes: number;
  /** From the first ListObjectsV2 to the completed upload. */
  seconds: number;
  /** CPU seconds of the process (user + system, every thread) over the same span, /proc. */
  cpuSeconds: number;
  /** The process's own VmHWM (/proc/self/status) when it finished, MiB. */
  vmHwmMiB: number;
  /** Its S3 bytes over the same span as `seconds` (Node: /proc/self/io; Python: its sockets). */
  wire: WireBytes;
  /** gets: each object's size and CRC-32 as read, in listing order (nothing is written). */
  read?: Array<{ key: string; size: number; crc32: number }>;
}
