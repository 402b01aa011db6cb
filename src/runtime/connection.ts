import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import { DEFAULTS, ENV, temporalSettings } from './config';

// Not for the workflow bundle: reads files. The client and the worker load it.

/** How to reach Temporal: one answer for the client (Connection) and the worker (NativeConnection). */
export interface TemporalConnectConfig {
  address: string;
  namespace: string;
  taskQueue: string;
  /** TLS settings; `true` for TLS with the system's roots; undefined for plaintext. */
  tls?: TLSConfig | boolean;
  /** Sent as `Authorization: Bearer <key>` on every call; implies TLS unless TEMPORAL_TLS=false. */
  apiKey?: string;
  /** Extra gRPC metadata (TEMPORAL_GRPC_META_<NAME>, or grpc_meta in the profile). */
  metadata?: Record<string, string>;
}

/** A Temporal connection setting that cannot work as given; the message names what to fix. */
export class ConnectionConfigError extends Error {}

/**
 * Temporal's standard environment configuration, via the SDK's own loader
 * (`@temporalio/envconfig`): a profile from temporal.toml (TEMPORAL_CONFIG_FILE, else the
 * user config folder; TEMPORAL_PROFILE picks one), overridden by TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH,
 * TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME
 * (and their *_DATA forms). Without any of them: plaintext to localhost:7233, namespace default.
 */
export function temporalConnectConfig(env: NodeJS.ProcessEnv = process.env): TemporalConnectConfig {
  const vars: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) vars[name] = value;
  const certSet = Boolean(
    vars[ENV.temporalTlsClientCertPath] || vars.TEMPORAL_TLS_CLIENT_CERT_DATA,
  );
  const keySet = Boolean(vars[ENV.temporalTlsClientKeyPath] || vars.TEMPORAL_TLS_CLIENT_KEY_DATA);
  if (certSet !== keySet) {
    throw new ConnectionConfigError(
      `mTLS needs both ${ENV.temporalTlsClientCertPath} and ${ENV.temporalTlsClientKeyPath} (or their _DATA forms); only ${certSet ? 'the certificate' : 'the key'} is set`,
    );
  }
  let loaded;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: vars });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new ConnectionConfigError(
      `Temporal connection settings (${ENV.temporalProfile}, ${ENV.temporalConfigFile}, TEMPORAL_TLS_*): ${message}`,
    );
  }
  const options = loaded.connectionOptions;
  const settings = temporalSettings(env);
  return {
    address: options.address || DEFAULTS.temporalAddress,
    namespace: loaded.namespace || DEFAULTS.temporalNamespace,
    taskQueue: settings.taskQueue,
    ...(options.tls !== undefined && options.tls !== null ? { tls: options.tls } : {}),
    ...(typeof options.apiKey === 'string' && options.apiKey ? { apiKey: options.apiKey } : {}),
    ...(options.metadata && Object.keys(options.metadata).length > 0
      ? {
          metadata: Object.fromEntries(
            Object.entries(options.metadata).map(([name, value]) => [name, String(value)]),
          ),
        }
      : {}),
  };
}

/** The connection options both `Connection.connect` and `NativeConnection.connect` take. */
export function connectionOptions(config: TemporalConnectConfig): {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Record<string, string>;
} {
  const { address, tls, apiKey, metadata } = config;
  // Only what is set: an explicit undefined would replace the SDK's own defaults.
  return {
    address,
    ...(tls !== undefined ? { tls } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
    ...(metadata !== undefined ? { metadata } : {}),
  };
}
