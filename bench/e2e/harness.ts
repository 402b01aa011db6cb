/**
 * The end-to-end benchmark: S3 (MinIO) → archive → S3 multipart upload, for zipflow's real
 * workflow and four baselines that write the same contents to the same store, next to two
 * probes of the store's own limits (GETs alone, UploadPartCopy alone). Each measured
 * implementation runs in its own process (zipflow: a `zipflow worker` process; baselines:
 * bench/e2e/baseline.ts or the Python script), its S3 traffic is counted by the process's own
 * /proc/<pid>/io (Python: by its sockets), its memory is read from /proc, and what it wrote is
 * read back and checked. Nothing sits between a process and the store.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DeleteBucketCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { google } from '@temporalio/proto';
import type { WorkflowHandle } from '@temporalio/client';
import { connect, isNoNewObjects, startArchive, type ZipflowClient } from '../../src/client';
import { createS3Client } from '../../src/s3/client';
import { deletePrefix } from '../../src/s3/objects';
import { ENV } from '../../src/runtime/config';
import { DEFAULT_PART_SIZE, DEFAULT_UPLOAD_CONCURRENCY } from '../../src/shared/limits';
import { MIN_PART_SIZE } from '../../src/shared/limits';
import { WORKER_ENV, WORKER_NODE_OPTIONS, WORKER_V8_FLAGS } from '../../src/workerRuntime';
import type { BaselineConfig, BaselineReport } from './baselineConfig';
import {
  ensureBucket,
  seedWorkload,
  specPrefix,
  type ExpectedObject,
  type WorkloadName,
  type WorkloadSpec,
} from './data';
import { describeNet, NET_PROFILES, SHAPED_WORKLOADS, type NetProfile } from './net';
import {
  MEMORY_TRACE,
  memoryTraceSummary,
  procCpuSeconds,
  procIoBytes,
  procStatusMiB,
  RssSampler,
  wireSince,
  type WireBytes,
} from './procStatus';
import { ensurePythonVenv, REPO_ROOT } from './pythonVenv';
import { Relay } from './relay';
import { verifyConcatenation, verifyReads, verifyZip, type Verification } from './verify';

export const IMPLEMENTATIONS = [
  'zipflow',
  'zipflow-copy',
  'raw',
  'direct',
  'archiver',
  'yazl',
  'zipstream',
  'seed',
  'gets',
  'copies',
] as const;
export type Implementation = (typeof IMPLEMENTATIONS)[number];
export type Baseline = Exclude<Implementation, 'zipflow' | 'zipflow-copy'>;
/** What writes the objects' bytes back to back, not a ZIP. */
const CONCATENATIONS: ReadonlySet<Implementation> = new Set(['raw', 'direct', 'copies']);

export const IMPLEMENTATION_LABELS: Record<Implementation, string> = {
  zipflow: 'zipflow (workflow, worker process)',
  'zipflow-copy': 'zipflow, server-side copy',
  raw: 'raw multipart, no ZIP (ceiling)',
  direct: 'raw multipart with zipflow’s requests (probe)',
  archiver: 'archiver 8 + Upload',
  yazl: 'yazl 3.3.1 + Upload',
  zipstream: 'zipstream-ng 1.9.3 + boto3',
  seed: 'seed recipe: zipstream 1.1.4 + boto3 upload_fileobj',
  gets: 'GETs only, nothing written (store ceiling)',
  copies: 'UploadPartCopy only, objects ≥ 5 MiB (store ceiling)',
};

export interface E2eOptions {
  quick: boolean;
  workloads: WorkloadName[];
  specs: Record<WorkloadName, WorkloadSpec>;
  implementations: Implementation[];
  /** Source bucket; seeds in it are reused when `keepSeeds` (a persistent store). */
  sourceBucket: string;
  destinationBucket: string;
  /** false: remove both buckets at the end (a shared test stack). */
  keepSeeds: boolean;
  partSize: number;
  /**
   * Parts in flight: fixed for every implementation when set (`--concurrency`); else zipflow
   * uses its own default (4, grown while the upload speeds up, within its upload budget) and
   * the Node and Python baselines DEFAULT_UPLOAD_CONCURRENCY.
   */
  concurrency?: number;
  level: number;
  /** Start the worker with the settings of src/workerRuntime.ts (as the Dockerfile does). */
  workerRuntime: boolean;
  /**
   * What the worker runs: compiled JavaScript (`dist`, built by buildDist first, as the package
   * and the Docker image run it) or the TypeScript sources through tsx (`sources`, as
   * bin/zipflow.js runs in a checkout).
   */
  workerFrom: 'dist' | 'sources';
  /** Preload bench/e2e/memoryTrace.cjs into the worker and log what its peak RSS is made of. */
  memoryTrace?: boolean;
  /** Start the worker with --cpu-prof: a .cpuprofile per run in logDir, written as it exits. */
  cpuProf?: boolean;
  /**
   * The stack's server processes when the bench started them: their CPU over each run is
   * measured too, as on loopback they share the machine's cores with the measured process.
   */
  servers?: { store: number; temporal: number };
  /** Entries per archive whose bytes are read back and compared. */
  samples: number;
  /** Times each implementation runs on a workload (interleaved); rows are the median run. */
  rounds: Record<WorkloadName, number>;
  /** The network paths, each run in turn: loopback, and profiles through zipflow-relay. */
  nets: NetProfile[];
  /** Rounds on a shaped path (its runs are longer, and the path sets their pace). */
  shapedRounds: number;
  /** A run of one implementation on one workload that takes longer is stopped and fails. */
  timeoutMinutes: number;
  logDir: string;
  log: (line: string) => void;
}

