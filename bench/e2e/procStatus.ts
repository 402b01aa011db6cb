import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const MiB = 1024 * 1024;

/** A field of /proc/<pid>/status in MiB (VmRSS: resident now; VmHWM: the process's peak). */
export function procStatusMiB(pid: number | 'self', field: 'VmRSS' | 'VmHWM'): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
  if (!match) throw new Error(`/proc/${pid}/status has no ${field}`);
  return (Number(match[1]) * 1024) / MiB;
}

/** Samples a process's VmRSS every `everyMs` until stopped; remembers the highest value. */
export class RssSampler {
  peakMiB = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    everyMs = 100,
  ) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.sample();
  }

  sample(): void {
    try {
      this.peakMiB = Math.max(this.peakMiB, procStatusMiB(this.pid, 'VmRSS'));
    } catch {
      /* the process has exited */
    }
  }

  stop(): number {
    this.sample();
    clearInterval(this.timer);
    return this.peakMiB;
  }
}

/** S3 bytes a measured process exchanged on the wire, headers included. */
export interface WireBytes {
  /** Store → process: response headers and bodies (GET data, listings). */
  read: number;
  /** Process → store: request headers and bodies (UploadPart data). */
  sent: number;
}

/**
 * What a process has read and written through read(2)/write(2) so far: `rchar` and `wchar` of
 * /proc/<pid>/io. Node's sockets use those calls, so across a run in which the process reads no
 * file, the difference is its S3 traffic plus what it logs. Checked against a counting relay
 * on `mid`: within 15 KB of it per run.
 */
export function procIoBytes(pid: number | 'self'): WireBytes {
  const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}: (\\d+)$`, 'm').exec(io);
    if (!match) throw new Error(`/proc/${pid}/io has no ${name}`);
    return Number(match[1]);
  };
  return { read: field('rchar'), sent: field('wchar') };
}

/** The bytes exchanged between two readings of `procIoBytes`. */
export function wireSince(start: WireBytes, end: WireBytes): WireBytes {
  return { read: end.read - start.read, sent: end.sent - start.sent };
}

let ticks: number | undefined;
/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ; 100 on Linux x86 and arm). */
function clockTicks(): number {
  ticks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticks;
}

/**
 * CPU seconds a process has used so far, user and system, all its threads (`utime` + `stime`
 * of /proc/<pid>/stat); its children are not counted.
 */
export function procCpuSeconds(pid: number | 'self'): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks();
}

/** The preload of `--memory-trace`: it writes a MemoryTrace to ZIPFLOW_BENCH_MEMORY_TRACE. */
export const MEMORY_TRACE = path.join(__dirname, 'memoryTrace.cjs');

interface MemorySnapshot {
  rss: number;
  heapTotal: number;
  arrayBuffers: number;
  mappings: Partial<Record<'mallocHeap' | 'v8Pages' | 'largeAnon' | 'smallAnon' | 'files', number>>;
}

/** What a worker's RSS was made of idle and at its highest, MiB, in one line for the log. */
export function memoryTraceSummary(file: string): string {
  let trace: { idle: MemorySnapshot; peak: MemorySnapshot };
  try {
    trace = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof trace;
  } catch {
    return `no memory trace in ${file}`;
  }
  const { idle, peak } = trace;
  const pair = (a: number | undefined, b: number | undefined): string =>
    `${(a ?? 0).toFixed(0)} → ${(b ?? 0).toFixed(0)}`;
  const m = (k: keyof MemorySnapshot['mappings']): string =>
    pair(idle.mappings[k], peak.mappings[k]);
  return [
    `worker memory idle → peak, MiB: RSS ${pair(idle.rss, peak.rss)}`,
    `V8 heap (main isolate) ${pair(idle.heapTotal, peak.heapTotal)}`,
    `ArrayBuffers ${pair(idle.arrayBuffers, peak.arrayBuffers)}`,
    `resident in: malloc heap ${m('mallocHeap')}, 256 KiB–1 MiB mappings (V8 pages) ${m('v8Pages')}`,
    `mappings ≥ 1 MiB (large Buffers, malloc arenas) ${m('largeAnon')}, files ${m('files')} (${file})`,
  ].join('; ');
}
