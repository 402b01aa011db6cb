import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RequestError, validateRequest } from '../../src/shared/validate';
import { restoreWorkflowId, validateRestoreRequest } from '../../src/shared/restore';

function rejects(run: () => unknown, field: string, fix: RegExp): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof RequestError, `expected RequestError, got ${String(err)}`);
    assert.equal(err.field, field);
    assert.ok(err.message.startsWith(`${field}: `), err.message);
    assert.match(err.message, fix);
    return true;
  });
}

const restore = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  archive: { bucket: 'archives', key: 'a.zip' },
  destination: { bucket: 'restored', prefix: 'back/' },
  ...extra,
});

test('a restore request is accepted as given, and named by its destination', () => {
  const request = restore({
    select: { include: ['logs/**'], exclude: ['logs/tmp/**'] },
    concurrency: 8,
  });
  assert.equal(validateRestoreRequest(request), request);
  assert.equal(
    restoreWorkflowId({ bucket: 'restored', prefix: 'back/' }),
    'zipflow-restore:s3://restored/back/',
  );
});

test('a bad restore request names the field and the fix', () => {
  rejects(
    () => validateRestoreRequest(restore({ archive: { bucket: 'archives' } })),
    'archive.key',
    /give the key/,
  );
  rejects(
    () => validateRestoreRequest(restore({ select: { names: [] } })),
    'select.names',
    /at least one/,
  );
  rejects(
    () => validateRestoreRequest(restore({ select: { names: ['a'], include: ['b'] } })),
    'select.names',
    /cannot be combined/,
  );
  rejects(
    () => validateRestoreRequest(restore({ destination: { bucket: 'restored', prefix: '/x' } })),
    'destination.prefix',
    /leading slash/,
  );
  rejects(
    () =>
      validateRestoreRequest(restore({ destination: { bucket: 'restored', overwrite: 'yes' } })),
    'destination.overwrite',
    /true or false/,
  );
  rejects(() => validateRestoreRequest(restore({ concurrency: 0 })), 'concurrency', /1 to 32/);
  rejects(
    () => validateRestoreRequest(restore({ selct: {} })),
    'selct',
    /fields here: archive, select/,
  );
});

const archive = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  source: { bucket: 'photos', prefix: '2026/' },
  destination: { bucket: 'archives', key: 'photos-2026.zip' },
  ...extra,
});

test('afterArchive: delete, tag or none, with an optional dry run', () => {
  for (const afterArchive of ['none', 'delete', 'tag']) validateRequest(archive({ afterArchive }));
  validateRequest(archive({ afterArchive: 'delete', dryRun: true }));
  rejects(
    () => validateRequest(archive({ afterArchive: 'move' })),
    'afterArchive',
    /"delete" or "tag"/,
  );
  rejects(
    () => validateRequest(archive({ dryRun: true })),
    'dryRun',
    /only applies with afterArchive/,
  );
});

test('afterArchive is refused when the archive, its manifest or the run state is inside the source selection', () => {
  const same = (source: Record<string, unknown>, key: string) =>
    archive({
      source: { bucket: 'photos', ...source },
      destination: { bucket: 'photos', key },
      afterArchive: 'delete',
    });
  rejects(
    () => validateRequest(same({ prefix: '2026/' }, '2026/all.zip')),
    'destination.key',
    /inside the source selection/,
  );
  rejects(
    () => validateRequest(same({}, 'archives/all.zip')),
    'destination.key',
    /inside the source selection/,
  );
  rejects(
    () => validateRequest(same({ keys: ['a.jpg', 'all.zip'] }, 'all.zip')),
    'destination.key',
    /outside source.prefix/,
  );
  // Outside the prefix (and .zipflow/ is too), or in another bucket: accepted.
  validateRequest(same({ prefix: '2026/' }, 'archives/2026.zip'));
  validateRequest(same({ keys: ['a.jpg'] }, 'all.zip'));
  validateRequest(archive({ afterArchive: 'delete' }));
  // Without afterArchive nothing is removed, so an archive inside the prefix is allowed.
  validateRequest(
    archive({
      destination: { bucket: 'photos', key: '2026/all.zip' },
      source: { bucket: 'photos', prefix: '2026/' },
    }),
  );
});
