import assert from 'node:assert/strict';
import { test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { archiveWorkflowId, type ArchiveRequest } from '../../src/shared/request';
import { validateRequest } from '../../src/shared/validate';

const root = path.resolve(__dirname, '../..');
const example = fs.readFileSync(path.join(root, 'docs/examples/request.json'), 'utf8').trim();

test('docs/web-ui.md shows docs/examples/request.json verbatim, the request the Temporal CLI test starts', () => {
  const doc = fs.readFileSync(path.join(root, 'docs', 'web-ui.md'), 'utf8');
  assert.ok(doc.includes(`--input '${example}'`), 'the doc passes it to --input as is');
  const { source, destination } = JSON.parse(example) as ArchiveRequest;
  assert.ok(doc.includes(`--workflow-id '${archiveWorkflowId(destination)}'`));
  assert.ok(
    doc.includes(
      `--static-summary 's3://${source.bucket}/${source.prefix} → s3://${destination.bucket}/${destination.key}'`,
    ),
  );
});

test('docs/examples/request.json is a valid archive request', () => {
  assert.doesNotThrow(() => validateRequest(JSON.parse(example) as ArchiveRequest));
});

/** The TypeScript examples of the README's "From an app" section, in order. */
function appExamples(): string[] {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('### From an app');
  const section = readme.slice(start, readme.indexOf('\n### ', start + 1));
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

test("the README's app examples import the package by name and type-check against its exports", () => {
  const examples = appExamples();
  assert.equal(examples.length, 3, 'the client, the workflows file and the worker');
  for (const code of examples) assert.match(code, /from 'zipflow(\/worker|\/workflows)?'/);
  // The examples as the files they name, resolving the package names as package.json exports
  // them (the declarations there are compiled from these sources).
  // Inside the checkout (test-artifacts/ is ignored), so '@temporalio/worker' resolves as in an app.
  fs.mkdirSync(path.join(root, 'test-artifacts'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(root, 'test-artifacts', 'readme-'));
  try {
    const names = ['app.ts', 'workflows.ts', 'worker.ts'];
    examples.forEach((code, i) => fs.writeFileSync(path.join(dir, names[i]), code));
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, { types: string } | string>;
    };
    const paths: Record<string, string[]> = {};
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue;
      const source = target.types.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$/, '.ts');
      assert.ok(fs.existsSync(path.join(root, source)), `${subpath}: ${source}`);
      paths[path.posix.join('zipflow', subpath)] = [path.join(root, source)];
    }
    const program = ts.createProgram(
      names.map((n) => path.join(dir, n)),
      {
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        esModuleInterop: true,
        types: ['node'],
        typeRoots: [path.join(root, 'node_modules/@types')],
        paths,
      },
    );
    const problems = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    assert.deepEqual(problems, []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
