import { proxyActivities } from '@temporalio/workflow';

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
