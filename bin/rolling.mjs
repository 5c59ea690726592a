#!/usr/bin/env node
// The `rolling` command: runs the compiled command line, dist/experiments/cli/cli.js (plain JavaScript, no
// loader). In a checkout, `npm install` builds dist/ (the `prepare` script); `npm run rolling -- ...`
// runs the TypeScript source instead, through tsx, without building.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/experiments/cli/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('rolling: dist/ is missing; run `npm run build` first (or `npm run rolling -- <command>` to run the source with tsx)');
  process.exit(1);
}
// Fused multiply-add in the wasm matmul (relaxed SIMD; Node 20-21 have it behind a V8 flag, set here
// before any kernel is compiled): about a quarter faster training, results different in the last bits
// from the plain-SIMD path. ROLLING_RELAXED_SIMD=0 keeps plain SIMD.
if (process.env.ROLLING_RELAXED_SIMD !== '0') {
  const { enableRelaxedSimd } = await import(new URL('../dist/backends/wasm/index.js', import.meta.url).href);
  await enableRelaxedSimd();
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
