import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { connect } from '../../src/client';
import { createWorker } from '../../src/worker';
import { ENV } from '../../src/runtime/config';
import { requireStack, uniqueName } from '../support/env';
import { pingActivities } from '../support/pingWorkflow';
import { makeTestPki, startTlsFront, type TestPki, type TlsFront } from '../support/tls';

// The dev server has no TLS of its own: each test puts test/support/tls.ts in front of it
// and points zipflow at that with Temporal's standard environment variables only.

let pki: TestPki;
let devServer: string;
const saved = { ...process.env };
const fronts: TlsFront[] = [];

before(() => {
  requireStack();
  devServer = process.env[ENV.temporalAddress]!;
  pki = makeTestPki();
});

afterEach(async () => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
  for (const front of fronts.splice(0)) await front.close();
});

after(() => pki.remove());

async function front(clientCa?: string): Promise<TlsFront> {
  const f = await startTlsFront({
    upstream: devServer,
    cert: pki.serverCert,
    key: pki.serverKey,
    clientCa,
  });
  fronts.push(f);
  return f;
}

/** Runs the ping workflow with a client from connect() and a worker from createWorker(). */
async function pingThroughEnv(): Promise<string> {
  const taskQueue = uniqueName('tq');
  const { worker, connection } = await createWorker({
    taskQueue,
    workflowsPath: require.resolve('../support/pingWorkflow'),
    activities: pingActivities,
  });
  try {
    const client = await connect({ taskQueue });
    try {
      return await worker.runUntil(
        client.temporal.workflow.execute('ping', {
          taskQueue,
          workflowId: uniqueName('ping'),
          args: ['secure'],
        }),
      );
    } finally {
      await client.close();
    }
  } finally {
    await connection.close();
  }
}

test('mTLS from TEMPORAL_TLS_* variables: the client and the worker connect and run a workflow', async () => {
  const tls = await front(pki.caCert);
  Object.assign(process.env, {
    [ENV.temporalAddress]: tls.address,
    [ENV.temporalTlsServerCaCertPath]: pki.caCert,
    [ENV.temporalTlsServerName]: 'localhost',
    [ENV.temporalTlsClientCertPath]: pki.clientCert,
    [ENV.temporalTlsClientKeyPath]: pki.clientKey,
  });
  assert.equal(await pingThroughEnv(), 'SECURE!');
  const paths = new Set(tls.calls.map((h) => String(h[':path'])));
  assert.ok(
    [...paths].some((p) => p.endsWith('/StartWorkflowExecution')),
    'the client went through',
  );
  assert.ok(
    [...paths].some((p) => p.endsWith('/PollWorkflowTaskQueue')),
    'the worker went through',
  );
  assert.equal(tls.refusedHandshakes, 0);
});

test('mTLS: without a client certificate, or with one from another CA, the connection is refused', async () => {
  const tls = await front(pki.caCert);
  Object.assign(process.env, {
    [ENV.temporalAddress]: tls.address,
    [ENV.temporalTlsServerCaCertPath]: pki.caCert,
    [ENV.temporalTlsServerName]: 'localhost',
  });
  await assert.rejects(connect(), 'client without a certificate');
  await assert.rejects(createWorker({ taskQueue: uniqueName('tq') }), 'worker without one');
  Object.assign(process.env, {
    [ENV.temporalTlsClientCertPath]: pki.strangerCert,
    [ENV.temporalTlsClientKeyPath]: pki.strangerKey,
  });
  await assert.rejects(connect(), 'client with a certificate from another CA');
  assert.ok(tls.refusedHandshakes >= 3, `refused ${tls.refusedHandshakes} handshakes`);
  assert.deepEqual(tls.calls, [], 'no call got past the handshake');
});

test('TEMPORAL_API_KEY reaches every call of the client and the worker as a bearer token, over TLS', async () => {
  const tls = await front();
  Object.assign(process.env, {
    [ENV.temporalAddress]: tls.address,
    [ENV.temporalApiKey]: 'zipflow-test-api-key',
    [ENV.temporalTlsServerCaCertPath]: pki.caCert,
    [ENV.temporalTlsServerName]: 'localhost',
  });
  assert.equal(await pingThroughEnv(), 'SECURE!');
  assert.ok(tls.calls.length > 0);
  for (const headers of tls.calls) {
    assert.equal(headers.authorization, 'Bearer zipflow-test-api-key', String(headers[':path']));
  }
  const paths = tls.calls.map((h) => String(h[':path']));
  assert.ok(paths.some((p) => p.endsWith('/StartWorkflowExecution')));
  assert.ok(paths.some((p) => p.endsWith('/PollActivityTaskQueue')));
});
