import type { Command } from 'commander';
import { verifyArchiveObject } from '../../engine/verify';
import { withS3Clients } from '../../s3/client';
import { parseS3Url } from '../s3url';
import { EXIT, UsageError } from './output';

/** `zipflow verify s3://bucket/key`: reads an archive back and checks it against its records. */
export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      "read an archive back from S3 and check its structure, every entry's CRC-32 and sizes, its manifest and its SHA-256",
    )
    .argument('<archive>', 's3://bucket/key.zip to check')
    .option('--profile <name>', "AWS profile for the archive's store")
    .option('--json', 'machine-readable output (the whole report)')
    .addHelpText(
      'after',
      `
Checks, without downloading the archive to disk or memory:
  - yauzl reads the end records and central directory (ranged GETs);
  - every entry's data matches the CRC-32 and sizes in the central directory and its
    data descriptor, and its manifest line (<key>.manifest.jsonl: name, sizes, CRC-32,
    offset);
  - the SHA-256 and CRC-32 of the whole object match its zipflow-sha256 and zipflow-crc32 tags.

Exit codes: 0 the archive matches; ${EXIT.mismatch} it does not (each problem is printed);
${EXIT.notFound} no such object; ${EXIT.error} it could not be checked (no access, ...).`,
    )
    .action(async (archiveUrl: string, opts: { profile?: string; json?: boolean }) => {
      const { bucket, key } = parseS3Url('archive', archiveUrl);
      if (key === '')
        throw new UsageError(`archive: "${archiveUrl}" names no object: write s3://bucket/key`);
      await withS3Clients([{ profile: opts.profile }], async ([client]) => {
        const report = await verifyArchiveObject(client, { bucket, key });
        if (opts.json) {
          console.log(JSON.stringify(report, null, 2));
        } else if (report.ok) {
          console.log(
            `ok: s3://${bucket}/${key}: ${report.entries} entries, ${report.bytes} bytes, sha256 ${report.sha256.actual}`,
          );
        } else {
          console.log(
            `mismatch: s3://${bucket}/${key}: ${report.problemCount} problem${report.problemCount === 1 ? '' : 's'} (${report.entries} entries, ${report.bytes} bytes checked)`,
          );
          for (const problem of report.problems) console.log(`  ${problem}`);
          const more = report.problemCount - report.problems.length;
          if (more > 0) console.log(`  ... and ${more} more`);
        }
        if (!report.ok) process.exitCode = EXIT.mismatch;
      });
    });
}
