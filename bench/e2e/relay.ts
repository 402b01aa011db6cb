/**
 * The S3-like network path of the benchmark's profiles: `zipflow-relay` (bench/relay/, Go),
 * built with the machine's Go into the tools cache under a hash of its source (a changed
 * source builds anew), and run between a measured process and MinIO.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { findGo, isExecutable, MACHINE_CACHE } from '../../src/client/dev/tools';
import { procCpuSeconds } from './procStatus';
import { REPO_ROOT } from './pythonVenv';

const SOURCE_DIR = path.join(REPO_ROOT, 'bench', 'relay');

/** What each connection through the relay gets, in each direction. */
export interface RelayShape {
  /** One-way delay, ms. */
  delayMs: number;
  /** Bytes per second per connection, client → store and store → client; 0: no cap. */
  upBytesPerSecond: number;
  downBytesPerSecond: number;
}

/** The relay's own counters (bytes are what it delivered). */
export interface RelayStats {
  connections: number;
  open: number;
  peakOpen: number;
  up: number;
  down: number;
}

function sourceHash(): string {
  const hash = crypto.createHash('sha256');
  for (const name of fs.readdirSync(SOURCE_DIR).sort()) {
    if (!/\.go$|^go\.mod$/.test(name)) continue;
    hash
      .update(name)
      .update('\0')
      .update(fs.readFileSync(path.join(SOURCE_DIR, name)));
  }
  return hash.digest('hex').slice(0, 12);
}

/** The relay binary, built into the tools cache when its source has no build there yet. */
export function ensureRelay(log: (line: string) => void = () => {}): string {
  const binary = path.join(MACHINE_CACHE, `zipflow-relay-${sourceHash()}`);
  if (isExecutable(binary)) return binary;
  const go = findGo();
  if (!go)
    throw new Error('building bench/relay needs Go 1.24 or later on PATH or in /usr/local/go');
  log(`building ${path.relative(REPO_ROOT, SOURCE_DIR)} into ${binary}`);
  fs.mkdirSync(MACHINE_CACHE, { recursive: true });
  // Built beside its final name and renamed, so a concurrent run never sees half a file.
  const partial = `${binary}.${process.pid}.tmp`;
  const build = spawnSync(go, ['build', '-trimpath', '-o', partial, '.'], {
    cwd: SOURCE_DIR,
    env: { ...process.env, GOFLAGS: '-buildvcs=false', GOTOOLCHAIN: 'local' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (build.status !== 0) throw new Error(`go build of bench/relay failed (exit ${build.status})`);
  fs.renameSync(partial, binary);
  return binary;
}

/** A running relay in front of one upstream host:port. */
export class Relay {
  private constructor(
    private readonly child: ChildProcess,
    /** `http://127.0.0.1:<port>`: the endpoint to give a measured process. */
    readonly endpoint: string,
    private readonly statsUrl: string,
  ) {}

  get pid(): number {
    return this.child.pid!;
  }

  static async start(
    upstream: URL,
    shape: RelayShape,
    log: (line: string) => void = () => {},
  ): Promise<Relay> {
    const binary = ensureRelay(log);
    const port = upstream.port || (upstream.protocol === 'https:' ? '443' : '80');
    const child = spawn(
      binary,
      [
        `-upstream=${upstream.hostname}:${port}`,
        `-delay=${shape.delayMs}ms`,
        `-up-rate=${shape.upBytesPerSecond}`,
        `-down-rate=${shape.downBytesPerSecond}`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const first = await new Promise<string>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      lines.once('line', (line) => {
        lines.close();
        resolve(line);
      });
      child.once('exit', (code) => reject(new Error(`zipflow-relay exited (${code})`)));
      child.once('error', reject);
    });
    const addresses = JSON.parse(first) as { listen: string; stats: string };
    return new Relay(
      child,
      `${upstream.protocol}//${addresses.listen}`,
      `http://${addresses.stats}/stats`,
    );
  }

  /** The counters; `resetPeak` restarts the peak of open connections from those open now. */
  async stats(resetPeak = false): Promise<RelayStats> {
    const response = await fetch(`${this.statsUrl}${resetPeak ? '?reset=1' : ''}`);
    return (await response.json()) as RelayStats;
  }

  /** CPU seconds (user + system) the relay has used so far. */
  cpuSeconds(): number {
    return procCpuSeconds(this.pid);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    await exited;
  }
}
