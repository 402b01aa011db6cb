/**
 * Shared helpers for the zip tests: seeded PRNG, the yazl oracle, and independent readers
 * (yauzl, Python zipfile, Info-ZIP unzip/zipinfo, 7-Zip, Go archive/zip, Java java.util.zip).
 * Every reader reads all data, checks CRCs and reports { count, bytes, digest? }.
 */
// yazl writes DOS times in local time; the encoder writes UTC. Pin the zone before any Date use.
process.env.TZ = 'UTC';

import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import * as yauzl from 'yauzl';
import * as yazl from 'yazl';
import { ensureReadersVenv } from './python/venv';
import { ZipEncoder, endOfArchive, type EndOptions, type EntrySpec } from '../../src/zip';

const execFileAsync = promisify(execFile);

/** Small fast seeded PRNG (mulberry32). */
export function prng(seed: number): {
  next(): number;
  int(lo: number, hi: number): number;
  pick<T>(xs: readonly T[]): T;
  bool(p?: number): boolean;
} {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    bool: (p = 0.5) => next() < p,
  };
}

export interface TestEntry {
  spec: EntrySpec;
  data: Buffer;
  /** Chunk sizes to feed the data in (default: one chunk). */
  chunkSizes?: number[];
}

export function* chunksOf(data: Buffer, sizes?: number[]): Generator<Buffer> {
  if (sizes === undefined || sizes.length === 0) {
    if (data.length > 0) yield data;
    return;
  }
  let at = 0;
  let i = 0;
  while (at < data.length) {
    const n = Math.max(1, sizes[i % sizes.length]);
    yield data.subarray(at, at + n);
    at += n;
    i += 1;
  }
}

export async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

/** Encodes with zipflow: entries, records kept aside (as a caller would spill them), end. */
export async function encodeZipflow(entries: TestEntry[], end: EndOptions = {}): Promise<Buffer> {
  const encoder = new ZipEncoder();
  const out: Buffer[] = [];
  const records: Buffer[] = [];
  for (const e of entries) {
    const source = e.spec.directory === true ? undefined : chunksOf(e.data, e.chunkSizes);
    for await (const c of encoder.entry(e.spec, source)) out.push(c);
    records.push(encoder.lastCentralDirectoryRecord as Buffer);
  }
  for await (const c of endOfArchive(records, encoder.totals(), end)) out.push(c);
  return Buffer.concat(out);
}

/**
 * The oracle: the same entries through yazl 3.3.1: its stream path (addReadStream), whose
 * headers defer CRC and sizes to a data descriptor, or, for entries with dataDescriptor false,
 * its buffer path (addBuffer), whose headers carry them; addEmptyDirectory for directories.
 */
export function encodeYazl(entries: TestEntry[], end: EndOptions = {}): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const { spec, data, chunkSizes } of entries) {
    const common = {
      mtime: new Date(spec.mtime),
      ...(spec.mode !== undefined ? { mode: spec.mode } : {}),
      forceZip64Format: spec.forceZip64 === true,
    };
    if (spec.directory === true) {
      zip.addEmptyDirectory(spec.name, common);
      continue;
    }
    const compression = spec.compression ?? 'deflate';
    if (spec.dataDescriptor === false) {
      zip.addBuffer(data, spec.name, {
        ...common,
        compress: compression === 'deflate',
        ...(compression === 'deflate' ? { compressionLevel: spec.level ?? 6 } : {}),
        ...(spec.comment !== undefined ? { fileComment: spec.comment } : {}),
      });
      continue;
    }
    zip.addReadStream(Readable.from([...chunksOf(data, chunkSizes)]), spec.name, {
      ...common,
      compress: compression === 'deflate',
      ...(compression === 'deflate' ? { compressionLevel: spec.level ?? 6 } : {}),
      ...(spec.comment !== undefined ? { fileComment: spec.comment } : {}),
      ...(spec.size !== undefined && spec.size !== null ? { size: spec.size } : {}),
    });
  }
  // @types/yazl says comment is a string; yazl 3.3 also takes a Buffer (raw bytes).
  const comment =
    end.comment === undefined
      ? undefined
      : typeof end.comment === 'string'
        ? end.comment
        : (Buffer.from(end.comment) as unknown as string);
  zip.end({ forceZip64Format: end.forceZip64 === true, comment: comment ?? '' }); // '' = no comment in yazl
  return collect(zip.outputStream as AsyncIterable<Buffer>);
}

/** What every reader should report for these entries. */
export interface ReaderReport {
  reader: string;
  count: number;
  bytes: number;
  digest?: string;
}

export function digestLine(name: string, crc: number, size: number): string {
  return `${name}\n${crc.toString(16).padStart(8, '0')}\n${size}\n`;
}

export function expectedReport(entries: { name: string; crc32: number; size: number }[]): {
  count: number;
  bytes: number;
  digest: string;
} {
  const h = createHash('sha256');
  let bytes = 0;
  for (const e of entries) {
    h.update(digestLine(e.name, e.crc32, e.size));
    bytes += e.size;
  }
  return { count: entries.length, bytes, digest: h.digest('hex') };
}

