import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { isAlive, readStackState } from '../../src/client/dev/stack';

const run = promisify(execFile);
const bin = path.resolve(__dirname, '../../bin/zipflow.js');

test('zipflow dev up/status/down starts a usable stack, reports it, and stops it without stray processes', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zipflow-devcli-'));
  const env = { ...process.env, ZIPFLOW_DEV_DIR: dir };
  try {
    const up = await run(process.execPath, [bin, 'dev', 'up'], { env });
    const exported = Object.fromEntries(
      [...up.stdout.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1], m[2]]),
    );
    assert.match(exported.TEMPORAL_ADDRESS, /^127\.0\.0\.1:\d+$/);
    assert.match(exported.AWS_ENDPOINT_URL_S3, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(exported.AWS_ACCESS_KEY_ID && exported.AWS_SECRET_ACCESS_KEY);
    const live = await fetch(`${exported.AWS_ENDPOINT_URL_S3}/minio/health/live`);
    assert.equal(live.status, 200);

    const again = await run(process.execPath, [bin, 'dev', 'up'], { env });
    assert.equal(again.stdout, up.stdout, 'a second "dev up" reuses the running stack');

    const status = await run(process.execPath, [bin, 'dev', 'status', '--json'], { env });
    const parsed = JSON.parse(status.stdout) as { running: boolean; TEMPORAL_ADDRESS: string };
    assert.equal(parsed.running, true);
    assert.equal(parsed.TEMPORAL_ADDRESS, exported.TEMPORAL_ADDRESS);

    const state = readStackState(dir)!;
    await run(process.execPath, [bin, 'dev', 'down'], { env });
    assert.equal(isAlive(state.temporal.pid), false);
    assert.equal(isAlive(state.minio.pid), false);
    await assert.rejects(
      run(process.execPath, [bin, 'dev', 'status'], { env }),
      (err: { code?: number }) => {
        assert.equal(err.code, 3);
        return true;
      },
    );
  } finally {
    const state = readStackState(dir);
    if (state)
      for (const pid of [state.temporal.pid, state.minio.pid])
        if (isAlive(pid)) process.kill(-pid, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
