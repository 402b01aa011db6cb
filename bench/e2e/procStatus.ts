import fs from 'node:fs';

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
