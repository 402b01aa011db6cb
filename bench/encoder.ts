/**
 * Encoder-only benchmark: the same in-memory objects through zipflow's ZipEncoder, yazl 3.3.1
 * (addReadStream) and archiver 8 (append of a stream), output bytes counted and discarded.
 *
 *   npx tsx bench/encoder.ts [--store-objects 64] [--store-mib 8] [--deflate-objects 16]
 *                            [--deflate-mib 4] [--level 6] [--chunk-kib 64] [--rounds 2] [--json]
 *
 * MB/s = input (uncompressed) bytes / 10^6 / seconds, best of `rounds`. Prints a JSON object
 * and a Markdown table. runEncoderBench(options) is the same thing as a function.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import * as yazl from 'yazl';
import { ZipEncoder, endOfArchive, type Compression } from '../src/zip';

export interface EncoderBenchOptions {
  storeObjects: number;
  storeObjectMiB: number;
  deflateObjects: number;
  deflateObjectMiB: number;
  level: number;
  chunkKiB: number;
  rounds: number;
}

export const DEFAULT_ENCODER_BENCH: EncoderBenchOptions = {
  storeObjects: 64,
  storeObjectMiB: 8,
  deflateObjects: 16,
  deflateObjectMiB: 4,
  level: 6,
  chunkKiB: 64,
  rounds: 2,
};

export type Library = 'zipflow' | 'yazl' | 'archiver';

export interface EncoderBenchRow {
  mode: Compression;
  library: Library;
  inputBytes: number;
  outputBytes: number;
  seconds: number;
  mbPerSecond: number;
  /** Highest RSS sampled while this library ran (includes the shared input data). */
  peakRssMiB: number;
}

export interface EncoderBenchResult {
  options: EncoderBenchOptions;
  node: string;
  rows: EncoderBenchRow[];
  storeSpeedupVsYazl: number;
  deflateSpeedupVsYazl: number;
  processMaxRssMiB: number;
}

const MiB = 1024 * 1024;
const MTIME = Date.UTC(2024, 0, 1);

/** Peak RSS, sampled from the consumers' loops (timers may not fire during microtask-only runs). */
class RssSampler {
  peak = 0;
  private n = 0;
  tick(): void {
    if ((this.n++ & 63) === 0) this.peak = Math.max(this.peak, process.memoryUsage().rss);
  }
}

function* chunked(data: Buffer, chunkBytes: number): Generator<Buffer> {
  for (let at = 0; at < data.length; at += chunkBytes) yield data.subarray(at, at + chunkBytes);
}

/** Compressible text: log-like lines with varying fields (deflate level 6 gets roughly 4-6x). */
export function compressibleText(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  let x = seed >>> 0;
  const rand = (): number => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x;
  };
  const levels = ['INFO', 'WARN', 'DEBUG', 'ERROR'];
  const paths = ['/api/v1/users', '/api/v1/orders', '/healthz', '/static/app.js', '/api/v2/search'];
  let at = 0;
  while (at < bytes) {
    const r = rand();
    const line = `2024-01-0${(r % 9) + 1}T12:${String(r % 60).padStart(2, '0')}:${String((r >>> 8) % 60).padStart(2, '0')}Z ${levels[r % 4]} request path=${paths[(r >>> 4) % 5]} status=${200 + ((r >>> 12) % 5)} ms=${(r >>> 16) % 1000} id=${r.toString(16)}\n`;
    at += b.write(line, at);
  }
  return b;
}

type Runner = (
  objects: Buffer[],
  compression: Compression,
  o: EncoderBenchOptions,
  sampler: RssSampler,
) => Promise<number>;

const runZipflow: Runner = async (objects, compression, o, sampler) => {
  const encoder = new ZipEncoder();
  const records: Buffer[] = [];
  let out = 0;
  for (const [i, data] of objects.entries()) {
    const spec = {
      name: `objects/${i}.bin`,
      mtime: MTIME,
      compression,
      level: o.level,
      size: data.length,
    };
    for await (const c of encoder.entry(spec, chunked(data, o.chunkKiB * 1024))) {
      out += c.length;
      sampler.tick();
    }
    records.push(encoder.lastCentralDirectoryRecord as Buffer);
  }
  for await (const c of endOfArchive(records, encoder.totals())) out += c.length;
  return out;
};

const runYazl: Runner = async (objects, compression, o, sampler) => {
  const zip = new yazl.ZipFile();
  for (const [i, data] of objects.entries()) {
    zip.addReadStream(Readable.from(chunked(data, o.chunkKiB * 1024)), `objects/${i}.bin`, {
      mtime: new Date(MTIME),
      compress: compression === 'deflate',
      ...(compression === 'deflate' ? { compressionLevel: o.level } : {}),
      size: data.length,
    });
  }
  zip.end();
  let out = 0;
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) {
    out += c.length;
    sampler.tick();
  }
  return out;
};

interface ArchiverLike extends NodeJS.ReadableStream {
  append(source: Readable, data: { name: string; date: Date; store?: boolean }): this;
  finalize(): Promise<void>;
}

