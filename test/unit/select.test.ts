import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkSelection,
  compileSelection,
  entryName,
  entryNameFor,
} from '../../src/engine/plan/select';
import { RequestError } from '../../src/shared/validate';
import { type ArchiveRequest } from '../../src/shared/request';

function request(
  source: Partial<ArchiveRequest['source']> = {},
  naming?: ArchiveRequest['naming'],
): ArchiveRequest {
  return {
    source: { bucket: 'src-bucket', prefix: 'data/', ...source },
    destination: { bucket: 'dst-bucket', key: 'a.zip' },
    naming,
  };
}

const KEYS = [
  'data/readme.txt',
  'data/.env',
  'data/logs/app.log',
  'data/logs/.hidden/x.log',
  'data/img/a.jpg',
  'data/img/b.JPG',
  'data/tmp/',
  'data/tmp/scratch.txt',
];

function taken(source: Partial<ArchiveRequest['source']>): string[] {
  const selected = compileSelection(request(source));
  return KEYS.filter(selected);
}

describe('include and exclude', () => {
  test('without patterns every key is taken', () => {
    assert.deepEqual(taken({}), KEYS);
  });

  test('patterns match the key relative to source.prefix, and "*" stays within one folder', () => {
    assert.deepEqual(taken({ include: ['*.txt'] }), ['data/readme.txt']);
    assert.deepEqual(taken({ include: ['**/*.txt'] }), ['data/readme.txt', 'data/tmp/scratch.txt']);
  });

  test('a key is taken when it matches any include', () => {
    assert.deepEqual(taken({ include: ['img/*.jpg', 'logs/*.log'] }), [
      'data/logs/app.log',
      'data/img/a.jpg',
    ]);
  });

  test('matching is case-sensitive, like S3 keys', () => {
    assert.deepEqual(taken({ include: ['img/*.jpg'] }), ['data/img/a.jpg']);
  });

  test('an exclude wins over an include', () => {
    assert.deepEqual(taken({ include: ['**/*.txt'], exclude: ['tmp/**'] }), ['data/readme.txt']);
  });

  test('an exclude of a folder also leaves out its directory marker', () => {
    assert.deepEqual(
      taken({ exclude: ['tmp/**'] }),
      KEYS.filter((k) => !k.startsWith('data/tmp/')),
    );
  });

  test('dotfiles and dot folders match "*" and "**" (dot: true)', () => {
    assert.deepEqual(taken({ include: ['.*'] }), ['data/.env']);
    assert.deepEqual(taken({ include: ['logs/**/*.log'] }), [
      'data/logs/app.log',
      'data/logs/.hidden/x.log',
    ]);
    assert.deepEqual(
      taken({ exclude: ['**/.*', '**/.*/**'] }),
      KEYS.filter((k) => !k.includes('/.')),
    );
  });

  test('braces and character classes work', () => {
    assert.deepEqual(taken({ include: ['img/[ab].{jpg,JPG}'] }), [
      'data/img/a.jpg',
      'data/img/b.JPG',
    ]);
  });

  test('keys outside source.prefix are matched whole (explicit keys may lie outside it)', () => {
    const selected = compileSelection(request({ include: ['other/*.txt'] }));
    assert.equal(selected('other/x.txt'), true);
    assert.equal(selected('data/other/x.txt'), true);
  });
});

describe('patterns that do not parse', () => {
  const bad: [string, Partial<ArchiveRequest['source']>, string][] = [
    ['an unclosed bracket', { include: ['*.txt', '*.log', 'img/['] }, 'source.include[2]'],
    ['an unclosed brace', { exclude: ['{a,b'] }, 'source.exclude[0]'],
    ['an unclosed extglob', { include: ['+(a|b'] }, 'source.include[0]'],
    ['a reversed range', { include: ['[z-a]'] }, 'source.include[0]'],
    ['a trailing backslash', { exclude: ['ok', 'a\\'] }, 'source.exclude[1]'],
    ['an empty pattern', { include: [''] }, 'source.include[0]'],
  ];
  for (const [name, source, field] of bad) {
    test(`${name} is a RequestError naming ${field}`, () => {
      for (const check of [checkSelection, compileSelection]) {
        assert.throws(
          () => check(request(source)),
          (err: unknown) => {
            assert.ok(err instanceof RequestError);
            assert.equal(err.field, field);
            assert.match(err.message, /not a glob picomatch can read .*: fix the pattern/);
            return true;
          },
        );
      }
    });
  }

  test('valid patterns pass checkSelection', () => {
    assert.doesNotThrow(() =>
      checkSelection(request({ include: ['**/*.{jpg,png}'], exclude: ['\\['] })),
    );
  });
});

describe('entry names', () => {
  test('relative (default): the key without source.prefix, never absolute', () => {
    assert.equal(entryNameFor(request(), 'data/img/a.jpg'), 'img/a.jpg');
    assert.equal(entryNameFor(request({ prefix: 'data' }), 'data/img/a.jpg'), 'img/a.jpg');
    assert.equal(entryNameFor(request({ prefix: undefined }), 'data/img/a.jpg'), 'data/img/a.jpg');
  });

  test('a key outside source.prefix keeps its full key as its name', () => {
    assert.equal(entryNameFor(request(), 'other/x.txt'), 'other/x.txt');
  });

  test("the prefix's own directory marker makes no entry", () => {
    assert.equal(entryNameFor(request(), 'data/'), '');
    assert.equal(entryNameFor(request({}, { prefix: 'backup/' }), 'data/'), '');
  });

  test('directory markers keep their trailing slash', () => {
    assert.equal(entryNameFor(request(), 'data/tmp/'), 'tmp/');
    assert.equal(entryNameFor(request({}, { prefix: 'b/' }), 'data/tmp/'), 'b/tmp/');
  });

  test('flatten keeps the last segment and drops directory markers', () => {
    const flat = request({}, { mode: 'flatten' });
    assert.equal(entryNameFor(flat, 'data/img/a.jpg'), 'a.jpg');
    assert.equal(entryNameFor(flat, 'data/readme.txt'), 'readme.txt');
    assert.equal(entryNameFor(flat, 'other/deep/x.txt'), 'x.txt');
    assert.equal(entryNameFor(flat, 'data/tmp/'), '');
  });

  test('the archive folder goes in front, with or without its trailing slash', () => {
    for (const prefix of ['backup-2026/', 'backup-2026']) {
      assert.equal(
        entryNameFor(request({}, { prefix }), 'data/img/a.jpg'),
        'backup-2026/img/a.jpg',
      );
      assert.equal(
        entryNameFor(request({}, { mode: 'flatten', prefix }), 'data/img/a.jpg'),
        'backup-2026/a.jpg',
      );
    }
  });

  test('entryName (kept for the streaming activity) agrees with relative naming', () => {
    for (const key of KEYS) assert.equal(entryName('data/', key), entryNameFor(request(), key));
  });
});
