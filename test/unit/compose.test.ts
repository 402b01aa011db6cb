import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { DEFAULTS, ENV } from '../../src/runtime/config';
import { SEARCH_ATTRIBUTES } from '../../src/shared/searchAttributes';
import { WORKER_ENV, WORKER_NODE_OPTIONS, WORKER_V8_FLAGS } from '../../src/workerRuntime';

// Checks docker-compose.yml and the Dockerfile against the code they configure. Docker itself
// is not needed: this reads the files, it does not run them.

const ROOT = path.resolve(__dirname, '..', '..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const DOCKERFILE = path.join(ROOT, 'Dockerfile');

const SERVICE = {
  temporal: 'temporal',
  minio: 'minio',
  minioInit: 'minio-init',
  worker: 'worker',
} as const;

type Dict = Record<string, unknown>;

function isDict(value: unknown): value is Dict {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function dict(value: unknown, where: string): Dict {
  assert.ok(isDict(value), `${where} must be a mapping`);
  return value;
}

function scalar(value: unknown, where: string): string {
  assert.ok(
    typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean',
    `${where} must be a scalar, got ${JSON.stringify(value)}`,
  );
  return String(value);
}

function loadCompose(): Dict {
  return dict(parse(fs.readFileSync(COMPOSE_FILE, 'utf8')), 'docker-compose.yml');
}

function service(compose: Dict, name: string): Dict {
  const services = dict(compose.services, 'services');
  return dict(services[name], `services.${name}`);
}

/** A compose `command` (list, or string split the way compose splits it when unquoted). */
function argv(value: unknown, where: string): string[] {
  if (typeof value === 'string') return value.trim().split(/\s+/);
  assert.ok(Array.isArray(value), `${where} must be a list or a string`);
  return value.map((item, i) => scalar(item, `${where}[${i}]`));
}

/** Values of `--flag value` and `--flag=value`, in order. */
function flagValues(args: readonly string[], flag: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) {
      assert.ok(i + 1 < args.length, `${flag} needs a value`);
      values.push(args[++i]);
    } else if (args[i].startsWith(`${flag}=`)) {
      values.push(args[i].slice(flag.length + 1));
    }
  }
  return values;
}

function flagValue(args: readonly string[], flag: string): string | undefined {
  const values = flagValues(args, flag);
  assert.ok(values.length <= 1, `${flag} is given ${values.length} times`);
  return values[0];
}

/** A service's `environment`, map form or `KEY=VALUE` list form. */
function environment(svc: Dict, where: string): Map<string, string> {
  const env = new Map<string, string>();
  const raw = svc.environment;
  if (raw === undefined) return env;
  if (Array.isArray(raw)) {
    for (const [i, item] of raw.entries()) {
      const text = scalar(item, `${where}.environment[${i}]`);
      const eq = text.indexOf('=');
      assert.ok(eq > 0, `${where}.environment[${i}] must be KEY=VALUE`);
      env.set(text.slice(0, eq), text.slice(eq + 1));
    }
  } else {
    for (const [key, value] of Object.entries(dict(raw, `${where}.environment`))) {
      env.set(key, value === null ? '' : scalar(value, `${where}.environment.${key}`));
    }
  }
  return env;
}

interface PortMapping {
  container: number;
  host?: number;
}

/** Short (`[ip:][host:]container[/proto]`) and long (`target`/`published`) port syntax. */
function ports(svc: Dict, where: string): PortMapping[] {
  const raw = svc.ports ?? [];
  assert.ok(Array.isArray(raw), `${where}.ports must be a list`);
  return raw.map((item, i): PortMapping => {
    if (isDict(item)) {
      const published = item.published === undefined ? undefined : Number(item.published);
      return {
        container: Number(scalar(item.target, `${where}.ports[${i}].target`)),
        host: published,
      };
    }
    const parts = scalar(item, `${where}.ports[${i}]`).split('/')[0].split(':');
    const container = Number(parts[parts.length - 1]);
    const host = parts.length >= 2 ? Number(parts[parts.length - 2]) : undefined;
    return { container, host };
  });
}

