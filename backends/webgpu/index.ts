/**
 * The WebGPU backend: WGSL kernels for every backend primitive, run through a batching engine
 * (`engine.ts`). In browsers it uses `navigator.gpu`; in Node, the `webgpu` package (Dawn).
 *
 *   registerBackend('webgpu', async () => (await import('./backends/webgpu')).createWebGPUBackend());
 *   await setBackend('webgpu');
 *
 * Values are bit-compatible with the CPU backend where the CPU's result is exactly defined (integer
 * and bit ops, data movement, comparisons, the PRNG); float math agrees to a few ulp.
 *
 * Element-wise primitives (and broadcasts) are fused: they return lazy values that compose into one
 * generated kernel, computed when something else needs them (`fusion.ts`); `{ fusion: false }`
 * dispatches each primitive on its own, with the same results bit for bit.
 */
import { expr as ir, isElementwise, resetBackend, sizeOf, type Backend, type BackendBuffer, type BackendPrim, type BufferInfo, type DType, type Expr, type OutputInfo, type PrimParams, type StructuralPrim, type TypedArray } from '../../core/index.js';
import { acquireDevice, describeAdapter, type AdapterDescription, type DeviceOptions } from './device.js';
import { DeviceLostError, Engine, type EngineOptions, type GpuHandle, type Schedule } from './engine.js';
import { Fuser, isLazy, type FusionLimits, type Handle } from './fusion.js';
import { elementwise } from './elementwise.js';
import { direct, expressionFor, kernels, type GpuKernel } from './kernels.js';

export { NO_ADAPTER_HELP, describeAdapter, dawnGpu } from './device.js';
export type { AdapterDescription } from './device.js';
export { DeviceLostError } from './engine.js';
export type { Schedule } from './engine.js';
export { kernels } from './kernels.js';
export type { FusionLimits } from './fusion.js';

export interface WebGPUBackendOptions extends DeviceOptions, EngineOptions {
  /**
   * The name this instance is registered under: when its device is lost, `resetBackend(name)` is
   * called so the next `setBackend(name)` starts a new device. `null` for an unregistered instance.
   */
  registeredAs?: string | null;
  /**
   * Element-wise fusion (`fusion.ts`): on by default; `false` gives one dispatch per primitive (the
   * reference the tests compare fused kernels with); an object sets the bounds on one fused kernel.
   */
  fusion?: boolean | Partial<FusionLimits>;
}

export interface WebGPUBackend extends Backend {
  readonly name: 'webgpu';
  readonly device: GPUDevice;
  readonly adapter: AdapterDescription;
  /** The device-lost error once the device is gone, else null. */
  readonly lost: DeviceLostError | null;
  /** Which kernels it prefers (see `Schedule`). */
  readonly schedule: Schedule;
  /** Dispatch/submit/pipeline/fusion counters. */
  readonly counters: Readonly<Engine['counters']>;
  /** Whether element-wise primitives are fused. */
  readonly fusion: boolean;
  /** Submit pending work and wait for the GPU to finish it (for timing). */
  sync(): Promise<void>;
  /** Compute pending (lazy) values and submit all recorded work. */
  flush(): void;
  /** Live buffers (lazy values hold their inputs' until computed), their bytes, pooled bytes, and element-wise values not computed yet. */
  stats(): { buffers: number; bytes: number; pooledBytes: number; pending: number };
  dispose(): void;
}

const handle = (b: BackendBuffer): Handle => b as Handle;
const COPY = ir.input(0, 'uint32');

/** Bool is one u32 per element on the GPU. */
function toWords(values: TypedArray, dtype: DType): Uint32Array | Int32Array | Float32Array {
  if (dtype === 'bool') return Uint32Array.from(values as Uint8Array, (v) => (v ? 1 : 0));
  return values as Uint32Array | Int32Array | Float32Array;
}

