// Runs the TypeScript sources directly: `node -r ./tools/register-ts.js bench/x.ts`.
// Each .ts file is compiled on load by swc with the settings jest uses (jest.config.js);
// dynamic import() is kept native so ES-module packages (vega) load as in dist/.
// Types are not checked here: `npm run typecheck` does that.
'use strict';
const fs = require('node:fs');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    filename,
    sourceMaps: 'inline',
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs', ignoreDynamic: true },
  });
  module._compile(code, filename);
};