export interface E2eRow {
  workload: WorkloadName;
  implementation: Implementation;
  /** The network path's name (`loopback`, `near`, `far`, …); absent in runs before paths. */
  net?: string;
  entries: number;
  inputBytes: number;
  /** Size of what was written (the archive; raw: the concatenation). */
  outputBytes: number;
  seconds: number;
  /** Source (uncompressed) bytes / 10^6 / seconds. */
  mbPerSecond: number;
  objectsPerSecond: number;
  /** MB/s of each round, in the order run; the row's own figures are the median round's. */
  roundsMbPerSecond: number[];
  /** VmHWM of the process that did the work (zipflow: the worker, start-up included). */
  peakRssMiB: number;
  /** Highest VmRSS sampled every 100 ms while the workload ran. */
  sampledRssMiB: number;
  /** S3 bytes on the wire to and from the process (headers included), counted by /proc or the process. */
  s3BytesRead: number;
  s3BytesSent: number;
  /** CPU seconds (user + system, every thread) of the process over the timed span (/proc). */
  cpuSeconds?: number;
  /** `cpuSeconds` per 10^9 source bytes. */
  cpuSecondsPerGB?: number;
  /** On a shaped path: what went through the relay during the run. */
  relay?: RelayUse;
  /**
   * CPU seconds per 10^9 source bytes of the store (MinIO) and the Temporal server over the run,
   * when the bench started them (absent in runs before 2026-12-07).
   */
  serverCpuSecondsPerGB?: { store: number; temporal: number };
  /** zipflow's rate ÷ this row's (MB/s and objects/s give the same ratio: same inputs). */
  zipflowRatio: number;
  verification: Verification;
}

/** The relay's part in one measured run. */
export interface RelayUse {
  /** Most connections of the measured process open through the relay at once. */
  peakConnections: number;
  /** Bytes relayed, both directions. */
  bytes: number;
  /** The relay process's CPU over the run, and per 10^9 bytes relayed. */
  cpuSeconds: number;
  cpuSecondsPerGB: number;
}

export interface E2eTarget {
  workload: WorkloadName;
  /** The network path; absent in runs before paths (loopback). */
  net?: string;
  description: string;
  measured: number;
  /** How `measured` reads: a ratio, MiB, a percentage or CPU seconds per GB (met at or under). */
  unit: '×' | 'MiB' | '%' | 's/GB';
  target: number;
  met: boolean;
  /**
   * The best this run's own measurements allow (for a % target, the least): from the ceiling
   * row or a probe of the store, with how it was reached.
   */
  ceiling?: { value: number; what: string };
}

export interface E2eResult {
  startedAt: string;
  quick: boolean;
  node: string;
  machine: { cpus: number; loadAverageAtStart: number[] };
  options: Omit<E2eOptions, 'log' | 'logDir'>;
  seeds: Array<{ workload: WorkloadName; net?: string; reused: boolean; seconds: number }>;
  rows: E2eRow[];
  /** Baselines that could not do a workload on a path (absent in runs before 2026-12-06). */
  failures?: E2eFailure[];
  targets: E2eTarget[];
}

/**
 * A baseline that failed a workload: the run goes on without its row (the seed recipe cannot
 * write `large`: zipstream 1.1.4 refuses an entry that grows past 4 GiB). zipflow failing
 * still ends the run.
 */
export interface E2eFailure {
  workload: WorkloadName;
  net: string;
  implementation: Implementation;
  error: string;
}

/**
 * Runs `rounds` rounds of each implementation, interleaved. A baseline that fails is not run
 * again on this workload and has no row; any other failure ends the run.
 */
export async function runRounds(
  implementations: Implementation[],
  rounds: number,
  runOne: (implementation: Implementation, n: number) => Promise<E2eRow>,
): Promise<{ rows: E2eRow[]; failed: Map<Implementation, string> }> {
  const done = new Map<Implementation, E2eRow[]>(implementations.map((i) => [i, []]));
  const failed = new Map<Implementation, string>();
  for (let n = 1; n <= rounds; n += 1) {
    for (const implementation of implementations) {
      if (failed.has(implementation)) continue;
      try {
        done.get(implementation)!.push(await runOne(implementation, n));
      } catch (err) {
        if (implementation === 'zipflow' || implementation === 'zipflow-copy') throw err;
        failed.set(implementation, err instanceof Error ? err.message : String(err));
      }
    }
  }
  const rows = implementations.filter((i) => !failed.has(i)).map((i) => medianRow(done.get(i)!));
  return { rows, failed };
}

const MiB = 1024 * 1024;
const BIN = path.join(REPO_ROOT, 'bin', 'zipflow.js');
const DIST_WORKER = path.join(__dirname, 'distWorker.cjs');

/**
 * Compiles src/ as the package's build does (tsconfig.build.json), into the directory
 * distWorker.cjs runs, emptied first so that no module of an older build is left in it.
 */
