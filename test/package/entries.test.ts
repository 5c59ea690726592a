/**
 * The published package's entries (package.json `exports`), checked on the source so that the
 * ordinary suite catches what would break a consumer (the packed package itself is tried by
 * .ci/consumer: Node, tsc NodeNext, vite build, the examples):
 * - every export target is a file the build emits (a source file exists for it);
 * - nothing a browser bundle reaches from the browser entries imports a Node-only module in a way a
 *   bundler follows (a static import, or a dynamic import of a string literal): Node-only modules go
 *   through core/nodeModule.ts's `importNodeModule`, behind a run-time check;
 * - only `rolling-diffusion/laws` (the conformance kit) loads fast-check: the paper's functions do not;
 * - `sideEffects` (which lets bundlers drop modules a page uses nothing of: a default vite build of
 *   a small page is 116 kB with it, 313 kB without) lists every module imported for what it does
 *   rather than for what it exports (a bare `import './x.js'`, as the entries import index.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, string | Record<string, string>>;
  files: string[];
  sideEffects: string[];
};

/** `./dist/a/b.js` or `.d.ts` → `a/b.ts`, the source the build emits it from. */
const sourceOf = (target: string): string => target.replace(/^\.\/dist\//, '').replace(/\.d\.ts$|\.js$/, '.ts');

function targets(): { entry: string; condition: string; target: string }[] {
  return Object.entries(pkg.exports).flatMap(([entry, value]) =>
    typeof value === 'string' ? [{ entry, condition: 'default', target: value }] : Object.entries(value).map(([condition, target]) => ({ entry, condition, target })),
  );
}

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .map((name) => join(dir, name));
}

const NODE_ONLY = /^(node:|webgpu$|mnist$)/;

/** Node-only specifiers a bundler would follow from `file`, through its relative imports. */
function nodeOnlyReach(file: string, seen = new Set<string>()): string[] {
  if (seen.has(file)) return [];
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  // Type positions (`typeof import('x')`, `import('x').Name`) are erased by the build.
  const specs = [...text.matchAll(/^\s*(?:import(?!\s+type\b)|export(?!\s+type\b))\s[^'"]*?from\s*'([^']+)'|^\s*import\s*'([^']+)'|(?<!typeof )\bimport\(\s*'([^']+)'\s*\)(?!\.)/gm)].map((m) => (m[1] ?? m[2] ?? m[3])!);
  return specs.flatMap((spec) => {
    if (NODE_ONLY.test(spec)) return [`${relative(ROOT, file)} imports '${spec}'`];
    const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
    // (a specifier that names no file is an example in a comment)
    if (spec.startsWith('.') && existsSync(target)) return nodeOnlyReach(target, seen);
    return [];
  });
}

/** The packages (bare specifiers) a program loads from `file`, through its relative imports; type-only imports are erased. */
function packagesReached(file: string, seen = new Set<string>(), out = new Set<string>()): Set<string> {
  if (seen.has(file)) return out;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/^\s*(?:import(?!\s+type\b)|export(?!\s+type\b))\s[^'"]*?from\s*'([^']+)'|^\s*import\s*'([^']+)'/gm)].map((m) => (m[1] ?? m[2])!);
  for (const spec of specs) {
    if (!spec.startsWith('.')) out.add(spec);
    else if (existsSync(resolve(dirname(file), spec.replace(/\.js$/, '.ts')))) packagesReached(resolve(dirname(file), spec.replace(/\.js$/, '.ts')), seen, out);
  }
  return out;
}

describe('the package entries', () => {
  it('every export target is emitted by the build from a source file', () => {
    const missing = targets()
      .filter(({ target }) => target.startsWith('./dist/'))
      .filter(({ target }) => !existsSync(join(ROOT, sourceOf(target))))
      .map(({ entry, condition, target }) => `${entry} (${condition}): ${target}`);
    expect(missing).toEqual([]);
  });

  it('a browser bundle of any entry reaches no Node-only module', () => {
    const browserEntries = targets()
      .filter(({ target }) => target.endsWith('.js'))
      .filter(({ entry, condition }) => condition === 'browser' || !targets().some((t) => t.entry === entry && t.condition === 'browser'))
      .filter(({ entry }) => entry !== './package.json');
    expect(browserEntries.map((t) => t.entry).sort()).toEqual(['.', './diffusion', './experiments', './laws', './nn']);
    const reached = browserEntries.flatMap(({ target }) => nodeOnlyReach(join(ROOT, sourceOf(target))));
    expect([...new Set(reached)]).toEqual([]);
  });

  it('the check sees a Node-only import (the Node entry of experiments reads files)', () => {
    expect(nodeOnlyReach(join(ROOT, 'experiments/index.ts')).length).toBeGreaterThan(0);
  });

  it('the paper\'s functions load without the conformance kit: no entry but rolling-diffusion/laws reaches fast-check', () => {
    const reaching = targets()
      .filter(({ target }) => target.endsWith('.js'))
      .filter(({ target }) => packagesReached(join(ROOT, sourceOf(target))).has('fast-check'))
      .map(({ entry }) => entry);
    expect([...new Set(reaching)]).toEqual(['./laws']);
  });

  it('every module imported for its effect is listed in sideEffects, for the build and for the source (the web page and the tests bundle the source)', () => {
    const listed = pkg.sideEffects.map((glob) => new RegExp(`^${sourceOf(glob).replace(/[.]/g, '\\.').replace('*', '[^/]+')}$`));
    const sourceListed = pkg.sideEffects.filter((glob) => !glob.startsWith('./dist/')).map((glob) => new RegExp(`^${glob.replace(/^\.\//, '').replace(/[.]/g, '\\.').replace('*', '[^/]+')}$`));
    const bareImports = (file: string) =>
      [...readFileSync(join(ROOT, file), 'utf8').matchAll(/^import '(\.[^']+)'/gm)].map((m) => relative(ROOT, resolve(ROOT, dirname(file), m[1]!.replace(/\.js$/, '.ts'))));
    const fromWeb = sources('web/src').flatMap(bareImports).filter((file) => !sourceListed.some((re) => re.test(file)));
    expect([...new Set(fromWeb)]).toEqual([]);
    const effects = ['index.ts', ...['entry', 'core', 'backends', 'nn', 'diffusion', 'experiments'].flatMap((d) => sources(d))]
      .flatMap((file) => [...readFileSync(join(ROOT, file), 'utf8').matchAll(/^import '(\.[^']+)'/gm)].map((m) => relative(ROOT, resolve(ROOT, dirname(file), m[1]!.replace(/\.js$/, '.ts')))))
      .filter((file) => !listed.some((re) => re.test(file)));
    expect([...new Set(effects)]).toEqual([]);
  });

  it('the published files are the build, the command and the docs, not the tests or their data', () => {
    expect(pkg.files.sort()).toEqual(['CHANGELOG.md', 'bin', 'dist']);
  });
});
