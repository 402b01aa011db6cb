import { MockActivityEnvironment } from '@temporalio/testing';
import { discardRun, planPage, streamArchive } from '../../src/activities';
import type { StreamCheckpoint, StreamInput } from '../../src/engine/writers/stream';
import type { StreamResult } from '../../src/engine/write/finalize';
import type { ArchiveRequest } from '../../src/shared/request';
import { uniqueName } from './env';

/**
 * The streaming activity run in the SDK's activity test environment (real S3, no Temporal
 * server), so a retry can be handed exactly a heartbeat an earlier attempt sent.
 */
export class StreamRuns {
  private readonly inputs: StreamInput[] = [];

  /** Plans `request` (one plan chunk) under a fresh state prefix. */
  async plan(request: ArchiveRequest, partSize = 5 * 1024 * 1024): Promise<StreamInput> {
    const statePrefix = `.zipflow/state/${uniqueName('run')}/`;
    await new MockActivityEnvironment().run(planPage, { request, statePrefix, chunk: 0 });
    const input = { request, statePrefix, chunks: 1, partSize };
    this.inputs.push(input);
    return input;
  }

  /** Another run's input to clean up at the end. */
  track(input: StreamInput): void {
    this.inputs.push(input);
  }

  /**
   * Runs one attempt from `heartbeatDetails`; `onHeartbeat` sees every heartbeat and may cancel
   * the attempt (the rejection is then the result).
   */
  async stream(
    input: StreamInput,
    heartbeatDetails?: StreamCheckpoint,
    onHeartbeat?: (details: StreamCheckpoint, cancel: () => void) => void,
  ): Promise<{ result: StreamResult; last?: StreamCheckpoint }> {
    const env = new MockActivityEnvironment(heartbeatDetails ? { heartbeatDetails } : {});
    let last: StreamCheckpoint | undefined;
    env.on('heartbeat', (details: StreamCheckpoint) => {
      last = details;
      onHeartbeat?.(details, () => env.cancel());
    });
    const result = (await env.run(streamArchive, input)) as StreamResult;
    return { result, last };
  }

  /** Cleans up as the workflow does when a run ends (the activities ran without it). */
  async discard(): Promise<void> {
    for (const input of this.inputs) await new MockActivityEnvironment().run(discardRun, input);
  }
}
