import v8 from 'node:v8';

/** Bytes of objects in the young generation now. */
export function youngBytes(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;
}

/** Young garbage: short-lived objects, as the read side makes per chunk. */
export function makeGarbage(): void {
  let last: unknown;
  for (let i = 0; i < 5000; i++) last = { i, name: `chunk ${i}` };
  void last;
}
