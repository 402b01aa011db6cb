import type { StoreName } from '../../src/client/dev/stack';

/**
 * The files `npm test` runs once more against SeaweedFS, after the run against MinIO: the
 * integration tests that touch S3 behaviour (the store matrix).
 */
export const STORE_MATRIX = [
  'test/integration/archive.test.ts',
  'test/integration/badInput.test.ts',
  'test/integration/checksums.test.ts',
  'test/integration/completion.test.ts',
  'test/integration/failures.test.ts',
  'test/integration/leftovers.test.ts',
  'test/integration/parallel.test.ts',
  'test/integration/resume.test.ts',
  'test/integration/serverSideCopy.test.ts',
  'test/integration/verify.test.ts',
  'test/integration/moveConditions.test.ts',
  'test/integration/directRequests.test.ts',
];

/** The store this test process talks to (set by npm test for each pass of the matrix). */
export function currentStore(): StoreName {
  return process.env.ZIPFLOW_TEST_STORE === 'seaweedfs' ? 'seaweedfs' : 'minio';
}
