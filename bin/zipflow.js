#!/usr/bin/env node
// The zipflow CLI. The package runs its compiled JavaScript (dist/); a checkout of the
// sources, which ships no build, runs the TypeScript through tsx (a dev dependency).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

if (fs.existsSync(path.join(__dirname, '..', 'src', 'client', 'cli.ts'))) {
  require('tsx/cjs');
  require('../src/client/cli').main(process.argv);
} else {
  require('../dist/client/cli').main(process.argv);
}
