import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  enableYoungCollections,
  noteBytesRead,
  YOUNG_COLLECTION_BYTES,
} from '../../src/runtime/youngCollections';
import { makeGarbage, youngBytes } from '../support/youngGeneration';

test('once enabled, bytes read collect the young generation every YOUNG_COLLECTION_BYTES, and not before', () => {
  makeGarbage();
  let before = youngBytes();
  noteBytesRead(2 * YOUNG_COLLECTION_BYTES);
  assert.ok(youngBytes() >= before, 'not enabled: nothing collected');

  enableYoungCollections();
  makeGarbage();
  before = youngBytes();
  assert.ok(before > 100_000, `garbage in the young generation (${before} bytes)`);
  noteBytesRead(YOUNG_COLLECTION_BYTES - 1);
  assert.ok(youngBytes() >= before, 'below YOUNG_COLLECTION_BYTES: nothing collected');
  noteBytesRead(1);
  assert.ok(youngBytes() < before / 4, `collected: ${youngBytes()} of ${before} bytes left`);
});
