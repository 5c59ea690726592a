#!/usr/bin/env node
// The `rolling` command: runs the compiled command line, dist/experiments/cli.js (plain JavaScript, no
// loader). In a checkout, `npm install` builds dist/ (the `prepare` script); `npm run rolling -- ...`
// runs the TypeScript source instead, through tsx, without building.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/experiments/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('rolling: dist/ is missing; run `npm run build` first (or `npm run rolling -- <command>` to run the source with tsx)');
  process.exit(1);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
