import type { E2eResult } from '../../bench/e2e/harness';

/**
 * A saved bench run for e2eMarkdown: a 2-vCPU machine, 8 MiB parts, 4 in flight; `fields` give
 * the rows, targets and options a test is about.
 */
export function benchResult(
  fields: Partial<Omit<E2eResult, 'options'>> & { options?: Partial<E2eResult['options']> },
): E2eResult {
  return {
    startedAt: '2026-11-25T05:00:00.000Z',
    quick: false,
    node: 'v24',
    machine: { cpus: 2, loadAverageAtStart: [1, 1, 1] },
    seeds: [],
    rows: [],
    targets: [],
    ...fields,
    options: {
      partSize: 8 * 1024 * 1024,
      concurrency: 4,
      level: 6,
      workerRuntime: false,
      ...fields.options,
    } as E2eResult['options'],
  };
}