function assertPublished(svc: Dict, where: string, containerPort: number): void {
  const mapping = ports(svc, where).find((p) => p.container === containerPort);
  assert.ok(mapping, `${where} must publish container port ${containerPort}`);
  assert.ok(
    mapping.host !== undefined && Number.isInteger(mapping.host),
    `${where} must map port ${containerPort} to a fixed host port`,
  );
}

function portOf(address: string): number {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  assert.ok(Number.isInteger(port) && port > 0, `no port in ${address}`);
  return port;
}

function temporalArgs(compose: Dict): string[] {
  return argv(service(compose, SERVICE.temporal).command, `services.${SERVICE.temporal}.command`);
}

/** The front-end gRPC port the dev server listens on (`--port`, else the CLI's default). */
function temporalGrpcPort(args: readonly string[]): number {
  const port = flagValue(args, '--port') ?? flagValue(args, '-p');
  return port === undefined ? portOf(DEFAULTS.temporalAddress) : Number(port);
}

function minioArgs(compose: Dict): string[] {
  return argv(service(compose, SERVICE.minio).command, `services.${SERVICE.minio}.command`);
}

function workerEnv(compose: Dict): Map<string, string> {
  return environment(service(compose, SERVICE.worker), `services.${SERVICE.worker}`);
}

function required(env: Map<string, string>, name: string): string {
  const value = env.get(name);
  assert.ok(value, `the worker must set ${name}`);
  return value;
}

function dependsOn(svc: Dict, where: string): Dict {
  return dict(svc.depends_on, `${where}.depends_on (long form, with conditions)`);
}

/** Dockerfile instructions with continuation lines joined and comments dropped. */
function dockerfileInstructions(): { op: string; args: string }[] {
  const joined = fs
    .readFileSync(DOCKERFILE, 'utf8')
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const m = /^(\S+)\s*(.*)$/.exec(line);
      assert.ok(m);
      return { op: m[1].toUpperCase(), args: m[2] };
    });
}

function execForm(args: string): string[] {
  if (args.startsWith('[')) {
    const parsed: unknown = JSON.parse(args);
    assert.ok(
      Array.isArray(parsed) && parsed.every((a) => typeof a === 'string'),
      `bad exec form: ${args}`,
    );
    return parsed;
  }
  return args.split(/\s+/);
}

