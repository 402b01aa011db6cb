import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createActivities } from '../../src/worker';
import { noteBytesRead, YOUNG_COLLECTION_BYTES } from '../../src/runtime/youngCollections';
import { makeGarbage, youngBytes } from '../support/youngGeneration';

// A file of its own: a process in which nothing has turned the collections on yet.
test("createActivities() turns on the read side's young collections, so a worker of one's own has them", () => {
  makeGarbage();
  let before = youngBytes();
  noteBytesRead(2 * YOUNG_COLLECTION_BYTES);
  assert.ok(youngBytes() >= before, 'before createActivities: nothing collected');

  const activities = createActivities();
  assert.equal(typeof activities.streamArchive, 'function');
  makeGarbage();
  before = youngBytes();
  assert.ok(before > 100_000, `garbage in the young generation (${before} bytes)`);
  noteBytesRead(YOUNG_COLLECTION_BYTES);
  assert.ok(youngBytes() < before / 4, `collected: ${youngBytes()} of ${before} bytes left`);
});
