import v8 from 'node:v8';
import vm from 'node:vm';
import { MiB } from '../shared/limits';

/**
 * Collections of the young generation paced by the bytes the read side takes from sockets, in
 * a worker that enables them (`zipflow worker`). Through Node's HTTP client every socket read,
 * and every chunk of a body (copied out of the socket's buffer), is an ArrayBuffer of its own,
 * dead once used: the SDK's answers, and GETs the direct path declines. V8 frees a dead young
 * ArrayBuffer only when it collects the young generation, which it starts when that fills with
 * JavaScript objects, not with the buffers' bytes; streaming makes few objects per byte, so tens
 * of MiB of dead buffers waited between collections. Direct GETs read into the read side's
 * blocks (socketGet.ts) and leave none, yet without these collections `mid` still peaked up to
 * 257 MiB. One minor collection per YOUNG_COLLECTION_BYTES read costs well under a millisecond,
 * as little in the young generation is still alive (docs/benchmarks.md, "Read blocks and young
 * collections", "GetObject read off the socket").
 */
export const YOUNG_COLLECTION_BYTES = 4 * MiB;

type Collect = (options: { type: 'minor' }) => void;

let collect: Collect | undefined;
let sinceLast = 0;

/**
 * From now on, noteBytesRead collects the young generation every YOUNG_COLLECTION_BYTES (once
 * is enough; createActivities calls it).
 */
export function enableYoungCollections(): void {
  if (collect !== undefined) return;
  // A context made after the flag has V8's gc(); the main context keeps none.
  v8.setFlagsFromString('--expose-gc');
  collect = vm.runInNewContext('gc') as Collect;
}

/** `bytes` more were read from a socket (a no-op unless enableYoungCollections ran). */
export function noteBytesRead(bytes: number): void {
  if (collect === undefined) return;
  sinceLast += bytes;
  if (sinceLast < YOUNG_COLLECTION_BYTES) return;
  sinceLast = 0;
  collect({ type: 'minor' });
}
