import assert from 'node:assert/strict';
import { test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { archiveWorkflowId, validateRequest, type ArchiveRequest } from '../../src/shared/request';

const root = path.resolve(__dirname, '../..');
const example = fs.readFileSync(path.join(root, 'docs/examples/request.json'), 'utf8').trim();

test('the README shows docs/examples/request.json verbatim, the request the Temporal CLI test starts', () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  assert.ok(readme.includes(`--input '${example}'`), 'the README passes it to --input as is');
  const { source, destination } = JSON.parse(example) as ArchiveRequest;
  assert.ok(readme.includes(`--workflow-id '${archiveWorkflowId(destination)}'`));
  assert.ok(
    readme.includes(
      `--static-summary 's3://${source.bucket}/${source.prefix} → s3://${destination.bucket}/${destination.key}'`,
    ),
  );
});

test('docs/examples/request.json is a valid archive request', () => {
  assert.doesNotThrow(() => validateRequest(JSON.parse(example) as ArchiveRequest));
});
