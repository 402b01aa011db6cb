// `zipflow worker` from compiled JavaScript, as the package and the Dockerfile run it:
// bin/zipflow.js runs the TypeScript sources through tsx in a checkout, and tsx's loader and
// source maps would count in the worker's memory and CPU. The harness compiles src/ into
// .tools/bench-dist/ first (buildDist), a directory of the bench's own so that a build of
// the package's dist/ running at the same time is not disturbed.
'use strict';
require('../../.tools/bench-dist/client/cli').main(process.argv);