const runArchiver: Runner = async (objects, compression, o, sampler) => {
  // archiver 8 is ESM-only; load it at run time from this CommonJS module.
  const { ZipArchive } = (await import('archiver')) as unknown as {
    ZipArchive: new (opts: object) => ArchiverLike;
  };
  const archive = new ZipArchive(
    compression === 'store' ? { store: true } : { zlib: { level: o.level } },
  );
  for (const [i, data] of objects.entries()) {
    archive.append(Readable.from(chunked(data, o.chunkKiB * 1024)), {
      name: `objects/${i}.bin`,
      date: new Date(MTIME),
      store: compression === 'store',
    });
  }
  const finalized = archive.finalize();
  let out = 0;
  for await (const c of archive as AsyncIterable<Buffer>) {
    out += c.length;
    sampler.tick();
  }
  await finalized;
  return out;
};

const RUNNERS: Record<Library, Runner> = {
  zipflow: runZipflow,
  yazl: runYazl,
  archiver: runArchiver,
};

export async function runEncoderBench(
  partial: Partial<EncoderBenchOptions> = {},
): Promise<EncoderBenchResult> {
  const o: EncoderBenchOptions = { ...DEFAULT_ENCODER_BENCH, ...partial };
  const data: Record<Compression, Buffer[]> = {
    store: Array.from({ length: o.storeObjects }, () => randomBytes(o.storeObjectMiB * MiB)),
    deflate: Array.from({ length: o.deflateObjects }, (_, i) =>
      compressibleText(o.deflateObjectMiB * MiB, i + 1),
    ),
  };
  const rows: EncoderBenchRow[] = [];
  for (const mode of ['store', 'deflate'] as const) {
    const objects = data[mode];
    const inputBytes = objects.reduce((n, b) => n + b.length, 0);
    for (const library of ['zipflow', 'yazl', 'archiver'] as const) {
      let best = Infinity;
      let outputBytes = 0;
      const sampler = new RssSampler();
      for (let round = 0; round < o.rounds; round++) {
        const t0 = process.hrtime.bigint();
        outputBytes = await RUNNERS[library](objects, mode, o, sampler);
        best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
      }
      rows.push({
        mode,
        library,
        inputBytes,
        outputBytes,
        seconds: Number(best.toFixed(3)),
        mbPerSecond: Number((inputBytes / 1e6 / best).toFixed(1)),
        peakRssMiB: Number((sampler.peak / MiB).toFixed(1)),
      });
    }
  }
  const speed = (mode: Compression, library: Library): number =>
    rows.find((r) => r.mode === mode && r.library === library)?.mbPerSecond ?? NaN;
  return {
    options: o,
    node: process.version,
    rows,
    storeSpeedupVsYazl: Number((speed('store', 'zipflow') / speed('store', 'yazl')).toFixed(2)),
    deflateSpeedupVsYazl: Number(
      (speed('deflate', 'zipflow') / speed('deflate', 'yazl')).toFixed(2),
    ),
    processMaxRssMiB: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
  };
}

export function encoderBenchMarkdown(r: EncoderBenchResult): string {
  const lines = [
    '| mode | library | input MiB | output MiB | seconds | MB/s | peak RSS MiB |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...r.rows.map(
      (row) =>
        `| ${row.mode} | ${row.library} | ${(row.inputBytes / MiB).toFixed(0)} | ${(row.outputBytes / MiB).toFixed(1)} | ${row.seconds.toFixed(3)} | ${row.mbPerSecond.toFixed(1)} | ${row.peakRssMiB.toFixed(0)} |`,
    ),
  ];
  return `${lines.join('\n')}\n\nzipflow vs yazl: STORE ${r.storeSpeedupVsYazl}×, DEFLATE ${r.deflateSpeedupVsYazl}× (Node ${r.node}; process max RSS ${r.processMaxRssMiB} MiB)\n`;
}

function parseArgs(argv: string[]): { options: Partial<EncoderBenchOptions>; jsonOnly: boolean } {
  const flags: Record<string, keyof EncoderBenchOptions> = {
    '--store-objects': 'storeObjects',
    '--store-mib': 'storeObjectMiB',
    '--deflate-objects': 'deflateObjects',
    '--deflate-mib': 'deflateObjectMiB',
    '--level': 'level',
    '--chunk-kib': 'chunkKiB',
    '--rounds': 'rounds',
  };
  const options: Partial<EncoderBenchOptions> = {};
  let jsonOnly = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') {
      jsonOnly = true;
      continue;
    }
    const key = flags[argv[i]];
    const value = Number(argv[i + 1]);
    if (key === undefined || !Number.isFinite(value) || value <= 0) {
      throw new Error(
        `unknown flag or bad value: ${argv[i]} ${argv[i + 1] ?? ''}; flags: ${Object.keys(flags).join(' ')} --json`,
      );
    }
    options[key] = value;
    i += 1;
  }
  return { options, jsonOnly };
}

if (require.main === module) {
  const { options, jsonOnly } = parseArgs(process.argv.slice(2));
  runEncoderBench(options).then(
    (result) => {
      console.log(JSON.stringify(result, null, 2));
      if (!jsonOnly) console.log(`\n${encoderBenchMarkdown(result)}`);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