describe('docker-compose.yml', () => {
  it('defines the temporal, minio, bucket-creating and worker services', () => {
    const compose = loadCompose();
    for (const name of Object.values(SERVICE)) service(compose, name);

    const temporal = service(compose, SERVICE.temporal);
    assert.match(scalar(temporal.image, 'temporal.image'), /^temporalio\/temporal:\d+\.\d+\.\d+$/);
    assert.deepEqual(temporalArgs(compose).slice(0, 2), ['server', 'start-dev']);

    const minio = service(compose, SERVICE.minio);
    assert.match(scalar(minio.image, 'minio.image'), /^minio\/minio:RELEASE\./);
    assert.equal(minioArgs(compose)[0], 'server');

    const init = service(compose, SERVICE.minioInit);
    assert.match(scalar(init.image, 'minio-init.image'), /^minio\/mc:RELEASE\./);

    const build = service(compose, SERVICE.worker).build;
    const context =
      typeof build === 'string'
        ? build
        : scalar(dict(build, 'worker.build').context, 'worker.build.context');
    const dockerfile =
      isDict(build) && build.dockerfile !== undefined
        ? scalar(build.dockerfile, 'worker.build.dockerfile')
        : 'Dockerfile';
    assert.equal(
      path.resolve(ROOT, context, dockerfile),
      DOCKERFILE,
      'the worker must be built from the repo Dockerfile',
    );
  });

  it('starts the worker only once temporal and minio are healthy and the bucket exists', () => {
    const compose = loadCompose();
    const deps = dependsOn(service(compose, SERVICE.worker), 'worker');
    for (const name of [SERVICE.temporal, SERVICE.minio]) {
      assert.equal(
        dict(deps[name], `worker.depends_on.${name}`).condition,
        'service_healthy',
        name,
      );
      const check = dict(service(compose, name).healthcheck, `services.${name}.healthcheck`);
      assert.ok(
        Array.isArray(check.test) && check.test.length > 1,
        `${name} needs a healthcheck test`,
      );
    }
    assert.equal(
      dict(deps[SERVICE.minioInit], 'worker.depends_on.minio-init').condition,
      'service_completed_successfully',
    );
    const initDeps = dependsOn(service(compose, SERVICE.minioInit), 'minio-init');
    assert.equal(
      dict(initDeps[SERVICE.minio], 'minio-init.depends_on.minio').condition,
      'service_healthy',
    );
  });

  it('gives the worker only environment variable names that zipflow reads (ENV)', () => {
    const known = new Set<string>(Object.values(ENV));
    const unknown = [...workerEnv(loadCompose()).keys()].filter((name) => !known.has(name));
    assert.deepEqual(unknown, [], `not in src/runtime/config.ts ENV: ${unknown.join(', ')}`);
  });

  it('gives the worker its Temporal connection, task queue, S3 endpoint, region and credentials', () => {
    const env = workerEnv(loadCompose());
    for (const name of [
      ENV.temporalAddress,
      ENV.temporalNamespace,
      ENV.taskQueue,
      ENV.s3Endpoint,
      ENV.region,
      ENV.accessKeyId,
      ENV.secretAccessKey,
    ]) {
      required(env, name);
    }
  });

  it("points TEMPORAL_ADDRESS at the temporal service's gRPC port, which is published", () => {
    const compose = loadCompose();
    const address = required(workerEnv(compose), ENV.temporalAddress);
    const args = temporalArgs(compose);
    const grpcPort = temporalGrpcPort(args);
    assert.equal(address, `${SERVICE.temporal}:${grpcPort}`);
    assert.equal(
      flagValue(args, '--ip'),
      '0.0.0.0',
      'the dev server must listen beyond its own loopback',
    );
    assertPublished(service(compose, SERVICE.temporal), SERVICE.temporal, grpcPort);
  });

  it('uses a namespace that the dev server creates', () => {
    const compose = loadCompose();
    const namespace = required(workerEnv(compose), ENV.temporalNamespace);
    const args = temporalArgs(compose);
    const created = ['default', ...flagValues(args, '--namespace'), ...flagValues(args, '-n')];
    assert.ok(
      created.includes(namespace),
      `${namespace} is not created by the dev server (${created.join(', ')})`,
    );
  });

  it("points AWS_ENDPOINT_URL_S3 at the minio service's API port, which is published", () => {
    const compose = loadCompose();
    const url = new URL(required(workerEnv(compose), ENV.s3Endpoint));
    const address = flagValue(minioArgs(compose), '--address') ?? ':9000';
    const apiPort = portOf(address);
    assert.equal(url.protocol, 'http:');
    assert.equal(url.hostname, SERVICE.minio);
    assert.equal(Number(url.port || 80), apiPort);
    assertPublished(service(compose, SERVICE.minio), SERVICE.minio, apiPort);
    const consoleAddress = flagValue(minioArgs(compose), '--console-address');
    assert.ok(consoleAddress, 'minio needs a fixed --console-address');
    assertPublished(service(compose, SERVICE.minio), SERVICE.minio, portOf(consoleAddress));
  });

  it("gives the worker MinIO's root user and password as its AWS credentials", () => {
    const compose = loadCompose();
    const worker = workerEnv(compose);
    const minio = environment(service(compose, SERVICE.minio), 'services.minio');
    const user = minio.get('MINIO_ROOT_USER');
    const password = minio.get('MINIO_ROOT_PASSWORD');
    assert.ok(user && password, 'minio must set MINIO_ROOT_USER and MINIO_ROOT_PASSWORD');
    assert.ok(password.length >= 8, 'MinIO refuses root passwords shorter than 8 characters');
    assert.equal(required(worker, ENV.accessKeyId), user);
    assert.equal(required(worker, ENV.secretAccessKey), password);
  });

  it('creates a bucket on the minio service with its root credentials', () => {
    const compose = loadCompose();
    const init = service(compose, SERVICE.minioInit);
    const args = argv(init.command, 'minio-init.command');
    assert.equal(args[0], 'mb');
    const target = args[args.length - 1];
    const [alias, bucket] = target.split('/');
    assert.ok(bucket, `mb needs ALIAS/BUCKET, got ${target}`);
    const host = new URL(required(environment(init, 'services.minio-init'), `MC_HOST_${alias}`));
    const minio = environment(service(compose, SERVICE.minio), 'services.minio');
    assert.equal(decodeURIComponent(host.username), minio.get('MINIO_ROOT_USER'));
    assert.equal(decodeURIComponent(host.password), minio.get('MINIO_ROOT_PASSWORD'));
    assert.equal(`${host.protocol}//${host.host}`, required(workerEnv(compose), ENV.s3Endpoint));
  });

  it('registers exactly the search attributes in SEARCH_ATTRIBUTES, with their types', () => {
    const registered = flagValues(temporalArgs(loadCompose()), '--search-attribute').map((pair) => {
      const eq = pair.indexOf('=');
      assert.ok(eq > 0, `--search-attribute ${pair} must be Name=Type`);
      return [pair.slice(0, eq), pair.slice(eq + 1)] as const;
    });
    assert.equal(
      new Set(registered.map(([name]) => name)).size,
      registered.length,
      'a search attribute is registered twice',
    );
    assert.deepEqual(Object.fromEntries(registered), { ...SEARCH_ATTRIBUTES });
  });

  it('keeps the dev server state on a volume', () => {
    const compose = loadCompose();
    const dbFile =
      flagValue(temporalArgs(compose), '--db-filename') ?? flagValue(temporalArgs(compose), '-f');
    assert.ok(dbFile, 'temporal needs --db-filename to survive restarts');
    const volumes = service(compose, SERVICE.temporal).volumes;
    assert.ok(Array.isArray(volumes), 'temporal needs volumes');
    const targets = volumes.map((v, i) =>
      isDict(v)
        ? scalar(v.target, `temporal.volumes[${i}].target`)
        : scalar(v, `temporal.volumes[${i}]`).split(':')[1],
    );
    assert.ok(
      targets.includes(path.posix.dirname(dbFile)),
      `the directory of ${dbFile} must be a volume`,
    );
  });

  it('publishes the Temporal Web UI port', () => {
    const compose = loadCompose();
    const args = temporalArgs(compose);
    assert.ok(!args.includes('--headless'), 'the UI must not be disabled');
    const uiPort = Number(flagValue(args, '--ui-port') ?? temporalGrpcPort(args) + 1000);
    assert.equal(
      flagValue(args, '--ui-ip') ?? flagValue(args, '--ip'),
      '0.0.0.0',
      'the UI must listen beyond loopback',
    );
    assertPublished(service(compose, SERVICE.temporal), SERVICE.temporal, uiPort);
  });
});

