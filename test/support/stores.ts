import type { StoreName } from '../../src/client/dev/stack';

/**
 * The files `npm test` runs once more against SeaweedFS, after the run against MinIO: the
 * integration tests that touch S3 behaviour (the store matrix).
 */
export const STORE_MATRIX = [
  'test/integration/archive.test.ts',
  'test/integration/badInput.test.ts',
  'test/integration/completion.test.ts',
  'test/integration/parallel.test.ts',
  'test/integration/resume.test.ts',
  'test/integration/serverSideCopy.test.ts',
  'test/integration/verify.test.ts',
];

/** The store this test process talks to (set by npm test for each pass of the matrix). */
export function currentStore(): StoreName {
  return process.env.ZIPFLOW_TEST_STORE === 'seaweedfs' ? 'seaweedfs' : 'minio';
}

/**
 * What each store of the matrix does, as measured against it (README, "Stores"): whether
 * ListParts reports each part's CRC-32 (without them zipflow cannot send the whole object's
 * CRC-32 for the store to validate, and records crc32ValidatedBy "PARTS").
 */
export const STORE_FEATURES: Record<StoreName, { listsPartChecksums: boolean }> = {
  minio: { listsPartChecksums: true },
  seaweedfs: { listsPartChecksums: false },
};

/** crc32ValidatedBy of a streamed archive on the current store. */
export function expectedCrc32Validation(): 'FULL_OBJECT' | 'PARTS' {
  return STORE_FEATURES[currentStore()].listsPartChecksums ? 'FULL_OBJECT' : 'PARTS';
}
