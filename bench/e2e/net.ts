/**
 * The network paths the benchmark runs each implementation over: `loopback` (straight to the
 * store) and S3-like profiles, where every connection of the measured process goes through
 * zipflow-relay (bench/relay/) with a one-way delay and a bandwidth cap in each direction.
 *
 *   --net loopback,near,far               named paths (the default of a full run)
 *   --net rtt=20ms,conn=50MB/s            a path of one's own (repeat --net for several)
 *   --net name=eu,delay=12ms,up=30MB/s,down=60MB/s,mid=60,small=800
 *
 * Keys: `rtt` (round trip; half each way) or `delay` (one way), `conn` (cap per connection in
 * each direction) or `up` / `down`, `name`, and `mid` / `small`: how many objects those
 * workloads have on this path (a capped path is slow; the store's seeds differ by count).
 */
import type { RelayShape } from './relay';
import type { WorkloadName } from './data';

export interface NetProfile {
  name: string;
  /** Absent on loopback: no relay. */
  shape?: RelayShape;
  /** Objects of these workloads on this path (loopback: the workloads' own counts). */
  counts?: Partial<Record<WorkloadName, number>>;
}

/** Workloads run on a shaped path; `text` and `large` only on loopback (no target there). */
export const SHAPED_WORKLOADS: readonly WorkloadName[] = ['mid', 'small'];

export const NET_PROFILES: Record<'loopback' | 'near' | 'far', NetProfile> = {
  loopback: { name: 'loopback' },
  // A client in the store's region: a few ms each way, 100 MB/s per connection.
  near: {
    name: 'near',
    shape: { delayMs: 5, upBytesPerSecond: 100e6, downBytesPerSecond: 100e6 },
    counts: { small: 2000 },
  },
  // Across a continent: 25 ms each way, 25 MB/s per connection. `mid` is the whole workload,
  // the same 1 GB archive as on loopback: with 40 objects (200 MB) a run's fixed cost (the
  // workflow, the upload's creation and completion, ~1 s of round trips) was a third of it, so
  // it measured the start and end rather than the archiving. `small` has fewer objects, so that
  // the recipes that read one object at a time (~50 ms per request) finish in about a minute.
  far: {
    name: 'far',
    shape: { delayMs: 25, upBytesPerSecond: 25e6, downBytesPerSecond: 25e6 },
    counts: { small: 600 },
  },
};

const RATE_UNITS: Record<string, number> = {
  'b/s': 1,
  'kb/s': 1e3,
  'mb/s': 1e6,
  'gb/s': 1e9,
  'kib/s': 1024,
  'mib/s': 1024 ** 2,
  'gib/s': 1024 ** 3,
  'kbit/s': 1e3 / 8,
  'mbit/s': 1e6 / 8,
  'gbit/s': 1e9 / 8,
};

function duration(key: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)(us|ms|s)$/.exec(value);
  if (!m) throw new Error(`--net ${key}=${value}: a duration such as 5ms, 0.5ms or 1s`);
  return Number(m[1]) * { us: 1e-3, ms: 1, s: 1000 }[m[2] as 'us' | 'ms' | 's'];
}

function rate(key: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)([a-z]+\/s)$/i.exec(value);
  const unit = m ? RATE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new Error(
      `--net ${key}=${value}: a rate such as 25MB/s, 100MiB/s or 200Mbit/s (0 for no cap)`,
    );
  }
  return Number(m[1]) * unit;
}

function count(key: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--net ${key}=${value}: a whole number ≥ 1`);
  return n;
}

/** One custom path: `key=value` pairs separated by commas. */
function parseShape(spec: string): NetProfile {
  const shape: RelayShape = { delayMs: 0, upBytesPerSecond: 0, downBytesPerSecond: 0 };
  let name: string | undefined;
  const counts = { ...NET_PROFILES.far.counts };
  for (const pair of spec.split(',')) {
    const [key, value, ...rest] = pair.split('=');
    if (value === undefined || rest.length > 0 || value === '') {
      throw new Error(
        `--net: "${pair}" is not key=value (keys: rtt, delay, conn, up, down, name, mid, small)`,
      );
    }
    switch (key) {
      case 'rtt':
        shape.delayMs = duration(key, value) / 2;
        break;
      case 'delay':
        shape.delayMs = duration(key, value);
        break;
      case 'conn':
        shape.upBytesPerSecond = shape.downBytesPerSecond = rate(key, value);
        break;
      case 'up':
        shape.upBytesPerSecond = rate(key, value);
        break;
      case 'down':
        shape.downBytesPerSecond = rate(key, value);
        break;
      case 'name':
        if (!/^[a-z][a-z0-9-]*$/.test(value) || value in NET_PROFILES)
          throw new Error(
            `--net name=${value}: lower-case letters, digits and -, not a profile's name`,
          );
        name = value;
        break;
      case 'mid':
      case 'small':
        counts[key] = count(key, value);
        break;
      default:
        throw new Error(
          `--net: unknown key "${key}" (keys: rtt, delay, conn, up, down, name, mid, small)`,
        );
    }
  }
  const mbps = (b: number): string => (b === 0 ? 'uncapped' : `${b / 1e6}MBps`);
  return {
    name:
      name ??
      `${shape.delayMs}ms-${mbps(shape.upBytesPerSecond)}${shape.upBytesPerSecond === shape.downBytesPerSecond ? '' : `-${mbps(shape.downBytesPerSecond)}`}`,
    shape,
    counts,
  };
}

/** One `--net` value: names of profiles separated by commas, or one custom path. */
export function parseNet(value: string): NetProfile[] {
  const items = value.split(',').filter(Boolean);
  if (items.length > 0 && items.every((i) => i in NET_PROFILES)) {
    return items.map((i) => NET_PROFILES[i as keyof typeof NET_PROFILES]);
  }
  if (!value.includes('=')) {
    throw new Error(
      `--net ${value}: names among ${Object.keys(NET_PROFILES).join(', ')}, or key=value pairs such as rtt=20ms,conn=50MB/s`,
    );
  }
  return [parseShape(value)];
}

/** "25 ms one way, 25 MB/s per connection each way" for the run line. */
export function describeNet(p: NetProfile): string {
  if (!p.shape) return 'loopback, no relay';
  const r = (b: number): string => (b === 0 ? 'no cap' : `${b / 1e6} MB/s`);
  const { delayMs, upBytesPerSecond: up, downBytesPerSecond: down } = p.shape;
  const caps =
    up === down
      ? `${r(up)} per connection each way`
      : `${r(up)} up, ${r(down)} down per connection`;
  return `${delayMs} ms one way, ${caps}`;
}