describe('Dockerfile', () => {
  it('runs the worker entry point, which exists in the repo and is copied into the image', () => {
    const instructions = dockerfileInstructions();
    assert.ok(
      !instructions.some((i) => i.op === 'ENTRYPOINT'),
      'CMD is the whole command; no ENTRYPOINT',
    );
    const cmds = instructions.filter((i) => i.op === 'CMD');
    assert.ok(cmds.length > 0, 'the Dockerfile needs a CMD');
    const cmd = execForm(cmds[cmds.length - 1].args);
    assert.equal(cmd[0], 'node');

    // The script is the first argument that is not a node option (or an option's value).
    let s = 1;
    const imports: string[] = [];
    while (s < cmd.length && cmd[s].startsWith('-')) {
      if (['--import', '--require', '-r', '--loader'].includes(cmd[s])) imports.push(cmd[++s]);
      s++;
    }
    assert.ok(s < cmd.length, 'CMD names no script');
    const workdir = instructions.filter((i) => i.op === 'WORKDIR').pop()?.args ?? '/';
    const script = path.posix.relative(workdir, path.posix.resolve(workdir, cmd[s]));
    assert.ok(
      fs.existsSync(path.join(ROOT, script)),
      `${script} (from CMD) does not exist in the repo`,
    );

    const pkg = dict(
      JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')),
      'package.json',
    );
    const bin = dict(pkg.bin, 'package.json bin');
    const cliBin = path.posix.normalize(scalar(bin.zipflow, 'package.json bin.zipflow'));
    if (script === cliBin) {
      assert.equal(cmd[s + 1], 'worker', `CMD must run \`${cliBin} worker\``);
    } else {
      assert.equal(
        script,
        'src/worker.ts',
        'CMD must run the CLI `worker` command or src/worker.ts',
      );
      assert.ok(imports.includes('tsx'), 'src/worker.ts needs --import tsx');
    }

    // Some COPY puts the script at WORKDIR/script, and .dockerignore does not drop it.
    const want = path.posix.join(workdir, script);
    const copied = instructions
      .filter((i) => i.op === 'COPY' && !i.args.includes('--from'))
      .some((i) => {
        const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'));
        const destRaw = parts[parts.length - 1];
        const dest = path.posix.resolve(workdir, destRaw);
        const sources = parts
          .slice(0, -1)
          .map((src) => path.posix.normalize(src).replace(/\/$/, ''));
        return sources.some((from) => {
          if (from === script)
            return (
              (destRaw.endsWith('/') || sources.length > 1
                ? path.posix.join(dest, path.posix.basename(script))
                : dest) === want
            );
          if (from === '.') return path.posix.join(dest, script) === want;
          return (
            script.startsWith(`${from}/`) &&
            path.posix.join(dest, path.posix.relative(from, script)) === want
          );
        });
      });
    assert.ok(copied, `no COPY puts ${script} at ${want}`);
    const ignoreFile = path.join(ROOT, '.dockerignore');
    const ignored = fs.existsSync(ignoreFile)
      ? fs
          .readFileSync(ignoreFile, 'utf8')
          .split('\n')
          .map((line) => path.posix.normalize(line.trim()).replace(/^\/|\/$/g, ''))
          .filter((line) => line && !line.startsWith('#') && !line.startsWith('!'))
          .filter((line) => line === script || script.startsWith(`${line}/`))
      : [];
    assert.deepEqual(ignored, [], `.dockerignore excludes ${script}`);
  });

  it('builds on Node 24 and runs the compiled JavaScript, without the sources or tsx', () => {
    const instructions = dockerfileInstructions();
    const froms = instructions.filter((i) => i.op === 'FROM').map((i) => i.args.split(/\s+/)[0]);
    assert.ok(froms.length >= 2, 'a build stage and the image');
    for (const from of froms) assert.match(from, /^node:24[-.]/, 'every stage on Node 24');
    const lastFrom = instructions.map((i) => i.op).lastIndexOf('FROM');
    const build = instructions.slice(0, lastFrom);
    const image = instructions.slice(lastFrom);
    assert.ok(
      build.some((i) => i.op === 'RUN' && i.args.includes('npm run build')),
      'the build stage compiles with npm run build',
    );
    assert.ok(
      image.some((i) => i.op === 'COPY' && /--from=\S+\s+\/app\/dist\s+\.\/dist/.test(i.args)),
      'the image copies dist/ from the build stage',
    );
    assert.ok(
      !image.some((i) => i.op === 'COPY' && /(^|\s)(\.\/)?src\b/.test(i.args)),
      'the image has no TypeScript sources',
    );
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    for (const dev of ['tsx', 'typescript'])
      assert.equal(pkg.dependencies[dev], undefined, `${dev} is no runtime dependency`);
  });

  it('starts the worker with the memory settings of src/workerRuntime.ts', () => {
    const env: Record<string, string> = {};
    for (const { args } of dockerfileInstructions().filter((i) => i.op === 'ENV')) {
      for (const m of args.matchAll(/(\w+)=("([^"]*)"|\S+)/g)) env[m[1]] = m[3] ?? m[2];
    }
    assert.deepEqual(env.NODE_OPTIONS?.split(/\s+/), WORKER_NODE_OPTIONS);
    for (const [name, value] of Object.entries(WORKER_ENV)) assert.equal(env[name], value, name);
  });

  it('sets V8 flags in the worker that this Node knows (an unknown one would be ignored there)', () => {
    const run = spawnSync(process.execPath, [...WORKER_V8_FLAGS, '-e', '0'], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
  });
});
