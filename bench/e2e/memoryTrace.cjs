// Preloaded (node --require) into the bench's worker by `npm run bench -- --memory-trace`: tells
// what the worker's resident memory is made of, at start and at its highest. VmHWM alone does
// not say whether the V8 heap, Buffers, or the malloc heap hold it. Writes JSON to the file
// named by ZIPFLOW_BENCH_MEMORY_TRACE whenever the resident size reaches a new high.
'use strict';
const fs = require('node:fs');
const { setInterval } = require('node:timers');

const out = process.env.ZIPFLOW_BENCH_MEMORY_TRACE;
const MiB = 1024 * 1024;
const round = (n) => Math.round(n * 10) / 10;

/** Resident MiB by kind of mapping (/proc/self/smaps). */
function mappings() {
  const kinds = {};
  let kind;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const size = (parseInt(head[2], 16) - parseInt(head[1], 16)) / MiB;
      const name = head[3];
      if (name === '[heap]') kind = 'mallocHeap';
      else if (name.startsWith('/')) kind = 'files';
      else if (name) kind = 'other';
      // V8 allocates its heap in 256 KiB pages; glibc serves large allocations (Buffers of
      // parts and ranges) and its other arenas with mmaps of 1 MiB or more.
      else kind = size < 0.25 ? 'smallAnon' : size < 1 ? 'v8Pages' : 'largeAnon';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && kind) kinds[kind] = (kinds[kind] ?? 0) + Number(rss[1]) / 1024;
  }
  for (const k of Object.keys(kinds)) kinds[k] = round(kinds[k]);
  return kinds;
}

function snapshot() {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kB = (field) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024;
  const usage = process.memoryUsage();
  return {
    seconds: round(process.uptime()),
    rss: round(kB('VmRSS')),
    rssAnon: round(kB('RssAnon')),
    rssFile: round(kB('RssFile')),
    heapTotal: round(usage.heapTotal / MiB),
    heapUsed: round(usage.heapUsed / MiB),
    external: round(usage.external / MiB),
    arrayBuffers: round(usage.arrayBuffers / MiB),
    mappings: mappings(),
  };
}

if (out && process.argv.includes('worker')) {
  /** The worker idle: retaken every second until the first archive's reads raise the RSS. */
  let idle;
  let peak;
  let ticks = 0;
  let busy = false;
  const timer = setInterval(() => {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
    busy ||= idle !== undefined && rss > idle.rss + 32;
    if (!busy && ticks++ % 10 === 0) idle = peak = snapshot();
    // smaps is read only at a new high (2 MiB over the last), not every 100 ms.
    else if (busy && rss >= peak.rss + 2) peak = snapshot();
    else return;
    fs.writeFileSync(out, JSON.stringify({ idle, peak }));
  }, 100);
  timer.unref();
}
