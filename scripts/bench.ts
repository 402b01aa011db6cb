/**
 * `npm run bench`: the encoder-only benchmark and the end-to-end workloads, with JSON in
 * bench/results/ and Markdown tables with ratios against baselines measured in the same run.
 *
 *   npm run bench                       both; e2e tables also written into docs/benchmarks.md
 *   npm run bench -- --quick            tiny e2e sizes only (what the test suite runs)
 *   npm run bench -- --e2e-only | --encoder-only
 *   npm run bench -- --workloads mid,small --implementations zipflow,raw,archiver
 *                    --mid-objects 200 --small-objects 20000 --text-objects 150
 *                    --mid-mb 2-8 (object sizes of mid, in 10^6 bytes)
 *                    --large-mib 4099 --samples 12 --timeout-min 20 --out FILE --no-doc
 *                    --part-mib 8 --concurrency 4   (default: the request's part size; parts in
 *                                  flight zipflow's own, grown from 4, and 4 for the baselines)
 *                    --rounds 3   (runs of each implementation per workload, interleaved; the
 *                                  table shows the median. Default: 3 for mid and large on
 *                                  loopback, 1 for the rest and on shaped paths)
 *                    --plain-worker   (worker without the settings of src/workerRuntime.ts)
 *                    --worker-from-sources   (worker from the TypeScript sources through tsx, as
 *                                  bin/zipflow.js runs in a checkout; default: compiled JavaScript, as the
 *                                  package runs, built into .tools/bench-dist/ first)
 *                    --memory-trace   (logs what the worker's peak RSS is made of: V8 heap,
 *                                  ArrayBuffers, malloc heap, large mappings; bench/e2e/memoryTrace.cjs)
 *                    --cpu-prof       (writes the worker's V8 CPU profile to bench/results/logs/)
 *                    --net loopback,near,far   (network paths, run in turn; default: all three,
 *                                  --quick: loopback,near. `--net rtt=20ms,conn=50MB/s` is a
 *                                  path of one's own; --net may be repeated; see bench/e2e/net.ts)
 *   npm run bench -- --render bench/results/e2e-<time>.json
 *                    rewrites docs/benchmarks.md's table from a saved run, its targets worked
 *                    out again from the rows (runs nothing)
 *
 * Without TEMPORAL_ADDRESS / AWS_ENDPOINT_URL_S3 / AWS_ACCESS_KEY_ID in the environment it
 * starts the local stack (Temporal dev server + MinIO) itself, keeping MinIO's data in
 * .tools/bench-stack/ so seeded objects are reused by the next run, and stops it at the end.
 * Exits 1 when the encoder's STORE target is missed; missed end-to-end targets are reported
 * as missed but do not fail the run yet.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { encoderBenchMarkdown, runEncoderBench } from '../bench/encoder';
import { defaultSpecs, WORKLOADS, type WorkloadName } from '../bench/e2e/data';
import { parseNet, type NetProfile } from '../bench/e2e/net';
import {
  defaultOptions,
  e2eMarkdown,
  IMPLEMENTATIONS,
  netOf,
  replaceDocSection,
  runE2eBench,
  targets,
  type E2eOptions,
  type E2eResult,
  type Implementation,
} from '../bench/e2e/harness';
import {
  isAlive,
  readStackState,
  startStack,
  stopStack,
  type StackState,
} from '../src/client/dev/stack';
import { ENV } from '../src/runtime/config';
import { MiB } from '../src/shared/limits';

const STORE_TARGET_VS_YAZL = 5;
const root = path.resolve(__dirname, '..');
const resultsDir = path.join(root, 'bench', 'results');
const stackDir = path.join(root, '.tools', 'bench-stack');
const log = (line: string): void => console.error(`[bench] ${line}`);

interface Flags {
  quick: boolean;
  encoder: boolean;
  e2e: boolean;
  doc: boolean;
  out?: string;
  workloads?: WorkloadName[];
  implementations?: Implementation[];
  counts: Partial<Record<'mid' | 'small' | 'text', number>>;
  largeMiB?: number;
  midBytes?: { min: number; max: number };
  samples?: number;
  plainWorker?: boolean;
  workerFromSources?: boolean;
  memoryTrace?: boolean;
  cpuProf?: boolean;
  partMiB?: number;
  concurrency?: number;
  timeoutMinutes?: number;
  rounds?: number;
  render?: string;
  nets?: NetProfile[];
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = { quick: false, encoder: true, e2e: true, doc: true, counts: {} };
  const list = <T extends string>(value: string, allowed: readonly T[], flag: string): T[] => {
    const items = value.split(',').filter(Boolean);
    for (const item of items) {
      if (!allowed.includes(item as T))
        throw new Error(`${flag}: "${item}" is not one of ${allowed.join(', ')}`);
    }
    return items as T[];
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const count = (): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a whole number`);
      return n;
    };
    switch (flag) {
      case '--quick':
        flags.quick = true;
        flags.encoder = false;
        flags.doc = false;
        break;
      case '--e2e-only':
        flags.encoder = false;
        break;
      case '--encoder-only':
        flags.e2e = false;
        break;
      case '--render':
        flags.render = path.resolve(value());
        break;
      case '--no-doc':
        flags.doc = false;
        break;
      case '--out':
        flags.out = path.resolve(value());
        break;
      case '--workloads':
        flags.workloads = list(value(), WORKLOADS, flag);
        break;
      case '--implementations':
        flags.implementations = list(value(), IMPLEMENTATIONS, flag);
        break;
      case '--mid-objects':
        flags.counts.mid = count();
        break;
      case '--small-objects':
        flags.counts.small = count();
        break;
      case '--text-objects':
        flags.counts.text = count();
        break;
      case '--mid-mb': {
        const m = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(value());
        if (!m || Number(m[1]) <= 0 || Number(m[1]) > Number(m[2]))
          throw new Error(`${flag} needs a range such as 2-8 (MB, 10^6 bytes)`);
        flags.midBytes = {
          min: Math.round(Number(m[1]) * 1e6),
          max: Math.round(Number(m[2]) * 1e6),
        };
        break;
      }
      case '--large-mib':
        flags.largeMiB = count();
        break;
      case '--samples':
        flags.samples = count();
        break;
      case '--plain-worker':
        flags.plainWorker = true;
        break;
      case '--worker-from-sources':
        flags.workerFromSources = true;
        break;
      case '--memory-trace':
        flags.memoryTrace = true;
        break;
      case '--cpu-prof':
        flags.cpuProf = true;
        break;
      case '--part-mib':
        flags.partMiB = count();
        break;
      case '--concurrency':
        flags.concurrency = count();
        break;
      case '--timeout-min':
        flags.timeoutMinutes = count();
        break;
      case '--net':
        flags.nets = [...(flags.nets ?? []), ...parseNet(value())];
        break;
      case '--rounds':
        flags.rounds = count();
        if (flags.rounds < 1) throw new Error('--rounds needs 1 or more');
        break;
      default:
        throw new Error(`unknown flag ${flag}; see the comment at the top of scripts/bench.ts`);
    }
  }
  return flags;
}

function stackFromEnvironment(): boolean {
  return [ENV.temporalAddress, ENV.s3Endpoint, ENV.accessKeyId].every((n) => process.env[n]);
}

/** The local stack with MinIO data (and its credentials) kept between bench runs. */
async function startBenchStack(): Promise<StackState> {
  const previous = readStackState(stackDir);
  if (previous && [previous.temporal.pid, previous.minio.pid].some(isAlive)) {
    log('stopping a bench stack left running by an earlier run');
    await stopStack(previous, { keepData: true });
  }
  fs.mkdirSync(stackDir, { recursive: true });
  const credentialsFile = path.join(stackDir, 'minio-credentials.json');
  if (!fs.existsSync(credentialsFile)) {
    const credentials = {
      accessKey: `zipflowbench${crypto.randomBytes(4).toString('hex')}`,
      secretKey: crypto.randomBytes(24).toString('base64url'),
    };
    fs.writeFileSync(credentialsFile, JSON.stringify(credentials), { mode: 0o600 });
  }
  const minioCredentials = JSON.parse(fs.readFileSync(credentialsFile, 'utf8')) as {
    accessKey: string;
    secretKey: string;
  };
  return startStack({ dir: stackDir, log, minioCredentials });
}

