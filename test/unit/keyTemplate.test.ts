import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  isKeyTemplate,
  resolveKeyTemplate,
  unknownPlaceholders,
} from '../../src/shared/keyTemplate';
import { modifiedIn } from '../../src/engine/plan/plan';
import { watermarkKey } from '../../src/engine/plan/watermark';
import { scheduleSpecOf } from '../../src/client/schedules';
import { RequestError } from '../../src/shared/validate';
import { type ArchiveRequest } from '../../src/shared/request';

describe('resolveKeyTemplate', () => {
  const at = new Date('2026-03-07T04:05:09.999Z');

  test('every placeholder becomes the zero-padded UTC field of the nominal time', () => {
    assert.equal(
      resolveKeyTemplate('logs/{yyyy}/{MM}/{dd}/{HH}{mm}{ss}.zip', at),
      'logs/2026/03/07/040509.zip',
    );
  });

  test('UTC, not local time: late evening west of Greenwich is the next day', () => {
    assert.equal(
      resolveKeyTemplate('{yyyy}-{MM}-{dd}', new Date('2025-12-31T23:30:00-05:00')),
      '2026-01-01',
    );
  });

  test('a key without placeholders is returned as it is; placeholders may repeat', () => {
    assert.equal(resolveKeyTemplate('plain/key.zip', at), 'plain/key.zip');
    assert.equal(resolveKeyTemplate('{dd}/{dd}', at), '07/07');
  });

  test('an unknown placeholder or an invalid date throws', () => {
    assert.throws(() => resolveKeyTemplate('{YYYY}.zip', at), /\{YYYY\} is not a placeholder/);
    assert.throws(() => resolveKeyTemplate('{yyyy}.zip', new Date(Number.NaN)), /not a valid date/);
  });

  test('unknownPlaceholders and isKeyTemplate tell templates from plain keys', () => {
    assert.deepEqual(unknownPlaceholders('a/{yyyy}/{date}/{}/{MM}.zip'), ['date', '']);
    assert.deepEqual(unknownPlaceholders('a/{yyyy}.zip'), []);
    assert.equal(isKeyTemplate('a/{yyyy}.zip'), true);
    assert.equal(isKeyTemplate('a/{date}.zip'), false);
    assert.equal(isKeyTemplate('a.zip'), false);
  });
});

describe('incremental range and watermark key', () => {
  test('the range is half-open: since is taken, before is not', () => {
    const range = { since: 1000, before: 2000 };
    assert.equal(modifiedIn(range, 999), false);
    assert.equal(modifiedIn(range, 1000), true);
    assert.equal(modifiedIn(range, 1999), true);
    assert.equal(modifiedIn(range, 2000), false);
    assert.equal(modifiedIn({ before: 2000 }, 0), true);
    assert.equal(modifiedIn(undefined, 5000), true);
  });

  test('a schedule has its own watermark; unscheduled runs share one per source and key template', () => {
    const request: ArchiveRequest = {
      source: { bucket: 'src-bucket', prefix: 'logs/' },
      destination: { bucket: 'dst-bucket', key: 'out/{yyyy}.zip' },
    };
    assert.equal(
      watermarkKey(request, 'nightly logs'),
      '.zipflow/watermarks/schedules/nightly%20logs.json',
    );
    const reordered: ArchiveRequest = {
      destination: { key: 'out/{yyyy}.zip', bucket: 'dst-bucket', overwrite: true },
      source: { prefix: 'logs/', bucket: 'src-bucket' },
      compression: { method: 'store' },
    };
    assert.equal(watermarkKey(request), watermarkKey(reordered));
    assert.match(watermarkKey(request), /^\.zipflow\/watermarks\/requests\/[0-9a-f]{32}\.json$/);
    const other = { ...request, source: { ...request.source, prefix: 'other/' } };
    assert.notEqual(watermarkKey(request), watermarkKey(other));
  });
});

describe('scheduleSpecOf', () => {
  test('an interval becomes an interval spec, anything else a cron expression', () => {
    assert.deepEqual(scheduleSpecOf('1d'), { intervals: [{ every: '1d' }] });
    assert.deepEqual(scheduleSpecOf(' 6h '), { intervals: [{ every: '6h' }] });
    assert.deepEqual(scheduleSpecOf('0 2 * * *'), { cronExpressions: ['0 2 * * *'] });
    assert.deepEqual(scheduleSpecOf('@daily'), { cronExpressions: ['@daily'] });
  });

  test('an empty, zero or unit-less interval is refused', () => {
    for (const bad of ['', '0h', '15', '3w']) {
      assert.throws(() => scheduleSpecOf(bad), RequestError, bad);
    }
  });
});
