#!/usr/bin/env node
// The zipflow CLI. TypeScript sources run through tsx, so no build step is needed.
require('tsx/cjs');
require('../src/client/cli').main(process.argv);
