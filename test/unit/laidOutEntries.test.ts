import assert from 'node:assert/strict';
import { test } from 'node:test';
import { laidOutSpecOf, WHOLE_ENTRY_MAX_BYTES } from '../../src/engine/plan/entries';
import type { ListedObject } from '../../src/s3/objects';
import type { ArchiveRequest, LocalHeaders } from '../../src/shared/request';
import { ArchiveLayout } from '../../src/zip';

function request(localHeaders?: LocalHeaders): ArchiveRequest {
  return {
    source: { bucket: 'src', prefix: 'p/' },
    destination: { bucket: 'dst', key: 'a.zip' },
    compression: { method: 'store' },
    ...(localHeaders === undefined ? {} : { localHeaders }),
  };
}

function object(key: string, size: number): ListedObject {
  return { key, size, etag: '"e"', lastModified: Date.UTC(2026, 0, 1) };
}

const objects = [
  object('p/small.bin', 10),
  object('p/exactly-1MiB.bin', WHOLE_ENTRY_MAX_BYTES),
  object('p/large.bin', WHOLE_ENTRY_MAX_BYTES + 1),
  object('p/folder/', 0),
];

test('laid out in advance, objects up to 1 MiB have no data descriptor, larger ones and "descriptor" keep one', () => {
  for (const localHeaders of [undefined, 'auto', 'known', 'descriptor'] as const) {
    const layout = new ArchiveLayout();
    const places = objects.map((o) => layout.add(laidOutSpecOf(request(localHeaders), o)));
    const descriptors = places.map((p) => p.dataDescriptorOffset !== null);
    const expected =
      localHeaders === 'descriptor' ? [true, true, true, false] : [false, false, true, false];
    assert.deepEqual(descriptors, expected, String(localHeaders));
  }
});
