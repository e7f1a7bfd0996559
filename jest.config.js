/** Jest runs the TypeScript sources through swc; `tsc` does the type check (npm test). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['<rootDir>/test/support/swc-transform.js', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  testTimeout: 120000,
  setupFiles: ['<rootDir>/test/support/quiet-onnxruntime.js'],
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
