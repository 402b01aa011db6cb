/**
 * How a worker process is started for small, steady memory (the Dockerfile sets the same, and
 * the benchmark runs its worker so; test/unit/compose.test.ts keeps them in step):
 * - a 128 MiB V8 old space: the worker's heap holds no archive data (parts and read-ahead are
 *   Buffers outside it), and a cap makes the collector run before the heap sprawls;
 * - 4 MiB semi-spaces: V8 otherwise grows its young generation to 3 × 16 MiB under the
 *   allocation rate of streaming;
 * - two glibc malloc arenas instead of 8 per core: the native core's and libuv's threads would
 *   otherwise each keep freed memory in an arena of their own.
 * Figures in docs/benchmarks.md.
 */
export const WORKER_NODE_OPTIONS = ['--max-old-space-size=128', '--max-semi-space-size=4'];
export const WORKER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
