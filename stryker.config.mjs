// Mutation testing of the property suite (issue 20): `npm run mutate`, not part of CI (slow on 2 cores).
// Scores per module and the survivors are kept in test/MUTATION.md.
//
// One module at a time, with only the tests that cover it, e.g.
//   MUTATE_TESTS=test/experiments/metrics/metrics.test.ts npm run mutate -- --mutate experiments/metrics/metrics.ts
// Incremental: reports/mutation/incremental.json remembers each mutant's result, so a second run
// only tests mutants in code or tests that changed since.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  // The modules where a wrong line is a wrong result (issue 20).
  mutate: [
    'core/rules.ts',
    'core/trace.ts',
    'core/random.ts',
    'diffusion/**/*.ts',
    'nn/optim/**/*.ts',
    'nn/layers/**/*.ts',
    'experiments/metrics/metrics.ts',
    'experiments/metrics/evaluate.ts',
    '!**/index.ts',
  ],
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts' },
  coverageAnalysis: 'perTest',
  concurrency: 1,
  incremental: true,
  incrementalFile: 'reports/mutation/incremental.json',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
