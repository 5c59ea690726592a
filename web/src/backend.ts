/**
 * Choosing the backend for the page: WebGPU (navigator.gpu) when the browser has a hardware adapter,
 * else WebAssembly, else the pure-TypeScript CPU backend.
 *
 * Before trusting an accelerated backend the page runs one forward and backward pass of a small
 * U-ViT on it and on the CPU backend and compares them, so a browser whose driver miscompiles a
 * kernel falls back with the reason shown instead of training on wrong numbers.
 */
import { add, foldIn, key, mean, mul, normal, setBackend, square, tensor, tidy, toArray, treeLeaves, treeMap, valueAndGrad, type Backend, type Tensor } from '../../index.js';
import { uvit, uvitPresets, type UViTParams } from '../../nn/index.js';

export interface BackendChoice {
  /** The backend every panel runs on: 'webgpu' or 'cpu'. */
  readonly name: string;
  /** Why this one: the adapter, or why WebGPU was not used. */
  readonly detail: string;
}

/** A 32-bit FNV-1a hash, to give each parameter leaf its own key from its path. */
function hashPath(path: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) h = Math.imul(h ^ path.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** The loss and every gradient leaf of a perturbed tiny U-ViT on a small window, as host arrays. */
async function probe(): Promise<Float32Array[]> {
  const outputs = tidy(() => {
    const net = uvit({ ...uvitPresets.tiny, inChannels: 1 });
    const k = key(20240601);
    // Perturbed, so the zero-initialised output layer passes gradients to every other layer.
    const params = treeMap(net.init(k), (p, path) => add(p, mul(normal(foldIn(k, hashPath(path)), p.shape), 0.05)));
    const z = normal(foldIn(k, 1), [1, 3, 8, 8, 1]);
    const logSnr = tensor(new Float32Array([-3, 0, 4]), [1, 3]);
    const [value, grads] = valueAndGrad((p: UViTParams) => mean(square(net.apply(p, z, logSnr))))(params);
    return [value, ...treeLeaves(grads)];
  });
  try {
    return (await Promise.all(outputs.map((t: Tensor) => toArray(t)))) as Float32Array[];
  } finally {
    for (const t of outputs) t.dispose();
  }
}

/** The largest error of `b` against `a`, relative to each array's largest magnitude. */
function largestRelativeError(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let worst = 0;
  a.forEach((x, i) => {
    const y = b[i]!;
    let scale = 1e-6;
    let err = 0;
    for (let j = 0; j < x.length; j++) {
      scale = Math.max(scale, Math.abs(x[j]!));
      err = Math.max(err, Math.abs(x[j]! - y[j]!));
    }
    worst = Math.max(worst, Number.isNaN(err) ? Infinity : err / scale);
  });
  return worst;
}

function describe(backend: unknown): string {
  const adapter = (backend as { adapter?: { vendor?: string; architecture?: string; device?: string; description?: string } }).adapter;
  if (!adapter) return 'navigator.gpu';
  const parts = [adapter.vendor, adapter.architecture, adapter.device, adapter.description].filter((s) => s && s.length > 0);
  return parts.length ? `navigator.gpu: ${parts.join(' / ')}` : 'navigator.gpu (the adapter gives no description)';
}

/**
 * A software adapter (SwiftShader, llvmpipe, Microsoft Basic Render) emulates the GPU on the CPU,
 * behind a shader compiler: for this page's small kernels it is much slower than the CPU backend.
 */
function softwareAdapter(info: Partial<GPUAdapterInfo>): string | null {
  if (info.isFallbackAdapter) return 'a fallback (software) adapter';
  const text = [info.vendor, info.architecture, info.device, info.description].join(' ');
  const match = /swiftshader|llvmpipe|lavapipe|software|basic render/i.exec(text);
  return match ? match[0] : null;
}

/**
 * Start the page's backend. `requested` is the `?backend=` query parameter: 'cpu' forces the CPU
 * backend, 'webgpu' uses WebGPU even on a software adapter, another registered name is used as it
 * is. Without one (or with 'auto') the order is: WebGPU on a hardware adapter, then WebAssembly
 * (when registered), then CPU, each accelerated backend only if it agrees with the CPU backend.
 */
export async function startBackend(requested: string | null): Promise<BackendChoice> {
  await setBackend('cpu');
  if (requested === 'cpu') return { name: 'cpu', detail: 'chosen with ?backend=cpu' };
  if (requested !== null && requested !== 'webgpu' && requested !== 'auto') {
    // Any other registered backend (e.g. 'wasm'), unchecked: for trying it out.
    try {
      await setBackend(requested);
      return { name: requested, detail: `chosen with ?backend=${requested}` };
    } catch (e) {
      await setBackend('cpu');
      return { name: 'cpu', detail: `?backend=${requested} did not start: ${(e as Error).message}` };
    }
  }
  const expected = await probe();
  const notes: string[] = [];
  const agreement = (error: number): string => `largest relative error against the CPU backend ${error.toExponential(1)}`;

  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) notes.push('this browser has no WebGPU (navigator.gpu)');
  else {
    try {
      const adapter = await gpu.requestAdapter();
      const software = adapter ? softwareAdapter(adapter.info ?? {}) : null;
      if (!adapter) notes.push('navigator.gpu offers no adapter');
      else if (software && requested !== 'webgpu') {
        notes.push(`the WebGPU adapter is ${software}, a CPU emulation slower than the other backends here (add ?backend=webgpu to use it anyway)`);
      } else {
        const backend = await setBackend('webgpu');
        const error = largestRelativeError(expected, await probe());
        if (error < 1e-3) return { name: 'webgpu', detail: `${describe(backend)}; ${agreement(error)}` };
        notes.push(`WebGPU gave different numbers from the CPU backend (${agreement(error)})`);
      }
    } catch (e) {
      notes.push(`WebGPU did not start: ${(e as Error).message}`);
    }
  }

  if (requested !== 'webgpu') {
    try {
      const wasm = (await setBackend('wasm')) as Backend & { ready?: () => Promise<{ threads: number }> };
      // Its Web Workers (only in a cross-origin-isolated page: SharedArrayBuffer) start in the background.
      const threads = (await wasm.ready?.())?.threads ?? 1;
      const error = largestRelativeError(expected, await probe());
      const how = threads > 1 ? `${threads} threads` : `one thread${globalThis.crossOriginIsolated ? '' : ' (the page is not cross-origin isolated, so no shared memory)'}`;
      if (error < 1e-3) return { name: 'wasm', detail: [`WebAssembly SIMD kernels, ${how}; ${agreement(error)}`, ...notes].join('; ') };
      notes.push(`WebAssembly gave different numbers from the CPU backend (${agreement(error)})`);
    } catch (e) {
      notes.push(`WebAssembly did not start: ${(e as Error).message}`);
    }
  }
  await setBackend('cpu');
  return { name: 'cpu', detail: notes.join('; ') };
}
