/**
 * The layout's dependency rules ("arrows point down only", as the team's design document states them,
 * restated here), checked on the source: every relative import of every .ts file under the project's
 * folders.
 * - core imports nothing of the project and never a backend;
 * - backends/* import only core (and their own folder); one exception, decided with the wasm
 *   backend: backends/wasm runs the CPU backend's reference kernels on views of its heap for the
 *   primitives it has no SIMD kernel for (both keep tensors in host memory), so it may import
 *   backends/cpu; the reverse, and any other backend pair, is refused;
 * - nn and diffusion import only core;
 * - nothing imports experiments, except web/, the in-browser app on top of everything (its
 *   moving-shapes clips and FSD come from experiments/: web is a leaf, like the command line);
 * - nothing imports web, bench or test.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...sources(path));
    else if (/\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The top folder (core, backends/cpu, nn, …) a relative import of `file` lands in. */
function importsOf(file: string): { spec: string; target: string }[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)].map((m) => (m[1] ?? m[2])!);
  return specs.map((spec) => ({ spec, target: relative(ROOT, resolve(ROOT, dirname(file), spec)) }));
}

function area(path: string): string {
  const [top, sub] = path.split('/');
  return top === 'backends' ? `backends/${sub}` : path.includes('/') ? top! : path.replace(/\.(ts|mts|js)$/, '');
}

const ALLOWED: Record<string, (target: string) => boolean> = {
  core: (t) => t === 'core',
  nn: (t) => t === 'core' || t === 'nn',
  diffusion: (t) => t === 'core' || t === 'diffusion',
  experiments: (t) => !['web', 'bench', 'test'].includes(t),
  web: (t) => !['bench', 'test'].includes(t),
};

describe('dependency rules of the layout', () => {
  const files = ['core', 'backends', 'nn', 'diffusion', 'experiments', 'web'].flatMap((d) => sources(d));

  it('finds the project sources', () => {
    for (const d of ['core', 'backends/cpu', 'backends/wasm', 'backends/webgpu', 'nn', 'diffusion', 'experiments', 'web']) {
      expect(files.some((f) => f.startsWith(`${d}/`)), d).toBe(true);
    }
  });

  it('arrows point down only', () => {
    const violations: string[] = [];
    for (const file of files) {
      const from = area(file);
      for (const { spec, target } of importsOf(file)) {
        const to = area(target);
        const ok = from.startsWith('backends/') ? to === 'core' || to === from || (from === 'backends/wasm' && to === 'backends/cpu') : ALLOWED[from]!(to);
        if (!ok) violations.push(`${file} imports '${spec}' (${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('the check sees a violation (a planted import from core into nn is reported)', () => {
    const planted = { file: 'core/ops.ts', target: 'nn/index' };
    expect(ALLOWED[area(planted.file)]!(area(planted.target))).toBe(false);
    expect(importsOf('nn/layers/linear.ts').map((i) => area(i.target))).toContain('core');
  });
});
