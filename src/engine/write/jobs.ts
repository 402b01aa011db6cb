// Bounded concurrency for activities that start many S3 requests.

/** At most `limit` tasks at once; run() waits for a free slot, so callers feel backpressure. */
export class Jobs {
  private readonly running = new Set<Promise<void>>();
  failed: unknown = undefined;
  private stopped = false;

  constructor(private readonly limit: number) {}

  async run(task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.limit) await Promise.race(this.running);
    this.throwIfFailed();
    if (this.stopped) return;
    const job: Promise<void> = task()
      .catch((err: unknown) => {
        this.failed ??= err;
      })
      .finally(() => this.running.delete(job));
    this.running.add(job);
  }

  throwIfFailed(): void {
    if (this.failed !== undefined) throw this.failed;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Waits for every task started; throws the first failure. */
  async settle(): Promise<void> {
    await Promise.all(this.running);
    this.throwIfFailed();
  }
}

/** fn over items, at most `limit` at once; results in the items' order. */
export async function mapLimited<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
