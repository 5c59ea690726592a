#!/usr/bin/env node
// The `rolling` command: runs experiments/cli.ts through tsx's loader (no build step).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../experiments/cli.ts');
process.exitCode = await main(process.argv.slice(2));
