import { spawnSync } from 'node:child_process';

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Debian packages the tests use: 7-Zip, Info-ZIP and libarchive's bsdtar (reader tests) and Chromium (the Web UI
 * browser test, driven by playwright-core; never a browser downloaded by a test tool). Installed
 * when missing and this process may (root with apt-get); otherwise the tests that need them say
 * how to install.
 */
export function ensureSystemPackages(log: (line: string) => void): void {
  const wanted: Array<[string, string]> = [
    ['7zz', '7zip'],
    ['unzip', 'unzip'],
    ['bsdtar', 'libarchive-tools'],
    ['chromium', 'chromium'],
  ];
  const missing = wanted.filter(([command]) => !has(command)).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || !has('apt-get')) {
    log(
      `missing Debian packages ${missing.join(', ')}: install them (apt-get install ${missing.join(' ')})`,
    );
    return;
  }
  log(`installing ${missing.join(', ')} with apt-get`);
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  spawnSync('apt-get', ['install', '-y', '-qq', ...missing], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}