export function buildDist(): void {
  const outDir = path.join(REPO_ROOT, '.tools', 'bench-dist');
  fs.rmSync(outDir, { recursive: true, force: true });
  const tsc = require.resolve('typescript/bin/tsc');
  const build = spawnSync(
    process.execPath,
    [tsc, '-p', 'tsconfig.build.json', '--outDir', outDir, '--declaration', 'false'],
    { cwd: REPO_ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (build.status !== 0)
    throw new Error(`compiling src/ for the worker failed (exit ${build.status})`);
}

export function defaultOptions(
  quick: boolean,
  specs: Record<WorkloadName, WorkloadSpec>,
): Omit<E2eOptions, 'log' | 'logDir' | 'sourceBucket' | 'destinationBucket' | 'keepSeeds'> {
  return {
    quick,
    workloads: ['mid', 'small', 'text', 'large'],
    specs,
    implementations: [...IMPLEMENTATIONS],
    partSize: DEFAULT_PART_SIZE,
    level: 6,
    workerRuntime: true,
    workerFrom: 'dist',
    samples: quick ? 4 : 12,
    // mid is short and its ratios are the closest targets: three rounds steady them. So does
    // large's against zipstream-ng on loopback, which single rounds put anywhere from 0.66× to
    // 1.36×: the store's CPU for the same reads moved that much between runs (benchmarks.md).
    rounds: { mid: quick ? 1 : 3, small: 1, text: 1, large: quick ? 1 : 3 },
    // --quick runs one profile (near, with tiny sizes); a full run loopback, near and far.
    nets: quick
      ? [NET_PROFILES.loopback, NET_PROFILES.near]
      : [NET_PROFILES.loopback, NET_PROFILES.near, NET_PROFILES.far],
    shapedRounds: 1,
    timeoutMinutes: quick ? 3 : 20,
  };
}

/** CPU seconds so far of the stack's store and Temporal server. */
function serversCpuSeconds(pids: { store: number; temporal: number }): {
  store: number;
  temporal: number;
} {
  return { store: procCpuSeconds(pids.store), temporal: procCpuSeconds(pids.temporal) };
}

function round(n: number, digits: number): number {
  return Number(n.toFixed(digits));
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Waits until the worker polls both the workflow and the activity task queue. */
async function waitForWorker(
  client: ZipflowClient,
  taskQueue: string,
  worker: ChildProcess,
): Promise<void> {
  const until = Date.now() + 180_000;
  const namespace = client.temporal.options.namespace;
  while (Date.now() < until) {
    if (worker.exitCode !== null) throw new Error(`zipflow worker exited (${worker.exitCode})`);
    const polled = await Promise.all(
      [1, 2].map(async (taskQueueType) => {
        const d = await client.temporal.workflowService.describeTaskQueue({
          namespace,
          taskQueue: { name: taskQueue },
          taskQueueType,
        });
        return (d.pollers ?? []).length > 0;
      }),
    );
    if (polled.every(Boolean)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`zipflow worker did not poll ${taskQueue} within 180 s`);
}

interface Measured {
  entries: number;
  seconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  sampledRssMiB: number;
  wire: WireBytes;
  /** gets: what it read of each object. */
  read?: BaselineReport['read'];
  /** The stack's servers' CPU seconds over the timed span (zipflow) or the process's life. */
  serversCpu?: { store: number; temporal: number };
}

class Bench {
  private readonly runId = `run-${new Date().toISOString().replace(/[:.]/g, '-')}-${crypto.randomBytes(3).toString('hex')}`;
  /** The path being measured: measured processes reach the store through its relay, if any. */
  private net: NetProfile = NET_PROFILES.loopback;
  private relay: Relay | undefined;
  /** Most connections zipflow held on this workload and path: raw multipart gets as many. */
  private zipflowConnections: number | undefined;

  constructor(
    private readonly o: E2eOptions,
    private readonly s3: S3Client,
    private readonly temporal: ZipflowClient,
    private readonly storeEndpoint: string,
  ) {}

  /** The S3 endpoint given to measured processes. */
  private get endpoint(): string {
    return this.relay?.endpoint ?? this.storeEndpoint;
  }

  /** Measures over `net` from now on, through `relay` when it is shaped. */
  onPath(net: NetProfile, relay: Relay | undefined): void {
    this.net = net;
    this.relay = relay;
  }

  private get timeoutMs(): number {
    return this.o.timeoutMinutes * 60_000;
  }

  private timedOut(implementation: Implementation, spec: WorkloadSpec): Error {
    return new Error(
      `${implementation} did not finish ${spec.name} within ${this.o.timeoutMinutes} min (--timeout-min); see ${this.o.logDir}/${this.runId}-${spec.name}-*.log`,
    );
  }

  private logPath(name: string): string {
    const net = this.net.shape ? `${this.net.name}-` : '';
    return path.join(this.o.logDir, `${this.runId}-${net}${name}.log`);
  }

  /**
   * Starts counting the stack's servers' CPU (when the bench started them); the function
   * returned gives the seconds each used since.
   */
  private serversCpu(): (() => { store: number; temporal: number }) | undefined {
    const pids = this.o.servers;
    if (!pids) return undefined;
    const before = serversCpuSeconds(pids);
    return () => {
      const now = serversCpuSeconds(pids);
      return { store: now.store - before.store, temporal: now.temporal - before.temporal };
    };
  }

  private logFile(name: string): number {
    fs.mkdirSync(this.o.logDir, { recursive: true });
    return fs.openSync(this.logPath(name), 'a');
  }

  async zipflow(spec: WorkloadSpec, key: string, serverSideCopy = false): Promise<Measured> {
    const taskQueue = `bench-${spec.name}-${crypto.randomBytes(4).toString('hex')}`;
    const log = this.logFile(`${spec.name}-zipflow-worker`);
    const runtime = this.o.workerRuntime;
    const trace = this.o.memoryTrace
      ? path.join(this.o.logDir, `${this.runId}-${this.net.name}-${spec.name}-memory.json`)
      : undefined;
    const worker = spawn(
      process.execPath,
      [
        ...(runtime ? WORKER_NODE_OPTIONS : []),
        ...(trace ? ['--require', MEMORY_TRACE] : []),
        ...(this.o.cpuProf
          ? [
              '--cpu-prof',
              `--cpu-prof-dir=${this.o.logDir}`,
              `--cpu-prof-name=${this.runId}-${this.net.name}-${spec.name}-worker-\${pid}.cpuprofile`,
            ]
          : []),
        this.o.workerFrom === 'dist' ? DIST_WORKER : BIN,
        'worker',
      ],
      {
        cwd: REPO_ROOT,
        env: {
          ...process.env,
          ...(runtime ? WORKER_ENV : {}),
          ...(trace ? { ZIPFLOW_BENCH_MEMORY_TRACE: trace } : {}),
          [ENV.s3Endpoint]: this.endpoint,
          [ENV.taskQueue]: taskQueue,
        },
        stdio: ['ignore', log, log],
      },
    );
    fs.closeSync(log);
    try {
      await waitForWorker(this.temporal, taskQueue, worker);
      const sampler = new RssSampler(worker.pid!);
      const io = procIoBytes(worker.pid!);
      const cpu = procCpuSeconds(worker.pid!);
      const servers = this.serversCpu();
      const started = process.hrtime.bigint();
      const handle = await startArchive(
        { ...this.temporal, taskQueue },
        {
          source: { bucket: this.o.sourceBucket, prefix: specPrefix(spec) },
          destination: { bucket: this.o.destinationBucket, key },
          compression: {
            method: spec.compression,
            ...(spec.compression === 'deflate' ? { level: this.o.level } : {}),
          },
          partSize: this.o.partSize,
          ...(this.o.concurrency === undefined ? {} : { uploadConcurrency: this.o.concurrency }),
          ...(serverSideCopy ? { serverSideCopy } : {}),
        },
      );
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(this.timedOut('zipflow', spec)), this.timeoutMs);
      });
      const result = await Promise.race([handle.result(), timeout]).catch(async (err: unknown) => {
        await handle.terminate('benchmark run timed out').catch(() => {});
        throw err;
      });
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const cpuSeconds = procCpuSeconds(worker.pid!) - cpu;
      const serversCpu = servers && servers();
      const sampledRssMiB = sampler.stop();
      const wire = wireSince(io, procIoBytes(worker.pid!));
      if (isNoNewObjects(result)) throw new Error('zipflow wrote no archive');
      this.o.log(`${spec.name}: zipflow activities: ${await activityTimes(handle)}`);
      if (trace) this.o.log(`${spec.name}: ${memoryTraceSummary(trace)}`);
      return {
        entries: result.entries,
        seconds,
        cpuSeconds,
        peakRssMiB: procStatusMiB(worker.pid!, 'VmHWM'),
        sampledRssMiB,
        wire,
        ...(serversCpu ? { serversCpu } : {}),
      };
    } finally {
      await stopChild(worker);
    }
  }

  async baseline(kind: Baseline, spec: WorkloadSpec, key: string): Promise<Measured> {
    const config: BaselineConfig = {
      kind,
      sourceBucket: this.o.sourceBucket,
      prefix: specPrefix(spec),
      destinationBucket: this.o.destinationBucket,
      destinationKey: key,
      compression: spec.compression,
      level: this.o.level,
      partSize: this.o.partSize,
      concurrency: this.baselineConcurrency,
      // Raw multipart on a shaped path holds as many connections as zipflow did (its GETs
      // ahead and its part uploads); on loopback it reads 16 objects ahead.
      readAhead:
        this.relay && this.zipflowConnections !== undefined
          ? Math.max(1, this.zipflowConnections - this.baselineConcurrency)
          : 16,
    };
    const [command, ...args] =
      kind === 'zipstream' || kind === 'seed'
        ? [
            ensurePythonVenv(kind, this.o.log),
            path.join(__dirname, kind === 'seed' ? 'seed_zipstream.py' : 'zipstream_boto3.py'),
          ]
        : [process.execPath, '--import', 'tsx', path.join(__dirname, 'baseline.ts')];
    const log = this.logFile(`${spec.name}-${kind}`);
    const child = spawn(command, [...args, JSON.stringify(config)], {
      cwd: REPO_ROOT,
      env: { ...process.env, [ENV.s3Endpoint]: this.endpoint },
      stdio: ['ignore', 'pipe', log],
    });
    fs.closeSync(log);
    const sampler = new RssSampler(child.pid!);
    const servers = this.serversCpu();
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, this.timeoutMs);
    const code = await new Promise<number>((resolve) =>
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1))),
    );
    clearTimeout(timer);
    const serversCpu = servers && servers();
    const sampledRssMiB = sampler.stop();
    if (timedOut) throw this.timedOut(kind, spec);
    if (code !== 0) {
      // The last line of its log says why (a Python traceback ends with the exception).
      const logPath = this.logPath(`${spec.name}-${kind}`);
      const last = fs.readFileSync(logPath, 'utf8').trim().split('\n').pop()?.slice(0, 300);
      throw new Error(`exit ${code}, "${last ?? ''}" (${path.relative(REPO_ROOT, logPath)})`);
    }
    const report = JSON.parse(stdout.trim().split('\n').pop()!) as BaselineReport;
    return {
      entries: report.entries,
      seconds: report.seconds,
      cpuSeconds: report.cpuSeconds,
      peakRssMiB: report.vmHwmMiB,
      sampledRssMiB,
      wire: report.wire,
      read: report.read,
      ...(serversCpu ? { serversCpu } : {}),
    };
  }

  /**
   * Runs every implementation on one workload, `rounds` times over, interleaved (zipflow, raw,
   * archiver, …, then again), so that a slow spell of the shared machine falls on several
   * implementations rather than on one. Each row is the implementation's median round.
   */
  async workload(
    spec: WorkloadSpec,
    expected: ExpectedObject[],
  ): Promise<{ rows: E2eRow[]; failures: E2eFailure[] }> {
    const implementations = this.o.implementations.filter((i) => runsOn(i, spec));
    this.zipflowConnections = undefined;
    const { rows, failed } = await runRounds(implementations, this.rounds(spec), (i, n) =>
      this.round(spec, expected, i, n),
    );
    const failures = [...failed].map(([implementation, error]) => {
      this.o.log(`${spec.name} (${this.net.name}): ${implementation} FAILED: ${error}`);
      return { workload: spec.name, net: this.net.name, implementation, error };
    });
    const zipflow = rows.find((r) => r.implementation === 'zipflow');
    for (const r of rows) {
      r.zipflowRatio = zipflow ? round(zipflow.mbPerSecond / r.mbPerSecond, 2) : NaN;
    }
    return { rows, failures };
  }

  /** The baselines' parts in flight (their uploads do not grow). */
  private get baselineConcurrency(): number {
    return this.o.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY;
  }

  private rounds(spec: WorkloadSpec): number {
    return this.relay ? this.o.shapedRounds : this.o.rounds[spec.name];
  }

  private async round(
    spec: WorkloadSpec,
    workload: ExpectedObject[],
    implementation: Implementation,
    n: number,
  ): Promise<E2eRow> {
    const expected = implementation === 'copies' ? copyable(workload) : workload;
    const inputBytes = expected.reduce((sum, o) => sum + o.size, 0);
    const base = `${this.runId}/${this.net.name}/${spec.name}/${implementation}-${n}`;
    const key = `${base}.${CONCATENATIONS.has(implementation) ? 'bin' : 'zip'}`;
    const of = this.rounds(spec) > 1 ? ` (round ${n} of ${this.rounds(spec)})` : '';
    const on = `${spec.name} (${this.net.name})`;
    this.o.log(`${on}: ${IMPLEMENTATION_LABELS[implementation]}${of}`);
    const relay = this.relay;
    const relayBefore = relay && { stats: await relay.stats(true), cpu: relay.cpuSeconds() };
    const m =
      implementation === 'zipflow' || implementation === 'zipflow-copy'
        ? await this.zipflow(spec, key, implementation === 'zipflow-copy')
        : await this.baseline(implementation, spec, key);
    let relayUse: RelayUse | undefined;
    if (relay && relayBefore) {
      const stats = await relay.stats();
      const cpuSeconds = relay.cpuSeconds() - relayBefore.cpu;
      const bytes = stats.up + stats.down - relayBefore.stats.up - relayBefore.stats.down;
      relayUse = {
        peakConnections: stats.peakOpen,
        bytes,
        cpuSeconds: round(cpuSeconds, 2),
        cpuSecondsPerGB: bytes > 0 ? round(cpuSeconds / (bytes / 1e9), 2) : 0,
      };
      if (implementation === 'zipflow') this.zipflowConnections = stats.peakOpen;
    }
    const serverCpu = m.serversCpu && {
      store: round(m.serversCpu.store / (inputBytes / 1e9), 2),
      temporal: round(m.serversCpu.temporal / (inputBytes / 1e9), 2),
    };
    if (m.entries !== expected.length) {
      throw new Error(`${implementation} archived ${m.entries} objects of ${expected.length}`);
    }
    const location = { bucket: this.o.destinationBucket, key };
    const readBack = { client: this.s3, location, spec, expected, samples: this.o.samples };
    const verification =
      implementation === 'gets'
        ? verifyReads(expected, m.read ?? [])
        : CONCATENATIONS.has(implementation)
          ? await verifyConcatenation(readBack)
          : await verifyZip(readBack);
    const outputBytes = implementation === 'gets' ? 0 : await this.sizeOf(key);
    await deletePrefix(this.s3, this.o.destinationBucket, base);
    const mbPerSecond = round(inputBytes / 1e6 / m.seconds, 1);
    const row: E2eRow = {
      workload: spec.name,
      implementation,
      entries: m.entries,
      inputBytes,
      outputBytes,
      seconds: round(m.seconds, 2),
      mbPerSecond,
      objectsPerSecond: round(m.entries / m.seconds, 1),
      roundsMbPerSecond: [mbPerSecond],
      peakRssMiB: round(m.peakRssMiB, 1),
      sampledRssMiB: round(m.sampledRssMiB, 1),
      s3BytesRead: m.wire.read,
      s3BytesSent: m.wire.sent,
      net: this.net.name,
      cpuSeconds: round(m.cpuSeconds, 2),
      cpuSecondsPerGB: round(m.cpuSeconds / (inputBytes / 1e9), 2),
      ...(relayUse ? { relay: relayUse } : {}),
      ...(serverCpu ? { serverCpuSecondsPerGB: serverCpu } : {}),
      zipflowRatio: NaN,
      verification,
    };
    this.o.log(
      `${on}: ${implementation} ${row.seconds} s, ${row.mbPerSecond} MB/s, ${row.objectsPerSecond} objects/s, CPU ${row.cpuSecondsPerGB} s/GB${serverCpu ? ` (MinIO ${serverCpu.store}, Temporal ${serverCpu.temporal} s/GB)` : ''}, peak RSS ${row.peakRssMiB} MiB, verified ${verification.entries} entries (${verification.sampledEntries} read back)${relayUse ? `; relay: ${relayUse.peakConnections} connections at most, ${relayUse.cpuSecondsPerGB} s CPU/GB relayed` : ''}`,
    );
    return row;
  }

  private async sizeOf(key: string): Promise<number> {
    const head = await this.s3.send(
      new HeadObjectCommand({ Bucket: this.o.destinationBucket, Key: key }),
    );
    return head.ContentLength ?? 0;
  }
}

