import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';

/** Imports a folder may not use, each with the reason a newcomer should read (docs/design.md). */
function layer(files, patterns) {
  return {
    files,
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns }],
    },
  };
}

const node = {
  group: [
    'node:*',
    '@aws-sdk/*',
    '@temporalio/activity',
    '@temporalio/worker',
    '@temporalio/client',
    '@temporalio/envconfig',
    'picomatch',
    'yauzl',
  ],
  message:
    'workflow-safe code: no Node APIs or Node-only packages (the workflow bundle runs in a sandbox)',
};
/** Relative imports that climb into one of the named top-level folders of src/. */
const outOf = (names, message) => ({ regex: `^(\\.\\./)+(${names.join('|')})(/|$)`, message });

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tools/', '.zipflow/', 'test-artifacts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        require: 'readonly',
        __dirname: 'readonly',
        module: 'writable',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  // Layers (docs/design.md, "Folders and what each may import").
  layer(
    ['src/zip/**'],
    [
      {
        group: ['../*', '@temporalio/*', '@aws-sdk/*'],
        message:
          'src/zip is the pure ZIP encoder: it imports nothing of the project and no service SDK',
      },
    ],
  ),
  layer(
    ['src/shared/**'],
    [
      node,
      outOf(
        ['engine', 'activities', 'client', 'runtime', 's3', 'workflows'],
        'src/shared is the workflow-safe vocabulary: it imports only src/shared and src/zip constants',
      ),
    ],
  ),
  layer(
    ['src/workflows/**'],
    [
      node,
      outOf(
        ['engine', 'client', 'runtime', 's3'],
        'workflows orchestrate: they import src/shared and activity types only (import type)',
      ),
    ],
  ),
  layer(
    ['src/s3/**'],
    [
      {
        group: ['@temporalio/*'],
        message: 'src/s3 wraps the S3 API and knows nothing of Temporal',
      },
      outOf(
        ['engine', 'activities', 'client', 'workflows'],
        'src/s3 wraps the S3 API: it may use src/shared, src/runtime and src/zip only',
      ),
    ],
  ),
  layer(
    ['src/engine/**'],
    [
      {
        group: ['@temporalio/*'],
        message:
          'the engine has no Temporal in it: use currentAttempt() (src/engine/run/attempt.ts) and RunFailure',
      },
      outOf(
        ['activities', 'client', 'workflows'],
        'the engine is called by activities and the client, never the other way round',
      ),
    ],
  ),
  layer(
    ['src/activities/**'],
    [
      outOf(
        ['client', 'workflows'],
        'activities adapt the engine to Temporal; they do not use the client or the workflows',
      ),
    ],
  ),
  layer(
    ['src/client/**'],
    [
      outOf(
        ['activities'],
        'the client calls the engine directly (verify, selection checks), never through activities',
      ),
    ],
  ),
  // No import cycles in the product code (type-only imports are erased and do not count).
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js'] })],
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: {
      'import-x/no-cycle': [
        'error',
        { ignoreExternal: true, allowUnsafeDynamicCyclicDependency: false },
      ],
    },
  },
);
