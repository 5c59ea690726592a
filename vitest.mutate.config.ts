// The vitest configuration Stryker runs (stryker.config.mjs): the ordinary one, restricted to the test
// files in MUTATE_TESTS (comma-separated) when given, and never the suites that need a browser or a GPU.
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

const chosen = process.env.MUTATE_TESTS?.split(',').map((path) => path.trim()).filter(Boolean);

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: chosen && chosen.length > 0 ? chosen : ['test/**/*.test.ts'],
    exclude: ['node_modules/**', '.stryker-tmp/**', 'test/web/e2e.test.ts', 'test/backends/webgpu*.test.ts', 'test/nn/uvit-webgpu.test.ts', 'test/bench/**'],
  },
});