/**
 * One row for an implementation's rounds: the round with the median time (of an even number,
 * the slower middle one), with the highest memory of any round and every round's MB/s.
 */
export function medianRow(rounds: E2eRow[]): E2eRow {
  const bySeconds = [...rounds].sort((a, b) => a.seconds - b.seconds);
  const median = bySeconds[Math.floor(bySeconds.length / 2)];
  return {
    ...median,
    roundsMbPerSecond: rounds.map((r) => r.mbPerSecond),
    peakRssMiB: Math.max(...rounds.map((r) => r.peakRssMiB)),
    sampledRssMiB: Math.max(...rounds.map((r) => r.sampledRssMiB)),
  };
}

/**
 * Server-side copy needs STORE entries and places only objects of 5 MiB or more: it is run
 * where it can copy something (mid, large), not on text (DEFLATE) or small (all under 16 KiB).
 */
export function runsOn(implementation: Implementation, spec: WorkloadSpec): boolean {
  const copyRuns = spec.compression === 'store' && spec.name !== 'small';
  if (implementation === 'zipflow-copy') return copyRuns;
  // The probes run where they bound a target: GETs on small, copies where something is copied.
  if (implementation === 'gets') return spec.name === 'small';
  // The direct probe bounds the targets against the Python recipes on mid and large.
  if (implementation === 'direct') return spec.name === 'mid' || spec.name === 'large';
  if (implementation === 'copies')
    return copyRuns && Math.max(spec.maxBytes, spec.largeBytes ?? 0) >= MIN_PART_SIZE;
  return true;
}