async function e2e(flags: Flags): Promise<void> {
  const specs = defaultSpecs(flags.quick);
  for (const [name, n] of Object.entries(flags.counts) as Array<
    ['mid' | 'small' | 'text', number]
  >) {
    specs[name] = { ...specs[name], count: n };
  }
  if (flags.midBytes)
    specs.mid = { ...specs.mid, minBytes: flags.midBytes.min, maxBytes: flags.midBytes.max };
  if (flags.largeMiB !== undefined)
    specs.large = { ...specs.large, largeBytes: flags.largeMiB * 1024 * 1024 + 17 };
  let stack: StackState | undefined;
  const stop = async (): Promise<void> => {
    const s = stack;
    stack = undefined;
    if (s) {
      await stopStack(s, { keepData: true });
      // Deleted archives wait in MinIO's own scratch folder until it gets round to them;
      // with the server stopped it is safe to drop, and keeps the kept data to the seeds.
      fs.rmSync(path.join(s.minio.dataDir, '.minio.sys', 'tmp'), { recursive: true, force: true });
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => void stop().finally(() => process.exit(130)));
  }
  const shared = stackFromEnvironment();
  try {
    if (shared) {
      log(
        `using the stack named by the environment (${process.env[ENV.temporalAddress]}, ${process.env[ENV.s3Endpoint]})`,
      );
    } else {
      stack = await startBenchStack();
      Object.assign(process.env, stack.env);
    }
    const suffix = crypto.randomBytes(4).toString('hex');
    const options: E2eOptions = {
      ...defaultOptions(flags.quick, specs),
      ...(flags.workloads ? { workloads: flags.workloads } : {}),
      ...(flags.implementations ? { implementations: flags.implementations } : {}),
      ...(flags.samples !== undefined ? { samples: flags.samples } : {}),
      ...(flags.plainWorker ? { workerRuntime: false } : {}),
      ...(flags.workerFromSources ? { workerFrom: 'sources' as const } : {}),
      ...(flags.memoryTrace ? { memoryTrace: true } : {}),
      ...(flags.cpuProf ? { cpuProf: true } : {}),
      ...(stack ? { servers: { store: stack.minio.pid, temporal: stack.temporal.pid } } : {}),
      ...(flags.partMiB !== undefined ? { partSize: flags.partMiB * MiB } : {}),
      ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
      ...(flags.timeoutMinutes !== undefined ? { timeoutMinutes: flags.timeoutMinutes } : {}),
      ...(flags.rounds !== undefined
        ? {
            rounds: {
              mid: flags.rounds,
              small: flags.rounds,
              text: flags.rounds,
              large: flags.rounds,
            },
            shapedRounds: flags.rounds,
          }
        : {}),
      ...(flags.nets ? { nets: flags.nets } : {}),
      // A shared stack gets fresh buckets, removed at the end; the bench's own keeps its seeds.
      sourceBucket: shared ? `zfbench-src-${suffix}` : 'zipflow-bench-src',
      destinationBucket: shared ? `zfbench-dst-${suffix}` : 'zipflow-bench-dst',
      keepSeeds: !shared,
      logDir: path.join(resultsDir, 'logs'),
      log,
    };
    const result = await runE2eBench(options);
    const out =
      flags.out ?? path.join(resultsDir, `e2e-${result.startedAt.replace(/[:.]/g, '-')}.json`);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(result, null, 2));
    log(`wrote ${path.relative(root, out)}`);
    report(result, flags.doc);
  } finally {
    await stop();
  }
}

