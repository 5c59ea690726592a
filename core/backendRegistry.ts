/**
 * The backend registry: the backends by name (`registerBackend`), the one new tensors are made on
 * (`setBackend`, `getBackend`) and the order in which the defaults are tried. A backend is any value
 * implementing `Backend` (backend.ts); the package's index.ts registers cpu, wasm and webgpu.
 */
import type { Backend } from './backend.js';

const registry = new Map<string, () => Backend | Promise<Backend>>();
const instances = new Map<string, Backend>();
let current: Backend | null = null;
let currentName = '';

/** Make a backend available to `setBackend(name)`; the factory runs on first use. */
export function registerBackend(name: string, factory: () => Backend | Promise<Backend>): void {
  registry.set(name, factory);
}

/**
 * Choose the backend new tensors are made on. Returns a promise (backends such as WebGPU start
 * asynchronously); for synchronous backends the switch has happened when the call returns.
 */
export function setBackend(name: string): Promise<Backend> {
  const have = instances.get(name);
  if (have) {
    current = have;
    currentName = name;
    return Promise.resolve(have);
  }
  const factory = registry.get(name);
  if (!factory) {
    throw new Error(`setBackend: unknown backend '${name}'; registered: ${[...registry.keys()].join(', ') || 'none'} (import the package's index.ts, which registers them)`);
  }
  const made = factory();
  if (made instanceof Promise) {
    return made.then((b) => {
      instances.set(name, b);
      current = b;
      currentName = name;
      return b;
    });
  }
  instances.set(name, made);
  current = made;
  currentName = name;
  return Promise.resolve(made);
}

/** Forget a backend instance (e.g. a lost GPU device) so the next `setBackend(name)` starts a new one. */
export function resetBackend(name: string): void {
  const b = instances.get(name);
  instances.delete(name);
  if (b && current === b) {
    current = null;
    currentName = '';
  }
}

let defaults: readonly string[] = ['cpu'];

/**
 * The backends `getBackend` starts, in order, when no `setBackend` call chose one: the first whose
 * factory returns a backend synchronously wins. A factory that throws (an engine without WebAssembly
 * SIMD, a browser's main thread refusing to compile a large module synchronously) or that is
 * asynchronous is passed over for the next name. The package index sets `['wasm', 'cpu']`.
 */
export function setDefaultBackends(names: readonly string[]): void {
  if (names.length === 0) throw new Error('setDefaultBackends: give at least one backend name (e.g. [\'cpu\'])');
  defaults = [...names];
}

export function getBackend(): Backend {
  if (current === null) {
    const tried: string[] = [];
    const named = defaults.filter((n) => registry.has(n));
    const candidates = named.length > 0 ? named : [...registry.keys()];
    for (const name of candidates) {
      const have = instances.get(name);
      if (have) {
        current = have;
        currentName = name;
        return have;
      }
      let made: Backend | Promise<Backend>;
      try {
        made = registry.get(name)!();
      } catch (e) {
        tried.push(`${name}: ${(e as Error).message}`);
        continue;
      }
      if (made instanceof Promise) {
        // Not usable synchronously; let a later `setBackend(name)` start it properly.
        made.then((b) => b.dispose?.(), () => undefined);
        tried.push(`${name}: starts asynchronously (await setBackend('${name}') first)`);
        continue;
      }
      instances.set(name, made);
      current = made;
      currentName = name;
      return made;
    }
    if (tried.length === 0) throw new Error('getBackend: no backend registered; import the package index.ts');
    throw new Error(`getBackend: no default backend could start synchronously (${tried.join('; ')}); await setBackend(name) first`);
  }
  return current;
}

export function getBackendName(): string {
  getBackend();
  return currentName;
}
