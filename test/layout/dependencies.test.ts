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
 * - nothing imports web, bench or test;
 * - inside experiments, its wings point down too: math/ (fft, random) and formats/ (files and records)
 *   at the bottom, data/ and metrics/ above them, the runs at the top of the folder (presets, model,
 *   trainer, generate, ...), cli/ on top of everything; only experiments/index.ts, the folder's face,
 *   imports cli/;
 * - and no import cycle anywhere, file by file, in every folder the tests see (sources, web, bench,
 *   tests, examples), type-only imports included (core's rule tables register themselves into
 *   core/registry.ts and the tape's hooks, so the tape never imports the rules written with ops).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
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

/** The relative imports of `file`: the specifier and the path it lands on. */
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

/** The wing of a path under experiments/: a subfolder, or 'runs' for the files at its top. */
function wing(path: string): string {
  const parts = path.split('/');
  return parts.length > 2 ? parts[1]! : 'runs';
}

const WINGS: Record<string, readonly string[]> = {
  math: [],
  formats: [],
  data: ['formats', 'math'],
  metrics: ['math'],
  runs: ['formats', 'math', 'data', 'metrics'],
  cli: ['formats', 'math', 'data', 'metrics', 'runs'],
};

/** A relative import's target as a source file (`./x.js` → `x.ts`), or undefined when it names no file. */
function sourceFile(target: string): string | undefined {
  const ts = target.replace(/\.js$/, '.ts');
  for (const candidate of [ts, `${ts}.ts`, join(ts, 'index.ts')]) {
    if (/\.(ts|mts)$/.test(candidate) && existsSync(join(ROOT, candidate)) && statSync(join(ROOT, candidate)).isFile()) return candidate;
  }
  return undefined;
}

type Graph = ReadonlyMap<string, readonly string[]>;

/** The file-level import graph of `files` (edges to files outside them are kept; they have no edges). */
function importGraph(files: readonly string[]): Graph {
  return new Map(files.map((file) => [file, [...new Set(importsOf(file).flatMap(({ target }) => sourceFile(target) ?? []))]]));
}

/** The import cycles of a graph: its strongly connected components with an edge inside (Tarjan), each as its edges. */
function cycles(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component = new Set<string>();
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.add(w);
      } while (w !== v);
      const edges = [...component].flatMap((a) => (graph.get(a) ?? []).filter((b) => component.has(b)).map((b) => `${a} -> ${b}`));
      if (edges.length > 0) out.push(edges.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

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

  it('inside experiments, the wings point down: math and formats, then data and metrics, the runs, the command line', () => {
    const violations: string[] = [];
    for (const file of files.filter((f) => f.startsWith('experiments/'))) {
      const from = wing(file);
      for (const { spec, target } of importsOf(file)) {
        if (!target.startsWith('experiments/')) continue;
        const to = wing(target);
        const ok = to === from || WINGS[from]!.includes(to) || (file === 'experiments/index.ts' && to === 'cli');
        if (!ok) violations.push(`${file} (${from}) imports '${spec}' (${to})`);
      }
    }
    expect(Object.keys(WINGS).sort()).toEqual([...new Set(files.filter((f) => f.startsWith('experiments/')).map(wing))].sort());
    expect(violations).toEqual([]);
  });

  it('no import cycle anywhere', () => {
    const everything = ['index.ts', ...['entry', 'core', 'backends', 'nn', 'diffusion', 'experiments', 'web', 'bench', 'test', 'examples'].flatMap((d) => sources(d))];
    expect(cycles(importGraph(everything)), 'import cycles, each as its edges').toEqual([]);
  });

  it('the cycle check sees a cycle: a planted edge back, and one through a longer loop', () => {
    const graph: Graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['d']],
      ['d', []],
    ]);
    expect(cycles(graph)).toEqual([]);
    const back = new Map(graph).set('d', ['c']);
    expect(cycles(back)).toEqual([['c -> d', 'd -> c']]);
    const loop = new Map(graph).set('c', ['d', 'a']);
    expect(cycles(loop)).toEqual([['a -> b', 'b -> c', 'c -> a']]);
    // The real graph sees a relative import that closes a loop (nn's linear layer imports core).
    expect(importGraph(['nn/layers/linear.ts']).get('nn/layers/linear.ts')!.some((f) => f.startsWith('core/'))).toBe(true);
  });

  it('the check sees a violation (a planted import from core into nn is reported)', () => {
    const planted = { file: 'core/ops.ts', target: 'nn/index' };
    expect(ALLOWED[area(planted.file)]!(area(planted.target))).toBe(false);
    expect(importsOf('nn/layers/linear.ts').map((i) => area(i.target))).toContain('core');
  });
});
