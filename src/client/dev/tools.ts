import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The servers the local stack runs, pinned to versions the Go toolchain can build: with
 * `go install`, or, for a module whose go.mod has `replace` directives (which `go install`
 * refuses), by building `main` inside a copy of the downloaded module.
 */
export const TOOLS = {
  temporal: { module: 'github.com/temporalio/cli/cmd/temporal', version: 'v1.5.1' },
  // MinIO publishes no semver tags; this pseudo-version is the newest the Go proxy serves.
  minio: { module: 'github.com/minio/minio', version: 'v0.0.0-20260212201848-7aac2a2c5b7c' },
  // SeaweedFS's tags are not semver either; its go.mod replaces modules, hence `main`.
  weed: {
    module: 'github.com/seaweedfs/seaweedfs',
    version: 'v0.0.0-20261109003541-7506e5f91cd6',
    main: './weed',
  },
} as const satisfies Record<string, { module: string; version: string; main?: string }>;

export type ToolName = keyof typeof TOOLS;

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
/** Git-ignored tools folder inside the checkout. */
export const TOOLS_DIR = process.env.ZIPFLOW_TOOLS_DIR || path.join(REPO_ROOT, '.tools', 'bin');
/** Per-machine cache outside the checkout, so fresh clones on the same machine skip the build. */
export const MACHINE_CACHE = path.join(
  process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'),
  'zipflow',
  'tools',
);

export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function cachedName(name: ToolName): string {
  return path.join(MACHINE_CACHE, `${name}-${TOOLS[name].version}`);
}

/**
 * Finds a tool: PATH, then the tools folder, then the machine cache; otherwise builds it with
 * `go install` into the machine cache and copies it into the tools folder.
 */
export async function ensureTool(
  name: ToolName,
  log: (line: string) => void = () => {},
): Promise<string> {
  const found = onPath(name);
  if (found) return found;
  const local = path.join(TOOLS_DIR, name);
  if (isExecutable(local)) return local;
  const cached = cachedName(name);
  if (!isExecutable(cached)) await buildTool(name, log);
  fs.mkdirSync(TOOLS_DIR, { recursive: true });
  fs.copyFileSync(cached, local);
  fs.chmodSync(local, 0o755);
  return local;
}

/** The machine's Go: on PATH or where the official installer puts it. */
export function findGo(): string | undefined {
  return (
    onPath('go') ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined)
  );
}

async function buildTool(name: ToolName, log: (line: string) => void): Promise<void> {
  const go = findGo();
  if (!go) {
    throw new Error(
      `${name} is not on PATH and Go is not installed to build it: install Go 1.24+ or put ${name} on PATH`,
    );
  }
  const tool: { module: string; version: string; main?: string } = TOOLS[name];
  const gobin = fs.mkdtempSync(path.join(os.tmpdir(), `zipflow-build-${name}-`));
  const env = { ...process.env, GOBIN: gobin, GOFLAGS: process.env.GOFLAGS ?? '-buildvcs=false' };
  const started = Date.now();
  log(
    `building ${name} (${tool.module}@${tool.version}); this takes a few minutes once per machine`,
  );
  try {
    if (tool.main) await buildInModule(go, tool, path.join(gobin, name), env);
    else await runGo(go, ['install', `${tool.module}@${tool.version}`], env);
    fs.mkdirSync(MACHINE_CACHE, { recursive: true });
    // Copied under a temporary name and renamed, so a concurrent build never sees half a file.
    const partial = `${cachedName(name)}.${process.pid}.partial`;
    fs.copyFileSync(path.join(gobin, name), partial);
    fs.chmodSync(partial, 0o755);
    fs.renameSync(partial, cachedName(name));
  } finally {
    fs.rmSync(gobin, { recursive: true, force: true });
  }
  log(`built ${name} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/**
 * Builds `main` of a module as its own main module, so its `replace` directives apply:
 * downloads it, copies it out of the read-only module cache and runs `go build` there.
 */
async function buildInModule(
  go: string,
  tool: { module: string; version: string; main?: string },
  output: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const download = JSON.parse(
    await runGo(go, ['mod', 'download', '-json', `${tool.module}@${tool.version}`], env, true),
  ) as { Dir?: string; Error?: string };
  if (!download.Dir) {
    throw new Error(`go mod download ${tool.module}@${tool.version} failed: ${download.Error}`);
  }
  const src = path.join(path.dirname(output), 'src');
  fs.cpSync(download.Dir, src, { recursive: true });
  makeWritable(src);
  await runGo(go, ['build', '-o', output, tool.main ?? '.'], env, false, src);
}

function makeWritable(dir: string): void {
  fs.chmodSync(dir, 0o755);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) makeWritable(file);
    else if (entry.isFile()) fs.chmodSync(file, 0o644);
  }
}

/** Runs go (at low priority: builds share the machine); resolves to its stdout when captured. */
async function runGo(
  go: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  captureStdout = false,
  cwd?: string,
): Promise<string> {
  const nice = onPath('nice');
  const [file, argv] = nice ? [nice, ['-n', '10', go, ...args]] : [go, args];
  let stdout = '';
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(file, argv, {
      cwd,
      env,
      stdio: ['ignore', captureStdout ? 'pipe' : 'inherit', 'inherit'],
    });
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('exit', resolve);
  });
  if (code !== 0) throw new Error(`go ${args.join(' ')} failed (exit ${code})`);
  return stdout;
}

/** Finds or builds the named tools (default: Temporal and MinIO); builds run side by side. */
export async function ensureTools<N extends ToolName = 'temporal' | 'minio'>(
  log: (line: string) => void = () => {},
  names: readonly N[] = ['temporal', 'minio'] as N[],
): Promise<Record<N, string>> {
  const files = await Promise.all(names.map((name) => ensureTool(name, log)));
  return Object.fromEntries(names.map((name, i) => [name, files[i]])) as Record<N, string>;
}

export function toolVersion(file: string): string {
  try {
    return execFileSync(file, ['--version'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    return 'unknown';
  }
}
