/**
 * The WebGPU backend: WGSL kernels for every backend primitive, run through a batching engine
 * (`engine.ts`). In browsers it uses `navigator.gpu`; in Node, the `webgpu` package (Dawn).
 *
 *   registerBackend('webgpu', async () => (await import('./backends/webgpu')).createWebGPUBackend());
 *   await setBackend('webgpu');
 *
 * Values are bit-compatible with the CPU backend where the CPU's result is exactly defined (integer
 * and bit ops, data movement, comparisons, the PRNG); float math agrees to a few ulp.
 */
import { resetBackend, sizeOf, type Backend, type BackendBuffer, type BackendPrim, type BufferInfo, type DType, type OutputInfo, type PrimParams, type TypedArray } from '../../core';
import { acquireDevice, describeAdapter, type AdapterDescription, type DeviceOptions } from './device';
import { DeviceLostError, Engine, type EngineOptions, type GpuHandle, type Schedule } from './engine';
import { kernels, type GpuKernel } from './kernels';

export { NO_ADAPTER_HELP, describeAdapter, dawnGpu } from './device';
export type { AdapterDescription } from './device';
export { DeviceLostError } from './engine';
export type { Schedule } from './engine';
export { kernels } from './kernels';

export interface WebGPUBackendOptions extends DeviceOptions, EngineOptions {
  /**
   * The name this instance is registered under: when its device is lost, `resetBackend(name)` is
   * called so the next `setBackend(name)` starts a new device. `null` for an unregistered instance.
   */
  registeredAs?: string | null;
}

export interface WebGPUBackend extends Backend {
  readonly name: 'webgpu';
  readonly device: GPUDevice;
  readonly adapter: AdapterDescription;
  /** The device-lost error once the device is gone, else null. */
  readonly lost: DeviceLostError | null;
  /** Which kernels it prefers (see `Schedule`). */
  readonly schedule: Schedule;
  /** Dispatch/submit/pipeline counters. */
  readonly counters: Readonly<Engine['counters']>;
  /** Submit pending work and wait for the GPU to finish it (for timing). */
  sync(): Promise<void>;
  flush(): void;
  stats(): { buffers: number; bytes: number; pooledBytes: number };
  dispose(): void;
}

const handle = (b: BackendBuffer): GpuHandle => b as GpuHandle;

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
  const backend: WebGPUBackend = {
    name: 'webgpu',
    device: acquired.device,
    adapter: acquired.info,
    schedule: engine.schedule,
    get lost() {
      return engine.lost;
    },
    counters: engine.counters,
    upload(values: TypedArray, dtype: DType): BackendBuffer {
      return engine.upload(toWords(values, dtype));
    },
    free(buffer: BackendBuffer): void {
      engine.free(handle(buffer));
    },
    async read(buffer: BackendBuffer, dtype: DType, size: number): Promise<TypedArray> {
      return fromWords(await engine.readBytes(handle(buffer), size * 4), dtype, size);
    },
    run<P extends BackendPrim>(prim: P, inputs: readonly BufferInfo[], params: PrimParams[P], out: OutputInfo): BackendBuffer {
      engine.check();
      if (sizeOf(out.shape) === 0) return engine.allocOutput(0);
      return (kernels[prim] as GpuKernel<P>)(engine, inputs, params, out);
    },
    flush(): void {
      engine.submit();
    },
    stats() {
      return engine.stats();
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
