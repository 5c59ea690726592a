/**
 * The runtime edge of the WebGPU backend: GPU memory, command batching and readback. This is the one
 * place with mutable state (the device, the pools, the pending encoder).
 *
 * - Memory. Buffers come from a pool by size class and go back to it when the core frees them
 *   (`Backend.free`, driven by `tidy`/`dispose`); nothing is left to the garbage collector. A buffer
 *   freed while the pending encoder may still read it is only reused as a kernel output in that same
 *   encoder (passes run in order, Dawn inserts the barriers), never as an upload target:
 *   `queue.writeBuffer` runs before the pending commands, so it would overwrite data they still need.
 *   Those buffers join the general pool when the encoder is submitted.
 * - Batching. Dispatches are recorded into one compute pass of a pending command encoder, submitted
 *   on read, on `flush`, after `maxOpsPerSubmit` dispatches, or at the end of the current task.
 * - Parameters. Each dispatch's shape/param words are packed into one uniform buffer per batch, at
 *   offsets aligned to `minUniformBufferOffsetAlignment`, written once before the submit.
 * - Readback. A copy into a MAP_READ staging buffer (pooled too), then `mapAsync`.
 * - Loss. `device.lost` marks the engine lost; pending reads reject, later calls throw.
 * - End of task. Work that is recorded lazily (element-wise fusion, `fusion.ts`) registers a hook that
 *   runs before the end-of-task submit and before `sync`, so it reaches the GPU with the rest.
 */
import type { AcquiredDevice } from './device.js';

/** GPUBufferUsage / GPUMapMode values (the globals do not exist in Node without the `webgpu` package's). */
const USAGE_MAP_READ = 0x0001;
const USAGE_COPY_SRC = 0x0004;
const USAGE_COPY_DST = 0x0008;
const USAGE_UNIFORM = 0x0040;
const USAGE_STORAGE = 0x0080;
const MAP_READ = 0x0001;

/** A GPU buffer shared by the handles that alias it (zero-copy bitcast and int casts). */
export interface Slab {
  readonly buffer: GPUBuffer;
  readonly bytes: number;
  refs: number;
}

/** What the core holds as a `BackendBuffer`. */
export interface GpuHandle {
  readonly slab: Slab;
}

export interface DispatchSpec {
  /** Pipeline cache key; `source` is only called when the key is new. */
  readonly key: string;
  readonly source: () => string;
  readonly inputs: readonly GPUBuffer[];
  readonly output: GPUBuffer;
  readonly params: ArrayLike<number>;
  /** Words the shader's uniform struct declares (≥ params.length). */
  readonly words: number;
  readonly groups: readonly [number, number, number];
}

/**
 * Which kernels to prefer. `gpu`: workgroup-memory tiles and reduction trees. `cpu`: barrier-free
 * kernels (register-blocked matmul, serial chunked reductions) for adapters that emulate a GPU on
 * the CPU (SwiftShader, llvmpipe, WARP), where every `workgroupBarrier` costs a coroutine switch per
 * invocation and the tiled matmul runs ~10× slower than the plain one.
 */
export type Schedule = 'gpu' | 'cpu';

export interface EngineOptions {
  /** Default: `cpu` for CPU-emulated adapters, else `gpu`. */
  schedule?: Schedule;
  maxOpsPerSubmit?: number;
  /** Bytes kept in the free pool before buffers are destroyed. */
  maxPooledBytes?: number;
}

export class DeviceLostError extends Error {
  constructor(readonly reason: string, detail: string) {
    super(
      `webgpu backend: the GPU device was lost (${reason}${detail ? `: ${detail}` : ''}). ` +
        "Its tensors are gone; call `await setBackend('webgpu')` to start a new device and recreate them.",
    );
    this.name = 'DeviceLostError';
  }
}

function sizeClass(bytes: number): number {
  if (bytes <= 16) return 16;
  const p = 2 ** Math.ceil(Math.log2(bytes));
  // Half steps between powers of two keep the waste under 33%.
  return bytes <= p * 0.75 ? p * 0.75 : p;
}

