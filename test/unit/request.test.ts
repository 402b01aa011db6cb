import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import { archiveSizeBound, partSizeFor, type PlannedArchive } from '../../src/shared/archiveSize';
import { DEFAULT_PART_SIZE, MAX_OBJECT_SIZE, MiB, TiB } from '../../src/shared/limits';
import { DEFAULT_SETTLE_SECONDS, settleSecondsOf, STORAGE_CLASSES } from '../../src/shared/request';
import { RequestError, validateRequest } from '../../src/shared/validate';
import { encodeZipflow, type TestEntry } from '../readers/support';

type Json = Record<string, unknown>;

const base = (): Json => ({
  source: { bucket: 'src-bucket', prefix: 'data/' },
  destination: { bucket: 'dst-bucket', key: 'out/a.zip' },
});

/** A copy of the base request with `path` ("source.keys") set to `value`. */
function withField(path: string, value: unknown, from: Json = base()): Json {
  const request = structuredClone(from);
  const names = path.split('.');
  let at: Json = request;
  for (const name of names.slice(0, -1)) {
    if (typeof at[name] !== 'object' || at[name] === null) at[name] = {};
    at = at[name] as Json;
  }
  at[names[names.length - 1]] = value;
  return request;
}

function assertRejected(request: unknown, field: string, fix: RegExp): void {
  assert.throws(
    () => validateRequest(request),
    (err: unknown) => {
      assert.ok(err instanceof RequestError, `expected RequestError, got ${String(err)}`);
      assert.equal(err.field, field);
      assert.ok(err.message.startsWith(`${field}: `), err.message);
      assert.match(err.message, fix);
      return true;
    },
  );
}

const keys = (n: number, length = 8): string[] =>
  Array.from({ length: n }, (_, i) => `k${String(i).padStart(length - 1, '0')}`);

describe('validateRequest accepts valid requests and returns them unchanged', () => {
  const valid: [string, Json][] = [
    ['a bucket and destination only', base()],
    [
      'every field set',
      {
        source: {
          bucket: 'src-bucket',
          prefix: 'data/',
          profile: 'src',
          include: ['**/*.jpg', '*.txt'],
          exclude: ['tmp/**'],
        },
        destination: {
          bucket: 'dst-bucket',
          key: 'a.zip',
          profile: 'dst',
          overwrite: true,
          contentType: 'application/zip',
          storageClass: 'STANDARD_IA',
          serverSideEncryption: { type: 'aws:kms', kmsKeyId: 'alias/archives' },
        },
        compression: { method: 'deflate', level: 9 },
        naming: { mode: 'flatten', prefix: 'backup-2026/' },
        partSize: 64 * MiB,
        uploadConcurrency: 8,
        allowEmpty: true,
        onSourceChange: 'skip',
        verify: true,
      },
    ],
    ['inline keys with a prefix for naming', withField('source.keys', ['data/a.txt', 'b.txt'])],
    ['exactly 1,000 inline keys', withField('source.keys', keys(1000))],
    [
      'no inline keys when allowEmpty is true',
      withField('allowEmpty', true, withField('source.keys', [])),
    ],
    ['a key list in the source bucket', withField('source.keyList', { key: 'lists/keys.txt' })],
    [
      'a key list in another bucket',
      withField('source.keyList', { bucket: 'list-bucket', key: 'k.txt' }),
    ],
    ['no exclude patterns', withField('source.exclude', [])],
    ['a pattern with an escaped "!"', withField('source.include', ['\\!important/**'])],
    ['SSE-S3', withField('destination.serverSideEncryption', { type: 'AES256' })],
    [
      'SSE-KMS with the default key',
      withField('destination.serverSideEncryption', { type: 'aws:kms' }),
    ],
    ...STORAGE_CLASSES.map((c): [string, Json] => [
      `storage class ${c}`,
      withField('destination.storageClass', c),
    ]),
    ['relative naming', withField('naming', { mode: 'relative' })],
    ['an archive folder without a trailing slash', withField('naming.prefix', 'backup-2026')],
    ['a nested archive folder', withField('naming.prefix', 'backup/2026/')],
    ['upload concurrency 1', withField('uploadConcurrency', 1)],
    ['upload concurrency 32', withField('uploadConcurrency', 32)],
    ['read concurrency 1', withField('readConcurrency', 1)],
    ['read concurrency 64', withField('readConcurrency', 64)],
    ['read ranges of 1 MiB', withField('readRangeSize', 1024 * 1024)],
    ['read ranges of 64 MiB', withField('readRangeSize', 64 * 1024 * 1024)],
    [
      'parallel 32 with STORE',
      withField('parallel', 32, withField('compression', { method: 'store' })),
    ],
    [
      'serverSideCopy with STORE',
      withField('serverSideCopy', true, withField('compression', { method: 'store' })),
    ],
    [
      'serverSideCopy with STORE and one profile on both sides',
      withField(
        'serverSideCopy',
        true,
        withField(
          'compression',
          { method: 'store' },
          withField('source.profile', 'store', withField('destination.profile', 'store')),
        ),
      ),
    ],
    ['serverSideCopy off', withField('serverSideCopy', false)],
    ['entry order listing', withField('entryOrder', 'listing')],
    ['local headers auto', withField('localHeaders', 'auto')],
    ['local headers descriptor', withField('localHeaders', 'descriptor')],
    ['local headers known', withField('localHeaders', 'known')],
    [
      'local headers descriptor with parallel',
      withField(
        'localHeaders',
        'descriptor',
        withField('parallel', 2, withField('compression', { method: 'store' })),
      ),
    ],
    ['entry order packed, also without serverSideCopy', withField('entryOrder', 'packed')],
    ['planning knobs', withField('planning', { pageSize: 2, pagesPerRun: 3 })],
    ['verify on', withField('verify', true)],
    ['verify off', withField('verify', false)],
    [
      'optional fields present but undefined (as TypeScript callers build them)',
      withField(
        'compression',
        { method: 'auto', level: undefined },
        withField('naming', undefined),
      ),
    ],
  ];
  for (const [name, request] of valid) {
    test(name, () => assert.equal(validateRequest(request), request));
  }
});

