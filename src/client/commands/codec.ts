import type { Command } from 'commander';
import { ENV } from '../../runtime/config';
import { codecKeysFromEnv, EncryptionCodec } from '../../runtime/codec';
import { corsOriginsFromEnv, startCodecServer } from '../codecServer';
import { UsageError } from './output';

/** `zipflow codec-server`: the codec endpoint that lets the Web UI show encrypted payloads. */
export function registerCodec(program: Command): void {
  program
    .command('codec-server')
    .description(
      `serve POST /encode and /decode for the Temporal Web UI with the keys in ${ENV.codecKeys}`,
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '8888')
    .addHelpText(
      'after',
      `
Environment:
  ${ENV.codecKeys}          id:base64key[,id:base64key...] (required)
  ${ENV.codecKeyId}        the key id that encrypts (/encode)
  ${ENV.codecAuthToken}    when set, callers must send "Authorization: Bearer <token>"
  ${ENV.codecCorsOrigins}  Web UI origins allowed to call (default: http://localhost:8233)

In the Web UI, set the Codec Server endpoint (Settings → Codec Server, or
TEMPORAL_CODEC_ENDPOINT for the UI server) to the URL printed at start.`,
    )
    .action(async (opts: { host: string; port: string }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new UsageError(`--port: "${opts.port}" is not a port number`);
      }
      const keys = codecKeysFromEnv();
      if (!keys)
        throw new UsageError(`${ENV.codecKeys} is not set: there is nothing to decode with`);
      const running = await startCodecServer({
        codec: new EncryptionCodec(keys),
        corsOrigins: corsOriginsFromEnv(),
        authToken: process.env[ENV.codecAuthToken] || undefined,
        host: opts.host,
        port,
      });
      console.log(
        `codec endpoint listening on ${running.url} (keys: ${[...keys.keys.keys()].join(', ')})`,
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          void running.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