export function expectedFromTestEntries(entries: TestEntry[]): {
  count: number;
  bytes: number;
  digest: string;
} {
  return expectedReport(
    entries.map((e) => ({
      name:
        e.spec.directory === true && !e.spec.name.endsWith('/') ? `${e.spec.name}/` : e.spec.name,
      crc32: zlib.crc32(e.data),
      size: e.data.length,
    })),
  );
}

const READERS_DIR = __dirname;

function missing(tool: string, install: string): Error {
  return new Error(
    `${tool} is not installed; install it (${install}) — this reader check must not be skipped`,
  );
}

async function run(
  cmd: string,
  args: string[],
  install: string,
  options: { cwd?: string } = {},
): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, {
      maxBuffer: 1 << 30,
      cwd: options.cwd,
      env: { ...process.env, LC_ALL: 'C.UTF-8' },
    });
    return stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw missing(cmd, install);
    throw err;
  }
}

export async function readWithYauzl(file: string): Promise<ReaderReport> {
  const zip = await promisify<string, yauzl.Options, yauzl.ZipFile>(yauzl.open)(file, {
    lazyEntries: true,
    validateEntrySizes: true,
    strictFileNames: true,
  });
  const h = createHash('sha256');
  let count = 0;
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', () => resolve());
    zip.on('entry', (entry: yauzl.Entry) => {
      zip.openReadStream(entry, (err, stream) => {
        if (err !== null) return reject(err);
        let crc = 0;
        let size = 0;
        stream.on('data', (d: Buffer) => {
          crc = zlib.crc32(d, crc);
          size += d.length;
        });
        stream.on('error', reject);
        stream.on('end', () => {
          if (crc !== entry.crc32 || size !== entry.uncompressedSize)
            return reject(new Error(`yauzl: mismatch in ${entry.fileName}`));
          h.update(digestLine(entry.fileName, crc, size));
          count += 1;
          bytes += size;
          zip.readEntry();
        });
      });
    });
    zip.readEntry();
  });
  return { reader: 'yauzl', count, bytes, digest: h.digest('hex') };
}

export async function readWithPython(file: string): Promise<ReaderReport> {
  const out = await run(
    'python3',
    [path.join(READERS_DIR, 'python', 'read_zip.py'), file],
    'apt-get install -y python3',
  );
  return JSON.parse(out) as ReaderReport;
}

export async function readWithGo(file: string): Promise<ReaderReport> {
  const out = await run('go', ['run', 'main.go', file], 'install Go from https://go.dev/dl/', {
    cwd: path.join(READERS_DIR, 'go'),
  });
  return JSON.parse(out) as ReaderReport;
}

export async function readWithJava(file: string): Promise<ReaderReport> {
  const out = await run(
    'java',
    [path.join(READERS_DIR, 'java', 'ReadZip.java'), file],
    'apt-get install -y openjdk-17-jdk-headless',
  );
  return JSON.parse(out) as ReaderReport;
}

/**
 * Python's zipfile as the oracle of the known-header layout: every local header equals the one
 * zipfile writes for that entry, and no data descriptor follows any entry's data. Resolves to
 * the number of entries checked; rejects naming the first that differs.
 */
export async function checkKnownHeadersWithPython(file: string): Promise<number> {
  const out = await run(
    'python3',
    [path.join(READERS_DIR, 'python', 'known_headers.py'), file],
    'apt-get install -y python3',
  );
  return (JSON.parse(out) as { entries: number }).entries;
}

/** Info-ZIP `unzip -t`: tests every entry's CRC; count the "OK" lines. */
export async function readWithUnzip(file: string): Promise<ReaderReport> {
  const out = await run('unzip', ['-t', file], 'apt-get install -y unzip');
  if (!out.includes('No errors detected'))
    throw new Error(`unzip -t reported problems:\n${out.slice(-2000)}`);
  const count = out.split('\n').filter((l) => /^\s+testing: .*\s+OK$/.test(l)).length;
  return { reader: 'unzip -t', count, bytes: NaN };
}

/** Info-ZIP `zipinfo -t`: "N files, X bytes uncompressed, …". */
export async function readWithZipinfo(file: string): Promise<ReaderReport> {
  const out = await run('zipinfo', ['-t', file], 'apt-get install -y unzip');
  const m = /^(\d+) files?, (\d+) bytes? uncompressed/m.exec(out);
  if (m === null) throw new Error(`zipinfo -t: unexpected output:\n${out}`);
  return { reader: 'zipinfo -t', count: Number(m[1]), bytes: Number(m[2]) };
}

function sevenZipBinary(): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const name of ['7zz', '7z']) if (existsSync(path.join(dir, name))) return name;
  }
  return null;
}

