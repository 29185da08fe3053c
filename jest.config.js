/** Jest runs the TypeScript tests as ES modules (execa and the project are ESM). */
export default {
  testEnvironment: 'node',
  // Child processes and servers end after a test file's last line; jest's soft-deleted globals then recurse forever.
  testEnvironmentOptions: { globalsCleanup: 'off' },
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.test.json' }],
  },
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 60000,
  // Each test file starts its own servers on its own ports; two workers fit a 2-core machine.
  maxWorkers: 2,
};
