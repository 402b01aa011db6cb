/**
 * How a worker process is started for small, steady memory (the Dockerfile sets the same, and
 * the benchmark runs its worker so; test/unit/compose.test.ts keeps them in step):
 * - a 128 MiB V8 old space: the worker's heap holds no archive data (parts and read-ahead are
 *   Buffers outside it), and a cap makes the collector run before the heap sprawls;
 * - 2 MiB semi-spaces: V8 otherwise grows its young generation to 3 × 16 MiB under the
 *   allocation rate of streaming (`mid`: 4 MiB peaked at 240–260 MiB, 2 MiB at 224–233, at
 *   the same speed);
 * - two glibc malloc arenas instead of 8 per core: the native core's and libuv's threads would
 *   otherwise each keep freed memory in an arena of their own;
 * - a fixed malloc mmap threshold of 128 KiB: glibc otherwise raises it each time a large
 *   buffer is freed, and then keeps part-sized buffers in arenas it does not give back
 *   (`mid`: 258 → 244 MiB peak).
 * Figures in docs/benchmarks.md.
 */
export const WORKER_NODE_OPTIONS = ['--max-old-space-size=128', '--max-semi-space-size=2'];
export const WORKER_ENV: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
};

/**
 * Set by `zipflow worker` itself, as Node refuses them in NODE_OPTIONS: the old generation may
 * grow by half between full collections. Under a heap cap V8 lets it grow about 1.3× only;
 * while socket buffers held by the read side counted towards that limit, streaming set off a
 * full mark-compact every ~13 MB read (75 in a 1 GB `mid` run, a fifth of the worker's CPU), and
 * 100% was needed. Now that the read side copies them into its blocks and they die young
 * (youngCollections.ts), 50% keeps the heap ~10 MiB smaller at the same CPU (docs/benchmarks.md).
 */
export const WORKER_V8_FLAGS = ['--heap-growing-percent=50'];