describe('validateRequest names the bad field and the fix', () => {
  const cases: [string, Json | null, string, RegExp][] = [
    ['request not an object', null, 'request', /must be an object/],
    [
      'a misspelt top-level field',
      withField('partsize', 5 * MiB),
      'partsize',
      /did you mean "partSize"/,
    ],
    ['an unknown top-level field', withField('colour', 'red'), 'colour', /remove it/],
    [
      'a misspelt source field',
      withField('source.includes', ['*']),
      'source.includes',
      /did you mean "include"/,
    ],
    [
      'an unknown destination field',
      withField('destination.acl', 'private'),
      'destination.acl',
      /remove it/,
    ],
    ['source missing', withField('source', undefined), 'source', /is required/],
    [
      'a bad source bucket',
      withField('source.bucket', 'Bad_Bucket'),
      'source.bucket',
      /3-63 lowercase/,
    ],
    ['a non-string prefix', withField('source.prefix', 5), 'source.prefix', /must be a string/],
    ['keys not an array', withField('source.keys', 'a.txt'), 'source.keys', /array of object keys/],
    ['no inline keys', withField('source.keys', []), 'source.keys', /allowEmpty/],
    [
      '1,001 inline keys',
      withField('source.keys', keys(1001)),
      'source.keys',
      /1000 a request carries.*source\.keyList/,
    ],
    [
      'inline keys over 128 KiB',
      withField('source.keys', keys(200, 1000)),
      'source.keys',
      /bytes of keys.*source\.keyList/,
    ],
    ['an empty key', withField('source.keys', ['a', '']), 'source.keys[1]', /non-empty string/],
    ['a non-string key', withField('source.keys', ['a', 7]), 'source.keys[1]', /non-empty string/],
    [
      'a key over 1,024 bytes',
      withField('source.keys', ['é'.repeat(513)]),
      'source.keys[0]',
      /1,024 bytes/,
    ],
    [
      'a key listed twice',
      withField('source.keys', ['a', 'b', 'a']),
      'source.keys[2]',
      /also source\.keys\[0\]: list each key once/,
    ],
    [
      'keys and keyList together',
      withField('source.keyList', { key: 'k.txt' }, withField('source.keys', ['a'])),
      'source.keyList',
      /not both/,
    ],
    [
      'keyList not an object',
      withField('source.keyList', 'k.txt'),
      'source.keyList',
      /must be an object/,
    ],
    [
      'keyList without key',
      withField('source.keyList', {}),
      'source.keyList.key',
      /non-empty string/,
    ],
    [
      'keyList with an empty key',
      withField('source.keyList', { key: '' }),
      'source.keyList.key',
      /non-empty string/,
    ],
    [
      'keyList with a bad bucket',
      withField('source.keyList', { key: 'k', bucket: 'B' }),
      'source.keyList.bucket',
      /valid S3 bucket name/,
    ],
    [
      'keyList with an unknown field',
      withField('source.keyList', { key: 'k', bukcet: 'b' }),
      'source.keyList.bukcet',
      /remove it/,
    ],
    [
      'include not an array',
      withField('source.include', '*.txt'),
      'source.include',
      /array of glob patterns/,
    ],
    [
      'an empty include list',
      withField('source.include', []),
      'source.include',
      /leave it out to take every object/,
    ],
    [
      'an empty pattern',
      withField('source.include', ['*.txt', '']),
      'source.include[1]',
      /non-empty string/,
    ],
    [
      'a non-string exclude pattern',
      withField('source.exclude', [3]),
      'source.exclude[0]',
      /non-empty string/,
    ],
    [
      'a pattern with a leading slash',
      withField('source.include', ['/logs/**']),
      'source.include[0]',
      /remove the leading "\/"/,
    ],
    [
      'a negated include',
      withField('source.include', ['!*.tmp']),
      'source.include[0]',
      /put "\*\.tmp" in source\.exclude/,
    ],
    [
      'a negated exclude',
      withField('source.exclude', ['!*.jpg']),
      'source.exclude[0]',
      /put "\*\.jpg" in source\.include/,
    ],
    ['101 patterns', withField('source.exclude', keys(101)), 'source.exclude', /at most 100/],
    ['destination missing', withField('destination', undefined), 'destination', /is required/],
    [
      'an empty destination key',
      withField('destination.key', ''),
      'destination.key',
      /archives\/2026\.zip/,
    ],
    [
      'overwrite not boolean',
      withField('destination.overwrite', 'yes'),
      'destination.overwrite',
      /true or false/,
    ],
    [
      'a storage class in lower case',
      withField('destination.storageClass', 'standard_ia'),
      'destination.storageClass',
      /"STANDARD_IA"/,
    ],
    [
      'an unknown storage class',
      withField('destination.storageClass', 'COLD'),
      'destination.storageClass',
      /one of S3's storage classes \(STANDARD,/,
    ],
    [
      'SSE as a string',
      withField('destination.serverSideEncryption', 'AES256'),
      'destination.serverSideEncryption',
      /must be an object/,
    ],
    [
      'an unknown SSE type',
      withField('destination.serverSideEncryption', { type: 'aes' }),
      'destination.serverSideEncryption.type',
      /"AES256".*"aws:kms"/,
    ],
    [
      'a KMS key with AES256',
      withField('destination.serverSideEncryption', { type: 'AES256', kmsKeyId: 'k' }),
      'destination.serverSideEncryption.kmsKeyId',
      /set type to "aws:kms"/,
    ],
    [
      'an empty KMS key id',
      withField('destination.serverSideEncryption', { type: 'aws:kms', kmsKeyId: '' }),
      'destination.serverSideEncryption.kmsKeyId',
      /leave it out/,
    ],
    [
      'an unknown SSE field',
      withField('destination.serverSideEncryption', { type: 'aws:kms', keyId: 'k' }),
      'destination.serverSideEncryption.keyId',
      /remove it/,
    ],
    [
      'an unknown compression',
      withField('compression', { method: 'zstd' }),
      'compression.method',
      /"auto", "store" or "deflate"/,
    ],
    [
      'compression level 10',
      withField('compression', { method: 'deflate', level: 10 }),
      'compression.level',
      /1 \(fastest\) to 9/,
    ],
    [
      'an unknown compression field',
      withField('compression', { method: 'store', lvl: 1 }),
      'compression.lvl',
      /remove it/,
    ],
    ['naming as a string', withField('naming', 'flatten'), 'naming', /must be an object/],
    [
      'an unknown naming mode',
      withField('naming.mode', 'flat'),
      'naming.mode',
      /"relative".*"flatten"/,
    ],
    ['an empty archive folder', withField('naming.prefix', ''), 'naming.prefix', /leave it out/],
    [
      'a non-string archive folder',
      withField('naming.prefix', 5),
      'naming.prefix',
      /non-empty string/,
    ],
    [
      'an absolute archive folder',
      withField('naming.prefix', '/backup/'),
      'naming.prefix',
      /relative folder/,
    ],
    [
      'an archive folder with ".."',
      withField('naming.prefix', 'a/../b/'),
      'naming.prefix',
      /outside the target/,
    ],
    [
      'an archive folder with a backslash',
      withField('naming.prefix', 'a\\b/'),
      'naming.prefix',
      /separate folders with "\/"/,
    ],
    [
      'an archive folder with an empty segment',
      withField('naming.prefix', 'a//b/'),
      'naming.prefix',
      /write the folder plainly/,
    ],
    [
      'an archive folder with a "." segment',
      withField('naming.prefix', './a/'),
      'naming.prefix',
      /write the folder plainly/,
    ],
    ['a part size under 5 MiB', withField('partSize', 1024), 'partSize', /5 MiB\) to .* \(5 GiB\)/],
    [
      'a part size over 5 GiB',
      withField('partSize', 5 * 1024 * MiB + 1),
      'partSize',
      /5 MiB\) to .* \(5 GiB\)/,
    ],
    ['a fractional part size', withField('partSize', 6 * MiB + 0.5), 'partSize', /whole number/],
    ['a part size as a string', withField('partSize', '16MiB'), 'partSize', /whole number/],
    [
      'a bucket name with upper case and underscore (S3 rejects it)',
      withField('destination.bucket', 'My_Bucket'),
      'destination.bucket',
      /not a valid S3 bucket name/,
    ],
    [
      'a two-letter bucket name',
      withField('source.bucket', 'ab'),
      'source.bucket',
      /3-63 lowercase/,
    ],
    [
      'a 64-letter bucket name',
      withField('source.bucket', 'a'.repeat(64)),
      'source.bucket',
      /3-63 lowercase/,
    ],
    [
      'a bucket name with ".."',
      withField('destination.bucket', 'my..bucket'),
      'destination.bucket',
      /not a valid S3 bucket name/,
    ],
    [
      'a bucket name like an IP address',
      withField('source.bucket', '192.168.1.1'),
      'source.bucket',
      /not a valid S3 bucket name/,
    ],
    [
      'a bucket name that is a number',
      withField('source.bucket', 42),
      'source.bucket',
      /is required/,
    ],
    [
      'a destination key over 1,024 bytes',
      withField('destination.key', 'k'.repeat(1025)),
      'destination.key',
      /1,024 bytes/,
    ],
    [
      // With keys at most 1,024 bytes, this bound keeps every entry name (folder + key) far
      // under ZIP's 65,535-byte name limit: no request can make a longer name.
      'an archive folder over 1,024 bytes',
      withField('naming.prefix', `${'d'.repeat(1025)}/`),
      'naming.prefix',
      /at most 1024 bytes/,
    ],
    [
      'secretAccessKey in source',
      withField('source.secretAccessKey', 'x'),
      'source.secretAccessKey',
      /credentials never go in a request.*source\.profile/,
    ],
    [
      'accessKeyId in destination',
      withField('destination.accessKeyId', 'AKIA'),
      'destination.accessKeyId',
      /credentials never go in a request.*destination\.profile/,
    ],
    [
      'a credentials object at the top',
      withField('credentials', { accessKeyId: 'a', secretAccessKey: 'b' }),
      'credentials',
      /credentials never go in a request.*profile/,
    ],
    [
      'aws_session_token in source',
      withField('source.aws_session_token', 't'),
      'source.aws_session_token',
      /credentials never go in a request/,
    ],
    ['upload concurrency 0', withField('uploadConcurrency', 0), 'uploadConcurrency', /1 to 32/],
    ['upload concurrency 33', withField('uploadConcurrency', 33), 'uploadConcurrency', /1 to 32/],
    ['read concurrency 0', withField('readConcurrency', 0), 'readConcurrency', /1 to 64/],
    ['read concurrency 65', withField('readConcurrency', 65), 'readConcurrency', /4 MiB more/],
    ['read concurrency 2.5', withField('readConcurrency', 2.5), 'readConcurrency', /whole number/],
    [
      'read ranges under 1 MiB',
      withField('readRangeSize', 1024 * 1024 - 1),
      'readRangeSize',
      /from 1048576 \(1 MiB\) to 67108864 \(64 MiB\).*leave it out for the default/,
    ],
    [
      'read ranges over 64 MiB',
      withField('readRangeSize', 64 * 1024 * 1024 + 1),
      'readRangeSize',
      /to 67108864 \(64 MiB\)/,
    ],
    [
      'read ranges as text',
      withField('readRangeSize', '16MiB'),
      'readRangeSize',
      /whole number of bytes/,
    ],
    [
      'parallel 0',
      withField('parallel', 0, withField('compression', { method: 'store' })),
      'parallel',
      /1 to 32/,
    ],
    [
      'parallel with compression auto (the default)',
      withField('parallel', 2),
      'parallel',
      /set compression.method to "store" \(it is "auto"/,
    ],
    [
      'parallel with DEFLATE',
      withField('parallel', 2, withField('compression', { method: 'deflate' })),
      'parallel',
      /set compression.method to "store"/,
    ],
    [
      'parallel with onSourceChange skip',
      withField(
        'parallel',
        2,
        withField('onSourceChange', 'skip', withField('compression', { method: 'store' })),
      ),
      'parallel',
      /use "fail"/,
    ],
    [
      'serverSideCopy with compression auto (the default)',
      withField('serverSideCopy', true),
      'serverSideCopy',
      /set compression.method to "store" \(it is "auto"/,
    ],
    [
      'serverSideCopy with DEFLATE',
      withField('serverSideCopy', true, withField('compression', { method: 'deflate' })),
      'serverSideCopy',
      /set compression.method to "store" \(it is "deflate"/,
    ],
    [
      'serverSideCopy with onSourceChange skip',
      withField(
        'serverSideCopy',
        true,
        withField('onSourceChange', 'skip', withField('compression', { method: 'store' })),
      ),
      'serverSideCopy',
      /onSourceChange "skip".*use "fail"/,
    ],
    [
      'serverSideCopy with parallel',
      withField(
        'serverSideCopy',
        true,
        withField('parallel', 4, withField('compression', { method: 'store' })),
      ),
      'serverSideCopy',
      /cannot be combined with parallel/,
    ],
    [
      'serverSideCopy with different source and destination profiles',
      withField(
        'serverSideCopy',
        true,
        withField(
          'compression',
          { method: 'store' },
          withField('source.profile', 'src', withField('destination.profile', 'dst')),
        ),
      ),
      'serverSideCopy',
      /give source.profile and destination.profile the same value/,
    ],
    [
      'serverSideCopy with a source profile only',
      withField(
        'serverSideCopy',
        true,
        withField('compression', { method: 'store' }, withField('source.profile', 'src')),
      ),
      'serverSideCopy',
      /one store, reached with one profile/,
    ],
    [
      'an unknown local header layout',
      withField('localHeaders', 'streaming'),
      'localHeaders',
      /must be "auto" .* "descriptor" .* or "known" .*not "streaming"/,
    ],
    [
      'local headers known with parallel',
      withField(
        'localHeaders',
        'known',
        withField('parallel', 2, withField('compression', { method: 'store' })),
      ),
      'localHeaders',
      /cannot be "known" with parallel or serverSideCopy/,
    ],
    [
      'an unknown entry order',
      withField('entryOrder', 'size'),
      'entryOrder',
      /must be "listing" \(the source's order\) or "packed".*not "size"/,
    ],
    [
      'serverSideCopy as a string',
      withField('serverSideCopy', 'true', withField('compression', { method: 'store' })),
      'serverSideCopy',
      /must be true or false/,
    ],
    [
      'serverSideCopy as a number',
      withField('serverSideCopy', 1, withField('compression', { method: 'store' })),
      'serverSideCopy',
      /must be true or false/,
    ],
    [
      'serverSideCopy null',
      withField('serverSideCopy', null, withField('compression', { method: 'store' })),
      'serverSideCopy',
      /must be true or false/,
    ],
    [
      'planning page size 0',
      withField('planning', { pageSize: 0 }),
      'planning.pageSize',
      /1 to 1000/,
    ],
    [
      'planning page size 1001',
      withField('planning', { pageSize: 1001 }),
      'planning.pageSize',
      /1 to 1000/,
    ],
    [
      'planning pages per run 0',
      withField('planning', { pagesPerRun: 0 }),
      'planning.pagesPerRun',
      /1 to 10000/,
    ],
    ['planning unknown field', withField('planning', { pages: 1 }), 'planning.pages', /./],
    [
      'fractional upload concurrency',
      withField('uploadConcurrency', 2.5),
      'uploadConcurrency',
      /whole number/,
    ],
    [
      'upload concurrency as a string',
      withField('uploadConcurrency', '4'),
      'uploadConcurrency',
      /whole number/,
    ],
    ['allowEmpty not boolean', withField('allowEmpty', 'yes'), 'allowEmpty', /true or false/],
    ['verify as a string', withField('verify', 'true'), 'verify', /true or false/],
    ['verify as a number', withField('verify', 1), 'verify', /true or false/],
    ['verify null', withField('verify', null), 'verify', /true or false/],
    ['verify misspelt', withField('verfy', true), 'verfy', /fields here: .*verify/],
    [
      'an unknown onSourceChange',
      withField('onSourceChange', 'ignore'),
      'onSourceChange',
      /"fail" or "skip"/,
    ],
  ];
  for (const [name, request, field, fix] of cases) {
    test(`${name} → ${field}`, () => assertRejected(request, field, fix));
  }
});

describe('partSizeFor', () => {
  // One entry with a 5-byte name: 137 bytes of records + 2 × 5 name bytes + 98 end bytes.
  const OVERHEAD = 245;
  const stored = (total: number): PlannedArchive => ({
    bytes: total - OVERHEAD,
    entries: 1,
    nameBytes: 5,
    compression: 'store',
  });

  test('a small archive gets the default 8 MiB', () => {
    assert.equal(partSizeFor({ bytes: 1000, entries: 3, nameBytes: 30 }), DEFAULT_PART_SIZE);
  });

  test('the size bound counts every entry record and both copies of the name', () => {
    assert.equal(archiveSizeBound(stored(OVERHEAD)), OVERHEAD);
  });

  test('exactly 10,000 parts of 8 MiB keeps the default', () => {
    assert.equal(partSizeFor(stored(10_000 * DEFAULT_PART_SIZE)), DEFAULT_PART_SIZE);
    assert.equal(
      partSizeFor(stored(10_000 * DEFAULT_PART_SIZE), DEFAULT_PART_SIZE),
      DEFAULT_PART_SIZE,
    );
  });

  test('one byte more grows the default to the next whole MiB', () => {
    assert.equal(partSizeFor(stored(10_000 * DEFAULT_PART_SIZE + 1)), 9 * MiB);
  });

  test('a requested part size that needs 10,001 parts is refused, naming the smallest that works', () => {
    assert.throws(
      () => partSizeFor(stored(10_000 * DEFAULT_PART_SIZE + 1), DEFAULT_PART_SIZE),
      (err: unknown) => {
        assert.ok(err instanceof RequestError);
        assert.equal(err.field, 'partSize');
        assert.match(err.message, /10001 parts/);
        assert.match(err.message, new RegExp(`at least ${9 * MiB} \\(9 MiB\\)`));
        return true;
      },
    );
  });

  test('a requested part size that fits is kept, even below the default', () => {
    assert.equal(partSizeFor({ bytes: 10 * MiB, entries: 1, nameBytes: 1 }, 5 * MiB), 5 * MiB);
  });

  test('an archive of exactly 5 TiB is allowed; 5 TiB + 1 byte is refused on source', () => {
    assert.equal(partSizeFor(stored(MAX_OBJECT_SIZE)), 525 * MiB);
    assert.throws(
      () => partSizeFor(stored(5 * TiB + 1)),
      (err: unknown) => {
        assert.ok(err instanceof RequestError);
        assert.equal(err.field, 'source');
        assert.match(err.message, /5 TiB.*split them over several archives/);
        return true;
      },
    );
  });

  test('DEFLATE growth is counted unless compression is "store"', () => {
    const plan = { bytes: 100 * MiB, entries: 10, nameBytes: 100 };
    assert.ok(archiveSizeBound(plan) > archiveSizeBound({ ...plan, compression: 'store' }));
    assert.equal(archiveSizeBound(plan), archiveSizeBound({ ...plan, compression: 'deflate' }));
  });

  test('the bound is at least the size of a real ZIP64 archive of incompressible deflated data', async () => {
    const entries: TestEntry[] = [0, 1, 70_000, 300_000].map((size, i) => ({
      spec: {
        name: `dir/é-${i}.bin`,
        mtime: 0,
        compression: 'deflate',
        level: 9,
        forceZip64: true,
      },
      data: crypto.randomBytes(size),
    }));
    const zip = await encodeZipflow(entries);
    const plan: PlannedArchive = {
      bytes: entries.reduce((n, e) => n + e.data.length, 0),
      entries: entries.length,
      nameBytes: entries.reduce((n, e) => n + Buffer.byteLength(e.spec.name), 0),
      compression: 'deflate',
    };
    assert.ok(archiveSizeBound(plan) >= zip.length, `${archiveSizeBound(plan)} < ${zip.length}`);
  });
});

describe('destination key placeholders and incremental mode in the request', () => {
  test('a key with every placeholder is accepted', () => {
    const request = withField('destination.key', 'logs/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}.zip');
    assert.deepEqual(validateRequest(request), request);
  });

  test('an unknown placeholder is refused, naming destination.key and the placeholders', () => {
    assertRejected(
      withField('destination.key', 'logs/{YYYY}/{MM}.zip'),
      'destination.key',
      /\{YYYY\} is not a placeholder: use \{yyyy\}, \{MM\}, \{dd\}, \{HH\}, \{mm\}, \{ss\}/,
    );
    assertRejected(
      withField('destination.key', 'logs/{}.zip'),
      'destination.key',
      /\{\} is not a placeholder/,
    );
    assertRejected(withField('destination.key', 'logs/{date}.zip'), 'destination.key', /\{date\}/);
  });

  test('incremental takes true, false or { settleSeconds }', () => {
    for (const incremental of [true, false, {}, { settleSeconds: 0 }, { settleSeconds: 3600 }]) {
      const request = { ...base(), incremental };
      assert.deepEqual(validateRequest(request), request);
    }
    assert.equal(settleSecondsOf(validateRequest(base())), undefined);
    assert.equal(settleSecondsOf(validateRequest({ ...base(), incremental: false })), undefined);
    assert.equal(
      settleSecondsOf(validateRequest({ ...base(), incremental: true })),
      DEFAULT_SETTLE_SECONDS,
    );
    assert.equal(
      settleSecondsOf(validateRequest({ ...base(), incremental: { settleSeconds: 5 } })),
      5,
    );
  });

  test('a bad incremental value is refused with its field named', () => {
    assertRejected({ ...base(), incremental: 'yes' }, 'incremental', /true, false or an object/);
    assertRejected(
      { ...base(), incremental: { settleSeconds: -1 } },
      'incremental.settleSeconds',
      /whole number from 0 to 86400/,
    );
    assertRejected(
      { ...base(), incremental: { settleSecond: 5 } },
      'incremental.settleSecond',
      /did you mean "settleSeconds"/,
    );
  });
});