/** 7-Zip `7z t`: tests every entry; files and folders are counted separately. */
export async function readWith7z(file: string): Promise<ReaderReport> {
  const bin = sevenZipBinary();
  if (bin === null) throw missing('7-Zip (7zz or 7z)', 'apt-get update && apt-get install -y 7zip');
  const out = await run(bin, ['t', file], 'apt-get install -y 7zip');
  if (!out.includes('Everything is Ok'))
    throw new Error(`7z t reported problems:\n${out.slice(-2000)}`);
  const files = Number(/^Files: (\d+)/m.exec(out)?.[1] ?? (/^Size: /m.test(out) ? 1 : 0));
  const folders = Number(/^Folders: (\d+)/m.exec(out)?.[1] ?? 0);
  const size = Number(/^Size:\s+(\d+)/m.exec(out)?.[1] ?? 0);
  return { reader: `${bin} t`, count: files + folders, bytes: size };
}

/** Runs `cmd` with the file piped into its stdin (a pipe, not a seekable file); its stdout. */
function runPiped(cmd: string, args: string[], file: string, install: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C.UTF-8' },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' ? missing(cmd, install) : e),
    );
    // A reader that stops early closes its stdin: that is its exit status's business.
    child.stdin.on('error', () => {});
    createReadStream(file).pipe(child.stdin);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString());
      else
        reject(
          new Error(`${cmd} exited with ${code}: ${Buffer.concat(err).toString().slice(-2000)}`),
        );
    });
  });
}

/** Java's streaming reader, java.util.zip.ZipInputStream, reading the archive from a pipe. */
export async function readWithJavaStream(file: string): Promise<ReaderReport> {
  const out = await runPiped(
    'java',
    [path.join(READERS_DIR, 'java', 'StreamZip.java')],
    file,
    'apt-get install -y openjdk-17-jdk-headless',
  );
  return JSON.parse(out) as ReaderReport;
}

/** stream-unzip (PyPI, in a venv of its own) reading the archive from a pipe. */
export async function readWithStreamUnzip(file: string): Promise<ReaderReport> {
  const python = ensureReadersVenv();
  const out = await runPiped(
    python,
    [path.join(READERS_DIR, 'python', 'stream_unzip_read.py')],
    file,
    'python3 with venv and pip',
  );
  return JSON.parse(out) as ReaderReport;
}

/**
 * libarchive's bsdtar extracting the archive from a pipe (`bsdtar -xvf -`): it checks every
 * entry's CRC-32 as it extracts; the names it reports and the files it wrote give the digest.
 */
export async function readWithBsdtarStream(file: string): Promise<ReaderReport> {
  const dir = mkdtempSync(path.join(tmpdir(), 'zipflow-bsdtar-'));
  try {
    // -v lists each entry on stderr as "x NAME"; stdout stays empty.
    const listed = await new Promise<string[]>((resolve, reject) => {
      const child = spawn('bsdtar', ['-xvf', '-', '-C', dir], {
        stdio: ['pipe', 'ignore', 'pipe'],
        env: { ...process.env, LC_ALL: 'C.UTF-8' },
      });
      const err: Buffer[] = [];
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (e: NodeJS.ErrnoException) =>
        reject(e.code === 'ENOENT' ? missing('bsdtar', 'apt-get install -y libarchive-tools') : e),
      );
      child.stdin.on('error', () => {});
      createReadStream(file).pipe(child.stdin);
      child.on('close', (code) => {
        const text = Buffer.concat(err).toString();
        if (code !== 0)
          return reject(new Error(`bsdtar exited with ${code}: ${text.slice(-2000)}`));
        resolve(
          text
            .split('\n')
            .filter((l) => l.startsWith('x '))
            .map((l) => l.slice(2)),
        );
      });
    });
    const h = createHash('sha256');
    let bytes = 0;
    for (const name of listed) {
      // Streamed, not read whole: an extracted entry may be past the 2 GiB readFileSync takes.
      let crc = 0;
      let size = 0;
      if (!name.endsWith('/'))
        for await (const c of createReadStream(path.join(dir, name), {
          highWaterMark: 1 << 20,
        }) as AsyncIterable<Buffer>) {
          crc = zlib.crc32(c, crc);
          size += c.length;
        }
      h.update(digestLine(name, crc, size));
      bytes += size;
    }
    return { reader: 'bsdtar -xf -', count: listed.length, bytes, digest: h.digest('hex') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Readers that see the archive only as a stream, front to back, from a pipe. */
export const STREAMING_READERS: ReadonlyArray<[string, (file: string) => Promise<ReaderReport>]> = [
  ['Java ZipInputStream', readWithJavaStream],
  ['bsdtar from stdin', readWithBsdtarStream],
  ['Python stream-unzip', readWithStreamUnzip],
];

export const ALL_READERS: ReadonlyArray<[string, (file: string) => Promise<ReaderReport>]> = [
  ['yauzl', readWithYauzl],
  ['python zipfile', readWithPython],
  ['unzip -t', readWithUnzip],
  ['zipinfo', readWithZipinfo],
  ['7-Zip', readWith7z],
  ['Go archive/zip', readWithGo],
  ['Java java.util.zip', readWithJava],
];