/** Objects server-side copy may place (5 MiB or more), in listing order. */
function copyable(objects: ExpectedObject[]): ExpectedObject[] {
  return objects.filter((o) => o.size >= MIN_PART_SIZE);
}

/**
 * The targets, each with the most this run's own measurements allow where a probe or the
 * ceiling row bounds it: a target beyond that is out of reach, on this store and machine, for
 * an archiver that reads and writes through the AWS SDK for JavaScript.
 */
export function targets(rows: E2eRow[]): E2eTarget[] {
  const nets = [...new Set(rows.map(netOf))];
  return nets.flatMap((net) =>
    targetsOn(
      net,
      rows.filter((r) => netOf(r) === net),
    ),
  );
}

/** A row's or target's path: runs from before there were paths were all on loopback. */
export function netOf(x: { net?: string }): string {
  return x.net ?? 'loopback';
}

/** The targets on one path, from its rows. */
function targetsOn(net: string, rows: E2eRow[]): E2eTarget[] {
  const out: E2eTarget[] = [];
  const row = (w: WorkloadName, i: Implementation): E2eRow | undefined =>
    rows.find((r) => r.workload === w && r.implementation === i);
  const push = (t: Omit<E2eTarget, 'met' | 'net'>, met: boolean): void => {
    out.push({ ...t, net, met });
  };
  const ratio = (
    w: WorkloadName,
    baseline: Baseline,
    target: number,
    what: string,
    bound?: { by: Implementation[]; what: string },
    suffix = '',
  ): void => {
    const z = row(w, 'zipflow');
    const b = row(w, baseline);
    if (!z || !b) return;
    // The same inputs, so the ratio of times is the ratio of MB/s and of objects/s, unrounded.
    const measured = round(b.seconds / z.seconds, 2);
    // The fastest of the rows that bound it.
    const by = bound?.by
      .map((i) => row(w, i))
      .filter((r) => r !== undefined)
      .sort((x, y) => x.seconds - y.seconds)[0];
    push(
      {
        workload: w,
        description: `${what} ≥ ${target}× ${IMPLEMENTATION_LABELS[baseline]}${suffix}`,
        measured,
        unit: '×',
        target,
        ...(by ? { ceiling: { value: round(b.seconds / by.seconds, 2), what: bound.what } } : {}),
      },
      measured >= target,
    );
  };
  /** zipflow's worker CPU per GB at most the baseline's. */
  const cpu = (w: WorkloadName, baseline: Baseline): void => {
    const z = row(w, 'zipflow')?.cpuSecondsPerGB;
    const b = row(w, baseline)?.cpuSecondsPerGB;
    if (z === undefined || b === undefined) return;
    push(
      {
        workload: w,
        description: `worker CPU s/GB ≤ ${IMPLEMENTATION_LABELS[baseline]}’s`,
        measured: z,
        unit: 's/GB',
        target: b,
      },
      z <= b,
    );
  };
  if (net === 'loopback') {
    ratio('mid', 'raw', 0.9, 'MB/s');
    ratio('mid', 'archiver', 1.5, 'MB/s', {
      by: ['raw'],
      what: 'raw multipart ÷ archiver: the AWS SDK for JavaScript’s ceiling',
    });
    // Raw multipart GETs every object too (16 ahead), and has been the faster of the two.
    ratio('small', 'archiver', 3, 'objects/s', {
      by: ['gets', 'raw'],
      what: 'the faster of GETs only and raw multipart, ÷ archiver',
    });
    // Never slower than the script it replaces, nor dearer in CPU.
    for (const w of ['mid', 'large'] as const) {
      ratio(w, 'seed', 1, 'MB/s');
      ratio(w, 'zipstream', 1, 'MB/s', {
        by: ['direct'],
        what: 'raw multipart with zipflow’s requests ÷ zipstream-ng: a Node process with them, no ZIP',
      });
      cpu(w, 'seed');
    }
  }
  if (net === 'near' || net === 'far') {
    ratio('mid', 'seed', 4, 'MB/s');
    const connections = (i: Implementation): string =>
      String(row('mid', i)?.relay?.peakConnections ?? '?');
    ratio(
      'mid',
      'raw',
      0.8,
      'MB/s',
      undefined,
      `, as many connections (zipflow ${connections('zipflow')}, raw ${connections('raw')})`,
    );
  }
  if (net === 'far') ratio('small', 'seed', 10, 'objects/s');
  for (const c of rows.filter((r) => r.implementation === 'zipflow-copy')) {
    const streaming = row(c.workload, 'zipflow');
    const copies = row(c.workload, 'copies');
    // Objects under 5 MiB cannot be copied (S3's part minimum): they are streamed, at best as
    // fast as streaming goes, while the rest is copied at best as fast as the probe copies.
    const streamedBytes = copies && c.inputBytes - copies.inputBytes;
    if (streaming && c.workload === 'mid' && net === 'loopback') {
      const measured = round(streaming.seconds / c.seconds, 2);
      const share = streamedBytes === undefined ? undefined : streamedBytes / c.inputBytes;
      const best =
        copies && share !== undefined
          ? 1 / Math.max(share, ((1 - share) * streaming.mbPerSecond) / copies.mbPerSecond)
          : undefined;
      push(
        {
          workload: c.workload,
          description: `server-side copy MB/s ≥ 3× ${IMPLEMENTATION_LABELS.zipflow}`,
          measured,
          unit: '×',
          target: 3,
          ...(best !== undefined
            ? {
                ceiling: {
                  value: round(best, 2),
                  what: 'objects under 5 MiB streamed at the streaming rate, the rest copied at the probe’s',
                },
              }
            : {}),
        },
        measured >= 3,
      );
    }
    // What the worker read from S3 (source bytes, plus responses and state objects) as a share
    // of the archive: a byte that passes through is read once and sent once.
    const share = round((100 * c.s3BytesRead) / c.outputBytes, 2);
    push(
      {
        workload: c.workload,
        description: 'server-side copy: bytes through the worker (S3 read) < 2% of the archive',
        measured: share,
        unit: '%',
        target: 2,
        ...(streamedBytes !== undefined
          ? {
              ceiling: {
                value: round((100 * streamedBytes) / c.outputBytes, 2),
                what: 'objects under 5 MiB, which are streamed',
              },
            }
          : {}),
      },
      share < 2,
    );
  }
  for (const z of rows.filter(
    (r) => r.implementation === 'zipflow' || r.implementation === 'zipflow-copy',
  )) {
    push(
      {
        workload: z.workload,
        description: `peak worker RSS (VmHWM) ≤ 256 MiB${z.implementation === 'zipflow-copy' ? ', server-side copy' : ''}`,
        measured: z.peakRssMiB,
        unit: 'MiB',
        target: 256,
      },
      z.peakRssMiB <= 256,
    );
  }
  return out;
}

