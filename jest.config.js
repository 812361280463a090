/** Two projects: fast unit tests beside the code, and e2e specs that boot the app on real PostgreSQL. */
const transform = {
  '^.+\\.[tj]s$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
};
// otplib's dependencies ship ESM only; let ts-jest transpile them.
const transformIgnorePatterns = ['/node_modules/(?!(@scure|@noble|otplib|@otplib)/)'];

module.exports = {
  maxWorkers: 2,
  testSequencer: '<rootDir>/test/helpers/sequencer.js',
  testTimeout: 60000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/src', '<rootDir>/scripts'],
      testMatch: ['**/*.spec.ts'],
      transform,
      transformIgnorePatterns,
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.e2e-spec.ts'],
      transform,
      transformIgnorePatterns,
      globalSetup: '<rootDir>/test/helpers/global-setup.ts',
      globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
    },
  ],
};
