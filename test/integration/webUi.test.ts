import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { chromium, type Browser, type Page } from 'playwright-core';
import { connect, isNoNewObjects, startArchive, type ArchiveRequest } from '../../src/client';
import { temporalSettings } from '../../src/runtime/config';
import type { ArchiveProgress } from '../../src/shared/progress';
import { progressQuery } from '../../src/workflows';
import { s3, tempBucket, uniqueName, withWorker } from '../support/env';

/** Debian's Chromium, installed by `npm test` (scripts/system.ts); never a downloaded browser. */
const CHROMIUM = '/usr/bin/chromium';
/** Headless, and no background connections this machine's closed network would refuse. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = path.resolve(__dirname, '../../test-artifacts');
const TIMEOUT = 60_000;

let client: S3Client;
let source: { name: string; remove(): Promise<void> };
let destination: { name: string; remove(): Promise<void> };
let browser: Browser | undefined;

before(async () => {
  client = await s3();
  source = await tempBucket(client, 'src');
  destination = await tempBucket(client, 'dst');
  for (const name of ['a.txt', 'b/c.txt']) {
    await client.send(
      new PutObjectCommand({ Bucket: source.name, Key: `reports/${name}`, Body: `${name}\n` }),
    );
  }
});

after(async () => {
  await browser?.close();
  await source.remove();
  await destination.remove();
});

test('a finished run is found in the Web UI by its destination search attribute and shows its summary', async () => {
  const ui = process.env.ZIPFLOW_TEMPORAL_UI;
  assert.ok(ui, 'ZIPFLOW_TEMPORAL_UI is set by "npm test" (the dev stack\'s Web UI)');
  assert.ok(
    fs.existsSync(CHROMIUM),
    `${CHROMIUM} is missing: "npm test" installs Debian's chromium when run as root (apt-get install chromium)`,
  );
  const request: ArchiveRequest = {
    source: { bucket: source.name, prefix: 'reports/' },
    destination: { bucket: destination.name, key: `${uniqueName('web-ui')}.zip` },
  };
  const destinationUrl = `s3://${request.destination.bucket}/${request.destination.key}`;
  const summary = `s3://${source.name}/reports/ → ${destinationUrl}`;

  // The worker stays up while the browser looks: the UI's queries need one.
  await withWorker({}, async (taskQueue) => {
    const zipflow = await connect({ taskQueue });
    try {
      const handle = await startArchive(zipflow, request);
      const result = await handle.result();
      assert.ok(!isNoNewObjects(result));
      const progress: ArchiveProgress = await handle.query(progressQuery);
      assert.equal(progress.phase, 'done');
      assert.equal(progress.entriesTotal, 2);
      assert.equal(progress.entriesDone, 2);
      assert.equal(progress.partsDone, result.parts);

      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      page.setDefaultTimeout(TIMEOUT);
      const { namespace } = temporalSettings();
      const query = `ZipflowDestination="${destinationUrl}"`;
      await page.goto(
        `${ui}/namespaces/${namespace}/workflows?query=${encodeURIComponent(query)}`,
        { timeout: TIMEOUT },
      );
      // Visibility is eventually consistent: reload until the run is listed.
      const link = page.getByRole('link', { name: handle.workflowId, exact: true }).first();
      const until = Date.now() + TIMEOUT;
      while (!(await link.isVisible())) {
        if (Date.now() > until) throw new Error(`the Web UI never listed ${handle.workflowId}`);
        await page.waitForTimeout(2000);
        if (!(await link.isVisible())) await page.reload();
      }
      await link.click();
      await page.waitForURL(/\/workflows\/[^/]+\/[^/]+\/history/);
      await page.getByRole('heading', { name: handle.workflowId }).first().waitFor();
      // The run's summary is on its User Metadata tab, rendered as Markdown in a frame.
      await page
        .getByRole('tab', { name: /User Metadata/ })
        .first()
        .click();
      await waitForTextInAnyFrame(page, summary);
      await page.getByText('Completed').first().waitFor({ state: 'visible' });

      const screenshot = path.join(ARTIFACTS, 'web-ui-run.png');
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: screenshot, fullPage: true });
      console.log(`Web UI screenshot: ${screenshot}`);
    } finally {
      await zipflow.close();
    }
  });
});

/** Waits until the page or one of its frames (Markdown is rendered in iframes) shows `text`. */
async function waitForTextInAnyFrame(page: Page, text: string): Promise<void> {
  const until = Date.now() + TIMEOUT;
  for (;;) {
    for (const frame of page.frames()) {
      const shown = frame.getByText(text, { exact: true }).first();
      if (await shown.isVisible().catch(() => false)) return;
    }
    if (Date.now() > until) throw new Error(`the Web UI never showed "${text}"`);
    await page.waitForTimeout(500);
  }
}
