import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The two servers the local stack runs, pinned to versions that `go install` can build. */
export const TOOLS = {
  temporal: { module: 'github.com/temporalio/cli/cmd/temporal', version: 'v1.5.1' },
  // MinIO publishes no semver tags; this pseudo-version is the newest the Go proxy serves.
  minio: { module: 'github.com/minio/minio', version: 'v0.0.0-20260212201848-7aac2a2c5b7c' },
} as const;

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
  const { module, version } = TOOLS[name];
  const gobin = fs.mkdtempSync(path.join(os.tmpdir(), `zipflow-build-${name}-`));
  const started = Date.now();
  log(`building ${name} (${module}@${version}); this takes a few minutes once per machine`);
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(go, ['install', `${module}@${version}`], {
      env: { ...process.env, GOBIN: gobin, GOFLAGS: process.env.GOFLAGS ?? '-buildvcs=false' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('exit', resolve);
  });
  if (code !== 0) throw new Error(`go install ${module}@${version} failed (exit ${code})`);
  fs.mkdirSync(MACHINE_CACHE, { recursive: true });
  fs.copyFileSync(path.join(gobin, name), cachedName(name));
  fs.chmodSync(cachedName(name), 0o755);
  fs.rmSync(gobin, { recursive: true, force: true });
  log(`built ${name} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** Finds or builds every tool; builds run side by side. */
export async function ensureTools(
  log: (line: string) => void = () => {},
): Promise<Record<ToolName, string>> {
  const [temporal, minio] = await Promise.all([
    ensureTool('temporal', log),
    ensureTool('minio', log),
  ]);
  return { temporal, minio };
}

export function toolVersion(file: string): string {
  try {
    return execFileSync(file, ['--version'], { encoding: 'utf8' }).split('\n')[0];
  } catch {
    return 'unknown';
  }
}