/** Whether the target's own ceiling (a floor for a % target) lets it be met on this store. */
export function reachable(t: E2eTarget): boolean {
  if (!t.ceiling) return true;
  return t.unit === '%' ? t.ceiling.value < t.target : t.ceiling.value >= t.target;
}

/**
 * A workload as run over `net`: on a shaped path only `mid` and `small`, with at most the
 * path's number of objects (undefined: not run there).
 */
export function specOnPath(spec: WorkloadSpec, net: NetProfile): WorkloadSpec | undefined {
  if (!net.shape) return spec;
  if (!SHAPED_WORKLOADS.includes(spec.name)) return undefined;
  const count = net.counts?.[spec.name];
  return count === undefined ? spec : { ...spec, count: Math.min(spec.count, count) };
}

/** Runs every workload against the stack named by the environment (TEMPORAL_*, AWS_*). */
export async function runE2eBench(o: E2eOptions): Promise<E2eResult> {
  const startedAt = new Date().toISOString();
  const loadAverageAtStart = os.loadavg().map((n) => round(n, 2));
  if (o.implementations.includes('zipstream')) ensurePythonVenv('zipstream', o.log);
  if (o.implementations.includes('seed')) ensurePythonVenv('seed', o.log);
  if (o.workerFrom === 'dist' && o.implementations.some((i) => i.startsWith('zipflow'))) {
    o.log('compiling src/ for the zipflow worker into .tools/bench-dist/');
    buildDist();
  }
  const storeEndpoint = process.env[ENV.s3Endpoint];
  if (!storeEndpoint) throw new Error(`${ENV.s3Endpoint} is not set`);
  const s3 = await createS3Client();
  const temporal = await connect();
  const seeds: E2eResult['seeds'] = [];
  const rows: E2eRow[] = [];
  const failures: E2eFailure[] = [];
  try {
    await ensureBucket(s3, o.sourceBucket);
    await ensureBucket(s3, o.destinationBucket);
    const bench = new Bench(o, s3, temporal, storeEndpoint);
    for (const net of o.nets) {
      const relay = net.shape
        ? await Relay.start(new URL(storeEndpoint), net.shape, o.log)
        : undefined;
      if (relay)
        o.log(`${net.name}: ${describeNet(net)}, through zipflow-relay at ${relay.endpoint}`);
      try {
        bench.onPath(net, relay);
        for (const name of o.workloads) {
          const spec = specOnPath(o.specs[name], net);
          if (!spec) continue;
          // Seeded straight into the store: only the measured runs take the path.
          const seed = await seedWorkload(s3, o.sourceBucket, spec, o.log);
          seeds.push({
            workload: name,
            net: net.name,
            reused: seed.reused,
            seconds: round(seed.seconds, 1),
          });
          const done = await bench.workload(spec, seed.objects);
          rows.push(...done.rows);
          failures.push(...done.failures);
        }
      } finally {
        await relay?.stop();
      }
    }
  } finally {
    if (!o.keepSeeds) {
      for (const bucket of [o.sourceBucket, o.destinationBucket]) {
        await deletePrefix(s3, bucket, '').catch(() => {});
        await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
      }
    }
    await temporal.close();
    s3.destroy();
  }
  const options: E2eResult['options'] = {
    quick: o.quick,
    workloads: o.workloads,
    specs: o.specs,
    implementations: o.implementations,
    sourceBucket: o.sourceBucket,
    destinationBucket: o.destinationBucket,
    keepSeeds: o.keepSeeds,
    partSize: o.partSize,
    concurrency: o.concurrency,
    level: o.level,
    workerRuntime: o.workerRuntime,
    workerFrom: o.workerFrom,
    samples: o.samples,
    rounds: o.rounds,
    nets: o.nets,
    shapedRounds: o.shapedRounds,
    timeoutMinutes: o.timeoutMinutes,
  };
  return {
    startedAt,
    quick: o.quick,
    node: process.version,
    machine: { cpus: os.cpus().length, loadAverageAtStart },
    options,
    seeds,
    rows,
    failures,
    targets: targets(rows),
  };
}

