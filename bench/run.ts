/**
 * `npm run bench`: the CPU backend against tfjs-backend-cpu and tfjs-backend-wasm (bench/cpu.ts).
 *
 *   npm run bench                       the CPU comparison
 *   npm run bench -- --only nn,webgpu   just these benchmarks (cpu, nn, webgpu, wasm)
 *   npm run bench -- --all              every benchmark present
 *   npm run bench -- --quick            fewer samples; other flags (--clock wall, --filter matmul,
 *                                       --peers cpu) go to each benchmark
 *
 * The others may need a GPU or take long, so they run only when asked for. A benchmark module
 * `bench/<name>.ts` that exports `run(argv)` runs in this process with the flags above; one without it
 * is started as its own `tsx bench/<name>.ts` process with its default arguments (run it directly to
 * pass its own flags).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { flag } from './util.js';

const KNOWN = ['cpu', 'nn', 'webgpu', 'wasm'] as const;

type BenchModule = { run?: (argv: readonly string[]) => unknown };

async function main(argv: readonly string[]): Promise<number> {
  const dir = path.dirname(fileURLToPath(import.meta.url));
  const only = flag(argv, 'only');
  const names = argv.includes('--all') ? [...KNOWN] : only ? only.split(',').map((s) => s.trim()).filter(Boolean) : ['cpu'];
  const unknown = names.filter((n) => !(KNOWN as readonly string[]).includes(n));
  if (unknown.length) {
    console.error(`bench: unknown benchmark ${unknown.join(', ')}; choose from ${KNOWN.join(', ')}`);
    return 2;
  }
  const rest = argv.filter((a, i) => a !== '--all' && a !== '--only' && argv[i - 1] !== '--only' && !a.startsWith('--only='));
  let failed = 0;
  for (const name of names) {
    const file = path.join(dir, `${name}.ts`);
    if (!existsSync(file)) {
      if (argv.includes('--all')) continue;
      console.error(`bench: bench/${name}.ts does not exist (yet)`);
      failed++;
      continue;
    }
    console.log(`\n## bench/${name}.ts\n`);
    // Decided from the source, not by importing: a module without `run` does its work on import.
    if (/export\s+(async\s+)?function\s+run\b|export\s+const\s+run\b/.test(readFileSync(file, 'utf8'))) {
      const mod = (await import(pathToFileURL(file).href)) as BenchModule;
      await mod.run?.(rest);
    } else {
      // Its own command line may differ from ours (bench/nn.ts takes a step count), so pass nothing.
      const child = spawnSync(process.execPath, ['--import', 'tsx', file], { stdio: 'inherit' });
      if (child.status !== 0) {
        console.error(`bench: bench/${name}.ts exited with ${child.status ?? child.signal}`);
        failed++;
      }
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
