/**
 * Slow tier: memory stays flat in the number of entries. Encodes 1,000,000 tiny entries with
 * the central directory spilled to a temp file (and streamed back for the end records); the
 * archive bytes are hashed and discarded. RSS after 1M entries must stay within a small bound
 * of RSS after 100k.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type { EntrySpec } from '../../src/zip';
import { writeArchiveWithSpill } from '../readers/spill';

const MiB = 1024 * 1024;

describe('slow: memory is O(1) in the number of entries', () => {
  it('encodes 1,000,000 entries with a spilled central directory and RSS stays flat after 100k', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'zipflow-mem-'));
    const n = 1_000_000;
    const payload = Buffer.from('tiny');
    const rss: Record<number, number> = {};
    let peakRss = 0;
    const sample = (): void => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    };
    const t0 = process.hrtime.bigint();
    try {
      const result = await writeArchiveWithSpill(
        null,
        path.join(dir, 'cd.bin'),
        (function* () {
          for (let i = 0; i < n; i++) {
            const spec: EntrySpec = {
              name: `objects/${i % 1000}/${i}.txt`,
              mtime: 1_700_000_000_000 + i,
              compression: 'store',
              size: i % 2 === 0 ? 0 : payload.length,
            };
            yield { spec, source: i % 2 === 0 ? [] : [payload] };
          }
        })(),
        {},
        (i) => {
          if (i % 10_000 === 0) sample();
          if (i + 1 === 100_000 || i + 1 === n) {
            globalThis.gc?.();
            rss[i + 1] = process.memoryUsage().rss;
          }
        },
      );
      sample();
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const maxRssKiB = process.resourceUsage().maxRSS;
      const growth = rss[n] - rss[100_000];
      console.log(
        JSON.stringify({
          entries: result.totals.entryCount,
          archiveBytes: result.size,
          centralDirectoryBytes: result.totals.centralDirectorySize,
          seconds: Number(seconds.toFixed(1)),
          rssAfter100kMiB: Number((rss[100_000] / MiB).toFixed(1)),
          rssAfter1MMiB: Number((rss[n] / MiB).toFixed(1)),
          sampledPeakRssMiB: Number((peakRss / MiB).toFixed(1)),
          maxRssMiB: Number((maxRssKiB / 1024).toFixed(1)),
        }),
      );
      assert.equal(result.totals.entryCount, n);
      // A per-entry list of even 100 bytes would add ~90 MiB between 100k and 1M entries.
      assert.ok(
        growth < 32 * MiB,
        `RSS grew by ${(growth / MiB).toFixed(1)} MiB between 100k and 1M entries`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