/** Prints the tables and the targets, and writes them into docs/benchmarks.md if `doc`. */
function report(result: E2eResult, doc: boolean): void {
  const markdown = e2eMarkdown(result);
  console.log(`## End to end\n\n${markdown}`);
  if (doc) {
    const docFile = path.join(root, 'docs', 'benchmarks.md');
    fs.writeFileSync(docFile, replaceDocSection(fs.readFileSync(docFile, 'utf8'), markdown));
    log('updated docs/benchmarks.md');
  }
  for (const t of result.targets) {
    log(
      `target ${netOf(t)} ${t.workload}: ${t.description}: ${t.met ? 'met' : 'MISSED'} (${t.measured}${t.ceiling ? `; this run allows ${t.ceiling.value}: ${t.ceiling.what}` : ''})`,
    );
  }
}

async function main(): Promise<number> {
  const flags = parseFlags(process.argv.slice(2));
  if (flags.render) {
    const saved = JSON.parse(fs.readFileSync(flags.render, 'utf8')) as E2eResult;
    report({ ...saved, targets: targets(saved.rows) }, flags.doc);
    return 0;
  }
  fs.mkdirSync(resultsDir, { recursive: true });
  let code = 0;
  if (flags.encoder) {
    const encoder = await runEncoderBench();
    fs.writeFileSync(path.join(resultsDir, 'encoder.json'), JSON.stringify(encoder, null, 2));
    console.log('## Encoder only\n');
    console.log(encoderBenchMarkdown(encoder));
    const met = encoder.storeSpeedupVsYazl >= STORE_TARGET_VS_YAZL;
    console.log(
      `target STORE ≥ ${STORE_TARGET_VS_YAZL}× yazl: ${met ? 'met' : 'MISSED'} (${encoder.storeSpeedupVsYazl}×)`,
    );
    if (!met) code = 1;
  }
  if (flags.e2e) await e2e(flags);
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
