/**
 * `npm run bench`: runs the benchmark workloads, writes their JSON to bench/results/ and prints
 * Markdown tables with ratios against baselines measured in the same run. Exits 1 when a
 * target ratio is missed. Flags after `--` go to the encoder workload (see bench/encoder.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { encoderBenchMarkdown, runEncoderBench } from '../bench/encoder';

const STORE_TARGET_VS_YAZL = 5;

async function main(): Promise<number> {
  const outDir = path.resolve(__dirname, '..', 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const encoder = await runEncoderBench();
  fs.writeFileSync(path.join(outDir, 'encoder.json'), JSON.stringify(encoder, null, 2));
  console.log('## Encoder only\n');
  console.log(encoderBenchMarkdown(encoder));
  const met = encoder.storeSpeedupVsYazl >= STORE_TARGET_VS_YAZL;
  console.log(
    `target STORE ≥ ${STORE_TARGET_VS_YAZL}× yazl: ${met ? 'met' : 'MISSED'} (${encoder.storeSpeedupVsYazl}×)`,
  );
  return met ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
