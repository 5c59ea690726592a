/**
 * The Backend interface: allocate, free, read asynchronously, run a primitive. Buffers are opaque to
 * the core, so a backend may keep them in a typed array, a WebAssembly heap or GPU memory. `run`
 * returns at once with the output buffer; a backend may compute later (GPU command batching), as
 * long as `read` resolves to the finished values.
 */
import type { DType, TypedArray } from './dtype.js';
import type { Expr } from './expr.js';
import type { BackendPrim, PrimParams } from './primitives.js';
import type { Shape } from './shape.js';

export type BackendBuffer = object;

export interface BufferInfo {
  readonly buffer: BackendBuffer;
  readonly shape: Shape;
  readonly dtype: DType;
}

export interface OutputInfo {
  readonly shape: Shape;
  readonly dtype: DType;
}

export interface Backend {
  readonly name: string;
  /** Copy host values into a new buffer of the given dtype (values already of that dtype's array type). */
  upload(values: TypedArray, dtype: DType): BackendBuffer;
  /** Give a buffer back; the core calls this exactly once per buffer. */
  free(buffer: BackendBuffer): void;
  /** Resolve to a copy of the first `size` elements. */
  read(buffer: BackendBuffer, dtype: DType, size: number): Promise<TypedArray>;
  /** Synchronous read, for backends whose memory is on the host. */
  readSync?(buffer: BackendBuffer, dtype: DType, size: number): TypedArray;
  run<P extends BackendPrim>(prim: P, inputs: readonly BufferInfo[], params: PrimParams[P], out: OutputInfo): BackendBuffer;
  /**
   * Run a scalar expression (core/expr.ts) element-wise over broadcast inputs (input k of the
   * expression is `inputs[k]`) as one kernel: how a chain of element-wise primitives composed with
   * `compose` runs fused. Optional; every built-in backend has it.
   */
  runExpression?(expression: Expr, inputs: readonly BufferInfo[], out: OutputInfo): BackendBuffer;
  /**
   * Whether `runExpression` renders this expression itself, with the arithmetic of its per-primitive
   * kernels (false where it would run another rendering, as wasm runs the CPU's for a node it lacks).
   * `jit` asks before fusing approximate nodes (exp, …) with others, so a fused chain keeps the
   * primitives' bits. Optional: absent means every expression is rendered alike.
   */
  renders?(expression: Expr): boolean;
  /** Push pending work to the device; optional. */
  flush?(): void;
  /** Live buffers and bytes held by the backend, including pooled ones; optional. */
  stats?(): { buffers: number; bytes: number; pooledBytes?: number };
  /** Release cached resources; the backend must not be used afterwards. */
  dispose?(): void;
}