/** Under the table: each baseline that could not do a workload, and why. */
function failureLines(failures: E2eFailure[]): string[] {
  if (failures.length === 0) return [];
  return [
    '',
    ...failures.map(
      (f) =>
        `Failed, so not in the table: ${IMPLEMENTATION_LABELS[f.implementation]} on ${f.workload} (${f.net}): ${f.error.replaceAll('|', '\\|')}.`,
    ),
  ];
}

function mb(bytes: number): string {
  return (bytes / 1e6).toLocaleString('en-US', {
    maximumFractionDigits: 1,
    minimumFractionDigits: 1,
  });
}

function num(n: number, digits = 1): string {
  return n.toLocaleString('en-US', {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}

/** The Markdown tables for docs/benchmarks.md. */
export function e2eMarkdown(r: E2eResult): string {
  const lines = [
    `Run ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC${r.quick ? ' (--quick sizes)' : ''}: Node ${r.node}, ${r.machine.cpus} vCPU, load average ${r.machine.loadAverageAtStart.join(' / ')} at start; part size ${r.options.partSize / MiB} MiB, ${r.options.concurrency ?? `zipflow's default (grown from ${DEFAULT_UPLOAD_CONCURRENCY}) and ${DEFAULT_UPLOAD_CONCURRENCY} for the baselines'`} parts in flight, DEFLATE level ${r.options.level}, zipflow worker ${
      // Runs saved before workerFrom ran the sources.
      r.options.workerFrom === 'dist'
        ? 'run from compiled JavaScript'
        : 'run from the sources through tsx'
    } ${
      r.options.workerRuntime
        ? `started with ${WORKER_NODE_OPTIONS.join(' ')} ${Object.entries(WORKER_ENV)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}, setting ${WORKER_V8_FLAGS.join(' ')} itself (src/workerRuntime.ts)`
        : 'started with no node options'
    }.`,
    '',
    ...pathLines(r),
    '',
    '| path | workload | implementation | objects | input MB | output MB | seconds | MB/s (each round) | objects/s | CPU s/GB | MinIO / Temporal CPU s/GB | peak RSS MiB (VmHWM / max sampled in run) | S3 read MB | S3 sent MB | connections | relay CPU s/GB | zipflow ÷ this | verified |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...r.rows.map(
      (row) =>
        `| ${netOf(row)} | ${row.workload} | ${IMPLEMENTATION_LABELS[row.implementation]} | ${row.entries.toLocaleString('en-US')} | ${mb(row.inputBytes)} | ${mb(row.outputBytes)} | ${num(row.seconds, 2)} | ${num(row.mbPerSecond)}${row.roundsMbPerSecond.length > 1 ? ` (${row.roundsMbPerSecond.map((x) => num(x)).join(', ')})` : ''} | ${num(row.objectsPerSecond)} | ${optional(row.cpuSecondsPerGB, 2)} | ${row.serverCpuSecondsPerGB ? `${num(row.serverCpuSecondsPerGB.store, 2)} / ${num(row.serverCpuSecondsPerGB.temporal, 2)}` : '—'} | ${num(row.peakRssMiB, 0)} / ${num(row.sampledRssMiB, 0)} | ${mb(row.s3BytesRead)} | ${mb(row.s3BytesSent)} | ${optional(row.relay?.peakConnections, 0)} | ${optional(row.relay?.cpuSecondsPerGB, 2)} | ${row.implementation === 'zipflow' ? '—' : `${num(row.zipflowRatio, 2)}×`} | ${verifiedCell(row)} |`,
    ),
    ...failureLines(r.failures ?? []),
    '',
    '| path | workload | target | measured | ceiling in this run | status |',
    '| --- | --- | --- | ---: | --- | --- |',
    ...r.targets.map((t) => {
      const value = (n: number): string =>
        t.unit === 'MiB'
          ? `${num(n, 0)} MiB`
          : t.unit === '%'
            ? `${num(n, 2)}%`
            : t.unit === 's/GB'
              ? `${num(n, 2)} s/GB`
              : `${num(n, 2)}×`;
      const ceiling = t.ceiling ? `${value(t.ceiling.value)} (${t.ceiling.what})` : '—';
      const status = t.met ? 'met' : reachable(t) ? 'missed' : 'missed, beyond this run’s ceiling';
      const description =
        t.unit === 's/GB' ? `${t.description} (${value(t.target)})` : t.description;
      return `| ${netOf(t)} | ${t.workload} | ${description} | ${value(t.measured)} | ${ceiling} | ${status} |`;
    }),
  ];
  return `${lines.join('\n')}\n`;
}

function optional(n: number | undefined, digits: number): string {
  return n === undefined ? '—' : num(n, digits);
}

/** One line per path: its shape, and on a shaped one the relay's CPU over all its runs. */
function pathLines(r: E2eResult): string[] {
  return (r.options.nets ?? []).map((net) => {
    const used = r.rows.filter((row) => netOf(row) === net.name && row.relay);
    const cpu = used.reduce((n, row) => n + row.relay!.cpuSeconds, 0);
    const bytes = used.reduce((n, row) => n + row.relay!.bytes, 0);
    const relay =
      used.length > 0 && bytes > 0
        ? `; zipflow-relay used ${num(cpu, 2)} s of CPU for ${num(bytes / 1e9, 2)} GB relayed (${num(cpu / (bytes / 1e9), 2)} s/GB)`
        : '';
    return `- \`${net.name}\`: ${describeNet(net)}${relay}.`;
  });
}

function verifiedCell(row: E2eRow): string {
  const n = row.verification.entries.toLocaleString('en-US');
  if (row.implementation === 'gets') return `${n} objects, each one's size and CRC-32`;
  return `${n} entries, ${row.verification.sampledEntries} read back`;
}

export const DOC_START = '<!-- bench:e2e:start -->';
export const DOC_END = '<!-- bench:e2e:end -->';

/** Replaces the generated section of docs/benchmarks.md, keeping everything around it. */
export function replaceDocSection(doc: string, section: string): string {
  const start = doc.indexOf(DOC_START);
  const end = doc.indexOf(DOC_END);
  if (start < 0 || end < start)
    throw new Error(`docs/benchmarks.md has no ${DOC_START} … ${DOC_END} section`);
  return `${doc.slice(0, start + DOC_START.length)}\n\n${section.trim()}\n\n${doc.slice(end)}`;
}

/** "name 1.23 s, name ×3 0.40 s, …": time from scheduled to closed, summed by activity. */
async function activityTimes(handle: WorkflowHandle): Promise<string> {
  const { events } = await handle.fetchHistory();
  const ms = (t: google.protobuf.ITimestamp | null | undefined) =>
    Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
  const scheduled = new Map<string, { name: string; at: number }>();
  const byName = new Map<string, { count: number; ms: number }>();
  for (const e of events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s)
      scheduled.set(String(e.eventId), { name: s.activityType?.name ?? '?', at: ms(e.eventTime) });
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes;
    const from = done && scheduled.get(String(done.scheduledEventId));
    if (!from) continue;
    const sum = byName.get(from.name) ?? { count: 0, ms: 0 };
    byName.set(from.name, { count: sum.count + 1, ms: sum.ms + ms(e.eventTime) - from.at });
  }
  return [...byName]
    .map(([name, t]) => `${name}${t.count > 1 ? ` ×${t.count}` : ''} ${(t.ms / 1000).toFixed(2)} s`)
    .join(', ');
}