class Pool {
  private readonly lists = new Map<number, GPUBuffer[]>();
  bytes = 0;
  count = 0;

  take(cls: number): GPUBuffer | undefined {
    const b = this.lists.get(cls)?.pop();
    if (b) {
      this.bytes -= cls;
      this.count--;
    }
    return b;
  }

  give(cls: number, b: GPUBuffer): void {
    let list = this.lists.get(cls);
    if (!list) this.lists.set(cls, (list = []));
    list.push(b);
    this.bytes += cls;
    this.count++;
  }

  drain(): GPUBuffer[] {
    const all = [...this.lists.values()].flat();
    this.lists.clear();
    this.bytes = 0;
    this.count = 0;
    return all;
  }

  entries(): [number, GPUBuffer[]][] {
    return [...this.lists.entries()];
  }
}

export class Engine {
  readonly device: GPUDevice;
  readonly limits: GPUSupportedLimits;
  readonly schedule: Schedule;
  private acquired: AcquiredDevice;
  private readonly maxOpsPerSubmit: number;
  private readonly maxPooledBytes: number;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private opsInBatch = 0;
  private flushScheduled = false;

  private readonly uniformAlign: number;
  private readonly uniformCapacity = 65536;
  private uniformBuffer: GPUBuffer;
  private readonly uniformData: Uint32Array;
  private uniformUsed = 0;

  private readonly pipelines = new Map<string, GPUComputePipeline>();
  /** Buffers free for any use (no pending command touches them). */
  private readonly clean = new Pool();
  /** Buffers freed since the pending encoder was opened: reusable as kernel outputs only. */
  private readonly recycled = new Pool();
  private readonly staging = new Pool();
  private liveSlabs = 0;
  private liveBytes = 0;

  private lostError: DeviceLostError | null = null;
  private firstError: string | null = null;
  private readonly pendingReads = new Set<(e: Error) => void>();
  private readonly lostListeners: ((e: DeviceLostError) => void)[] = [];
  private disposed = false;

  private endOfTask: (() => void) | null = null;

  /**
   * Counters for tests and benchmarks. `fusedOps`: element-wise primitives computed inside a fused
   * kernel (a kernel of k such primitives adds k); `droppedOps`: element-wise results freed before
   * anything needed them on their own (never computed by themselves; their work may have been inlined
   * into a consumer's kernel).
   */
  readonly counters = { dispatches: 0, submits: 0, pipelines: 0, buffersCreated: 0, fusedOps: 0, droppedOps: 0 };

