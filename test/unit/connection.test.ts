import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConnectionConfigError, temporalConnectConfig } from '../../src/runtime/connection';

// The environment passed in replaces process.env, so no user temporal.toml is read:
// TEMPORAL_CONFIG_FILE points at a file that does not exist unless a test writes one.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zipflow-envconfig-'));
const noFile = { TEMPORAL_CONFIG_FILE: path.join(dir, 'none.toml') };

test('without settings: plaintext to localhost:7233, namespace default', () => {
  assert.deepEqual(temporalConnectConfig(noFile), {
    address: 'localhost:7233',
    namespace: 'default',
    taskQueue: 'zipflow',
  });
});

test('TEMPORAL_TLS_* variables become the TLS settings of the connection, with mTLS key pair', () => {
  fs.writeFileSync(path.join(dir, 'ca.pem'), 'CA');
  fs.writeFileSync(path.join(dir, 'client.pem'), 'CERT');
  fs.writeFileSync(path.join(dir, 'client.key'), 'KEY');
  const config = temporalConnectConfig({
    ...noFile,
    TEMPORAL_ADDRESS: 'temporal.example:7233',
    TEMPORAL_NAMESPACE: 'prod',
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(dir, 'ca.pem'),
    TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'client.pem'),
    TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'client.key'),
    TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
  });
  assert.equal(config.address, 'temporal.example:7233');
  assert.equal(config.namespace, 'prod');
  assert.ok(typeof config.tls === 'object');
  assert.equal(config.tls.serverNameOverride, 'temporal.internal');
  assert.equal(Buffer.from(config.tls.serverRootCACertificate!).toString(), 'CA');
  assert.equal(Buffer.from(config.tls.clientCertPair!.crt).toString(), 'CERT');
  assert.equal(Buffer.from(config.tls.clientCertPair!.key).toString(), 'KEY');
});

test('TEMPORAL_API_KEY turns TLS on; TEMPORAL_TLS=false turns it off again', () => {
  const withKey = temporalConnectConfig({ ...noFile, TEMPORAL_API_KEY: 'k' });
  assert.equal(withKey.apiKey, 'k');
  assert.equal(withKey.tls, true);
  const plain = temporalConnectConfig({ ...noFile, TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' });
  assert.equal(plain.tls, false);
});

test('a temporal.toml profile chosen by TEMPORAL_PROFILE is used, and variables override it', () => {
  const file = path.join(dir, 'temporal.toml');
  fs.writeFileSync(
    file,
    [
      '[profile.cloud]',
      'address = "ns.acct.tmprl.cloud:7233"',
      'namespace = "ns.acct"',
      'api_key = "from-file"',
    ].join('\n'),
  );
  const env = { TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'cloud' };
  const config = temporalConnectConfig(env);
  assert.equal(config.address, 'ns.acct.tmprl.cloud:7233');
  assert.equal(config.namespace, 'ns.acct');
  assert.equal(config.apiKey, 'from-file');
  assert.equal(temporalConnectConfig({ ...env, TEMPORAL_NAMESPACE: 'other' }).namespace, 'other');
  assert.throws(
    () => temporalConnectConfig({ ...env, TEMPORAL_PROFILE: 'missing' }),
    (err: unknown) => err instanceof ConnectionConfigError && /missing/.test(err.message),
  );
});

test('a client certificate without its key (or the reverse) is refused, naming both variables', () => {
  assert.throws(
    () =>
      temporalConnectConfig({ ...noFile, TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'x.pem') }),
    (err: unknown) =>
      err instanceof ConnectionConfigError &&
      /TEMPORAL_TLS_CLIENT_CERT_PATH/.test(err.message) &&
      /TEMPORAL_TLS_CLIENT_KEY_PATH/.test(err.message),
  );
});
