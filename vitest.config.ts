import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Does nothing unless FC_SEED or FC_RUNS_SCALE is set: see the file.
    setupFiles: ['test/fcSeed.setup.ts'],
  },
});
