import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';

export const pingActivities = {
  async shout(text: string): Promise<string> {
    return `${text.toUpperCase()}!`;
  },
};

const { shout } = proxyActivities<typeof pingActivities>({ startToCloseTimeout: '10 seconds' });

/** A trivial workflow that round-trips through an activity on a real worker. */
export async function ping(text: string): Promise<string> {
  return shout(text);
}

/** Fails from workflow code: its stack trace, as the client gets it, goes through the map. */
export async function failing(reason: string): Promise<never> {
  throw ApplicationFailure.nonRetryable(reason);
}