function fromWords(bytes: ArrayBuffer, dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(bytes, 0, size);
    case 'int32': return new Int32Array(bytes, 0, size);
    case 'uint32': return new Uint32Array(bytes, 0, size);
    case 'bool': return Uint8Array.from(new Uint32Array(bytes, 0, size), (v) => (v ? 1 : 0));
  }
}

/** Start a WebGPU backend on a new device; rejects with an error that says what to install when there is no adapter. */
export async function createWebGPUBackend(options: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  const acquired = await acquireDevice(options);
  const engine = new Engine(acquired, options);
  const registeredAs = options.registeredAs === undefined ? 'webgpu' : options.registeredAs;
  const fuser = options.fusion === false ? null : new Fuser(engine, options.fusion === true ? {} : options.fusion);
  const materialised = (b: BackendBuffer): GpuHandle => {
    const h = handle(b);
    return fuser ? fuser.materialise(h) : (h as GpuHandle);
  };
  const backend: WebGPUBackend = {
    name: 'webgpu',
    device: acquired.device,
    adapter: acquired.info,
    schedule: engine.schedule,
    get lost() {
      return engine.lost;
    },
    counters: engine.counters,
    fusion: fuser !== null,
    upload(values: TypedArray, dtype: DType): BackendBuffer {
      engine.check();
      const words = toWords(values, dtype);
      // A scalar stays a constant word until a kernel needs it in a buffer (see fusion.ts).
      if (fuser && words.length === 1) return fuser.constant(new Uint32Array(words.buffer, words.byteOffset, 1)[0]!);
      return engine.upload(words);
    },
    free(buffer: BackendBuffer): void {
      const h = handle(buffer);
      if (isLazy(h)) fuser!.free(h);
      else engine.free(h);
    },
    async read(buffer: BackendBuffer, dtype: DType, size: number): Promise<TypedArray> {
      engine.check();
      return fromWords(await engine.readBytes(materialised(buffer), size * 4), dtype, size);
    },
    run<P extends BackendPrim>(prim: P, inputs: readonly BufferInfo[], params: PrimParams[P], out: OutputInfo): BackendBuffer {
      engine.check();
      if (sizeOf(out.shape) === 0) return engine.allocOutput(0);
      if (!fuser) return isElementwise(prim) ? (direct(prim) as GpuKernel<P>)(engine, inputs, params, out) : (kernels[prim as StructuralPrim] as GpuKernel<P>)(engine, inputs, params, out);
      if (isElementwise(prim)) return fuser.apply(expressionFor(prim, inputs, params as PrimParams[typeof prim], out), inputs, out.shape);
      // A broadcast is an element-wise copy whose input is read through stride-0 axes.
      if (prim === 'broadcast') return fuser.apply(COPY, inputs, out.shape);
      const ready = inputs.map((x) => ({ ...x, buffer: fuser.materialise(handle(x.buffer)) }));
      return (kernels[prim as StructuralPrim] as GpuKernel<P>)(engine, ready, params, out);
    },
    runExpression(expression: Expr, inputs: readonly BufferInfo[], out: OutputInfo): BackendBuffer {
      engine.check();
      if (sizeOf(out.shape) === 0) return engine.allocOutput(0);
      if (fuser) return fuser.apply(expression, inputs, out.shape);
      return elementwise(engine, expression, inputs, out.shape);
    },
    flush(): void {
      if (!engine.lost) fuser?.materialiseAll();
      engine.submit();
    },
    stats() {
      return { ...engine.stats(), pending: fuser?.pendingCount ?? 0 };
    },
    sync(): Promise<void> {
      return engine.sync();
    },
    dispose(): void {
      engine.dispose();
    },
  };
  engine.onDeviceLost(() => {
    if (registeredAs !== null) resetBackend(registeredAs);
  });
  return backend;
}

/** A one-line description of the adapter a backend runs on. */
export function adapterSummary(b: WebGPUBackend): string {
  return describeAdapter(b.adapter);
}
