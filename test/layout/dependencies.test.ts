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
 *   tests, examples), type-only imports included, except the one knot step 2 of issue 18 will untie
 *   in core (KNOWN_CYCLE_EDGES below, edge by edge, so that any new cycle, or a new edge inside the
 *   knot, fails).
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

/**
 * The one knot of import cycles the layout still has, in core, edge by edge: ops → trace → rules →
 * ops (an op records itself on the tape, the tape looks up the op's VJP rule, the rules are written
 * with ops), trace ⇄ jvp and trace ⇄ vmap (the tape hands forward-mode and batching their
 * transformations; they call back into the tape to bind primitives), and jvp → ops, vmap → ops (their
 * rules are written with ops, which closes jvp → ops → trace → jvp and likewise for vmap). They work
 * only because ES module bindings resolve lazily. Step 2 of issue 18 (untie the core) removes them;
 * take each edge off this list when it goes (a test below fails for a listed edge that is no longer
 * part of a cycle).
 */
const KNOWN_CYCLE_EDGES: readonly string[] = [
  'core/ops.ts -> core/trace.ts',
  'core/trace.ts -> core/rules.ts',
  'core/rules.ts -> core/ops.ts',
  'core/trace.ts -> core/jvp.ts',
  'core/jvp.ts -> core/trace.ts',
  'core/trace.ts -> core/vmap.ts',
  'core/vmap.ts -> core/trace.ts',
  'core/jvp.ts -> core/ops.ts',
  'core/vmap.ts -> core/ops.ts',
];

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

/** The cycles with an edge that is not a known one. */
function unknownCycles(found: readonly string[][], known: readonly string[]): string[][] {
  return found.filter((edges) => edges.some((e) => !known.includes(e)));
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

  it('no import cycle anywhere, but for the known knot in core (each of its edges named)', () => {
    const everything = ['index.ts', ...['entry', 'core', 'backends', 'nn', 'diffusion', 'experiments', 'web', 'bench', 'test', 'examples'].flatMap((d) => sources(d))];
    const found = cycles(importGraph(everything));
    expect(unknownCycles(found, KNOWN_CYCLE_EDGES), 'a new import cycle (its edges; the ones not in KNOWN_CYCLE_EDGES are new)').toEqual([]);
    const stale = KNOWN_CYCLE_EDGES.filter((e) => !found.some((edges) => edges.includes(e)));
    expect(stale, 'edges listed in KNOWN_CYCLE_EDGES that are no longer in a cycle: take them off the list').toEqual([]);
  });

  it('the cycle check sees a cycle: a planted edge back, and a new edge inside a known knot', () => {
    const graph: Graph = new Map([
      ['a', ['b']],
      ['b', ['a', 'c']],
      ['c', ['d']],
      ['d', []],
    ]);
    const known = ['a -> b', 'b -> a'];
    expect(cycles(graph)).toEqual([known]);
    expect(unknownCycles(cycles(graph), known)).toEqual([]);
    const back = new Map(graph).set('d', ['c']);
    expect(unknownCycles(cycles(back), known)).toEqual([['c -> d', 'd -> c']]);
    const inside = new Map(graph).set('c', ['d', 'b']);
    expect(unknownCycles(cycles(inside), known)).toEqual([['a -> b', 'b -> a', 'b -> c', 'c -> b']]);
    // The real graph sees a relative import that closes a loop (nn's linear layer imports core).
    expect(importGraph(['nn/layers/linear.ts']).get('nn/layers/linear.ts')!.some((f) => f.startsWith('core/'))).toBe(true);
  });

  it('the check sees a violation (a planted import from core into nn is reported)', () => {
    const planted = { file: 'core/ops.ts', target: 'nn/index' };
    expect(ALLOWED[area(planted.file)]!(area(planted.target))).toBe(false);
    expect(importsOf('nn/layers/linear.ts').map((i) => area(i.target))).toContain('core');
  });
});