  constructor(acquired: AcquiredDevice, options: EngineOptions = {}) {
    this.acquired = acquired;
    this.device = acquired.device;
    this.limits = this.device.limits;
    this.schedule = options.schedule ?? (acquired.info.cpu ? 'cpu' : 'gpu');
    this.maxOpsPerSubmit = options.maxOpsPerSubmit ?? 64;
    this.maxPooledBytes = options.maxPooledBytes ?? Math.min(1 << 30, this.limits.maxBufferSize * 4);
    this.uniformAlign = this.limits.minUniformBufferOffsetAlignment;
    this.uniformBuffer = this.device.createBuffer({ size: this.uniformCapacity, usage: USAGE_UNIFORM | USAGE_COPY_DST, label: 'params' });
    this.uniformData = new Uint32Array(this.uniformCapacity / 4);
    this.device.lost.then((info) => this.onLost(info.reason ?? 'unknown', info.message ?? ''));
    this.device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.firstError ??= ev.error.message;
    };
  }

  get lost(): DeviceLostError | null {
    return this.lostError;
  }

  onDeviceLost(listener: (e: DeviceLostError) => void): void {
    this.lostListeners.push(listener);
  }

  private onLost(reason: string, message: string): void {
    if (this.lostError) return;
    this.lostError = new DeviceLostError(this.disposed ? 'disposed' : reason, message);
    const rejects = [...this.pendingReads];
    this.pendingReads.clear();
    for (const reject of rejects) reject(this.lostError);
    this.encoder = null;
    this.pass = null;
    for (const l of this.lostListeners) l(this.lostError);
  }

  check(): void {
    if (this.lostError) throw this.lostError;
  }

  // ---------------------------------------------------------------- memory

  /** The pool's size class for `bytes`, or an error naming the device limit it exceeds. */
  private classFor(bytes: number): number {
    const limit = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
    if (bytes > limit) {
      throw new Error(`webgpu backend: a tensor of ${bytes} bytes exceeds this device's buffer limit (${limit} bytes: maxStorageBufferBindingSize/maxBufferSize); split it, or use the cpu backend`);
    }
    return Math.min(sizeClass(bytes), Math.max(limit - (limit % 4), 16));
  }

  /** Throw the buffer-limit error now if a tensor of `bytes` cannot exist on this device. */
  assertFits(bytes: number): void {
    this.classFor(bytes);
  }

  /** A buffer of at least `bytes` for a kernel to write. */
  allocOutput(bytes: number): GpuHandle {
    this.check();
    const cls = this.classFor(bytes);
    const buffer = this.recycled.take(cls) ?? this.clean.take(cls) ?? this.create(cls);
    return this.track(buffer, cls);
  }

  /** A buffer to upload into with `queue.writeBuffer`: never one a pending command still reads. */
  upload(words: Uint32Array | Int32Array | Float32Array): GpuHandle {
    this.check();
    const cls = this.classFor(words.byteLength);
    const buffer = this.clean.take(cls) ?? this.create(cls);
    if (words.byteLength > 0) this.device.queue.writeBuffer(buffer, 0, words.buffer, words.byteOffset, words.byteLength);
    return this.track(buffer, cls);
  }

  /** Another handle on the same GPU buffer (zero-copy reinterpretation). */
  alias(h: GpuHandle): GpuHandle {
    h.slab.refs++;
    return { slab: h.slab };
  }

  /** One more reference on a slab (a lazy value that reads it); `free` gives it back. */
  retain(slab: Slab): void {
    slab.refs++;
  }

  free(h: GpuHandle): void {
    const slab = h.slab;
    if (--slab.refs > 0) return;
    this.liveSlabs--;
    this.liveBytes -= slab.bytes;
    if (this.lostError || this.disposed) return;
    if (this.encoder) this.recycled.give(slab.bytes, slab.buffer);
    else this.release(slab.bytes, slab.buffer);
  }

  private release(cls: number, buffer: GPUBuffer): void {
    if (this.clean.bytes + cls > this.maxPooledBytes) buffer.destroy();
    else this.clean.give(cls, buffer);
  }

  private create(cls: number): GPUBuffer {
    this.counters.buffersCreated++;
    return this.device.createBuffer({ size: cls, usage: USAGE_STORAGE | USAGE_COPY_SRC | USAGE_COPY_DST });
  }

  private track(buffer: GPUBuffer, cls: number): GpuHandle {
    this.liveSlabs++;
    this.liveBytes += cls;
    return { slab: { buffer, bytes: cls, refs: 1 } };
  }

  stats(): { buffers: number; bytes: number; pooledBytes: number } {
    return { buffers: this.liveSlabs, bytes: this.liveBytes, pooledBytes: this.clean.bytes + this.recycled.bytes };
  }

  // ---------------------------------------------------------------- dispatch

  private pipeline(key: string, source: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const code = source();
      const module = this.device.createShaderModule({ code, label: key });
      p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
      this.pipelines.set(key, p);
      this.counters.pipelines++;
    }
    return p;
  }

  dispatch(spec: DispatchSpec): void {
    this.check();
    const slot = Math.ceil((spec.words * 4) / this.uniformAlign) * this.uniformAlign;
    if (this.uniformUsed + slot > this.uniformCapacity) this.submit();
    const pipeline = this.pipeline(spec.key, spec.source);
    const offset = this.uniformUsed;
    this.uniformData.fill(0, offset / 4, offset / 4 + spec.words);
    for (let i = 0; i < spec.params.length; i++) this.uniformData[offset / 4 + i] = spec.params[i]! >>> 0;
    this.uniformUsed += slot;
    const entries: GPUBindGroupEntry[] = spec.inputs.map((buffer, binding) => ({ binding, resource: { buffer } }));
    entries.push({ binding: spec.inputs.length, resource: { buffer: spec.output } });
    entries.push({ binding: spec.inputs.length + 1, resource: { buffer: this.uniformBuffer, offset, size: spec.words * 4 } });
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(spec.groups[0], spec.groups[1], spec.groups[2]);
    this.counters.dispatches++;
    if (++this.opsInBatch >= this.maxOpsPerSubmit) this.submit();
    else this.scheduleFlush();
  }

  private ensureEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.ensureEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Run `hook` before each end-of-task submit and before `sync` (one hook: the fuser's). */
  setEndOfTask(hook: () => void): void {
    this.endOfTask = hook;
  }

  /** Submit at the end of the current task, so a burst of synchronous ops becomes one submit. */
  scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      if (this.lostError || this.disposed) return;
      this.endOfTask?.();
      this.submit();
    });
  }

  /** Submit the pending encoder (if any). */
  submit(): void {
    if (!this.encoder || this.lostError) return;
    this.endPass();
    if (this.uniformUsed > 0) {
      // Queue-ordered: earlier submits still read their own (older) contents.
      this.device.queue.writeBuffer(this.uniformBuffer, 0, this.uniformData.buffer, 0, this.uniformUsed);
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.counters.submits++;
    this.encoder = null;
    this.opsInBatch = 0;
    this.uniformUsed = 0;
    for (const [cls, list] of this.recycled.entries()) for (const b of list) this.release(cls, b);
    this.recycled.drain();
  }

  // ---------------------------------------------------------------- readback

  /** The first `bytes` bytes of a buffer, as a fresh ArrayBuffer. */
  async readBytes(h: GpuHandle, bytes: number): Promise<ArrayBuffer> {
    this.check();
    if (bytes === 0) return new ArrayBuffer(0);
    this.throwDeviceError();
    const cls = this.classFor(bytes);
    const staging = this.staging.take(cls) ?? this.device.createBuffer({ size: cls, usage: USAGE_MAP_READ | USAGE_COPY_DST });
    this.endPass();
    this.ensureEncoder().copyBufferToBuffer(h.slab.buffer, 0, staging, 0, bytes);
    this.submit();
    try {
      await this.unlessLost(staging.mapAsync(MAP_READ, 0, bytes));
    } catch (e) {
      // A destroyed device fails the map before `device.lost` resolves: give it a moment to say so.
      if (!this.lostError) await Promise.race([this.device.lost, new Promise((r) => setTimeout(r, 200))]);
      if (this.lostError) throw this.lostError;
      throw new Error(`webgpu backend: reading a buffer failed: ${(e as Error).message}`);
    }
    const copy = staging.getMappedRange(0, bytes).slice(0);
    staging.unmap();
    this.staging.give(cls, staging);
    this.throwDeviceError();
    return copy;
  }

  /** Report a validation or out-of-memory error the device raised since the last read, once. */
  private throwDeviceError(): void {
    const message = this.firstError;
    if (message === null) return;
    this.firstError = null;
    throw new Error(`webgpu backend: a GPU command failed, so values read now may be wrong: ${message}`);
  }

  /** `p`, or a rejection with the device-lost error as soon as the device is lost. */
  private unlessLost<T>(p: Promise<T>): Promise<T> {
    if (this.lostError) return Promise.reject(this.lostError);
    let reject: (e: Error) => void = () => {};
    const lost = new Promise<never>((_, rej) => {
      reject = rej;
    });
    this.pendingReads.add(reject);
    return Promise.race([p, lost]).finally(() => this.pendingReads.delete(reject));
  }

  /** Submit pending work and wait until the GPU has finished it. */
  async sync(): Promise<void> {
    this.check();
    this.endOfTask?.();
    this.submit();
    await this.unlessLost(this.device.queue.onSubmittedWorkDone());
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.submit();
    for (const b of [...this.clean.drain(), ...this.recycled.drain(), ...this.staging.drain()]) b.destroy();
    this.uniformBuffer.destroy();
    this.pipelines.clear();
    this.device.destroy();
    this.acquired.gpu = null;
  }
}
