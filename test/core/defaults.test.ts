/**
 * Which backend tensors land on when nobody called `setBackend`: the first of the default list whose
 * factory starts synchronously (the package index says `['wasm', 'cpu']`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { getBackend, getBackendName, registerBackend, resetBackend, setBackend, setDefaultBackends, tensor } from '../../index.js';
import { createCpuBackend } from '../../backends/cpu/index.js';

afterEach(() => {
  setDefaultBackends(['wasm', 'cpu']);
});

/** Forget the current backend, so the next tensor goes through the default list again. */
function forgetCurrent(): void {
  resetBackend(getBackendName());
}

describe('default backend', () => {
  it('is wasm when the engine has WebAssembly SIMD (Node 20 has)', () => {
    forgetCurrent();
    expect(getBackendName()).toBe('wasm');
  });

  it('passes over a default whose factory throws, and over an asynchronous one, to the next', async () => {
    registerBackend('throws', () => {
      throw new Error('no SIMD here');
    });
    registerBackend('async-only', async () => createCpuBackend());
    registerBackend('sync-cpu', () => createCpuBackend());
    setDefaultBackends(['throws', 'async-only', 'sync-cpu']);
    forgetCurrent();
    const t = tensor([1, 2, 3]);
    expect(getBackendName()).toBe('sync-cpu');
    expect(Array.from(await t.toArray())).toEqual([1, 2, 3]);
    // The asynchronous one still works when asked for explicitly.
    await setBackend('async-only');
    expect(getBackendName()).toBe('async-only');
  });

  it('says why when no default can start', () => {
    registerBackend('throws-too', () => {
      throw new Error('no SIMD here');
    });
    setDefaultBackends(['throws-too']);
    forgetCurrent();
    expect(() => getBackend()).toThrow(/no default backend could start synchronously \(throws-too: no SIMD here\); await setBackend/);
  });

  it('refuses an empty list', () => {
    expect(() => setDefaultBackends([])).toThrow(/at least one backend name/);
  });
});
