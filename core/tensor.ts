/**
 * Immutable tensors and memory scopes (the backend registry is backendRegistry.ts).
 *
 * A tensor owns a reference to a backend buffer (a `Storage`, shared by reshapes and aliases and freed
 * when its last tensor is disposed). `tidy(fn)` frees every tensor made inside `fn` that `fn` does not
 * return; `dispose(tree)` frees a pytree. `tidy` cannot span an `await`: tensors made after the await
 * belong to whatever scope is open then. Keep reads (`toArray`) outside `tidy`.
 */
import type { Backend, BackendBuffer } from './backend.js';
import { bytesPerElement, type DType, type TypedArray } from './dtype.js';
import { fmt, sizeOf, type Shape } from './shape.js';
import { formatTensor, nest, type Nested } from './format.js';
import { forEachLeaf } from './pytree.js';

export interface Storage {
  readonly buffer: BackendBuffer;
  readonly backend: Backend;
  readonly bytes: number;
  refs: number;
}

let nextId = 1;
let liveTensors = 0;
let liveBytes = 0;

export class Tensor {
  readonly id: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  /** @internal null once disposed. */
  storage: Storage | null;

  /** @internal use the creation functions in `ops/creation.ts`. */
  constructor(storage: Storage, shape: Shape, dtype: DType) {
    this.id = nextId++;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = sizeOf(shape);
    this.storage = storage;
    storage.refs++;
    liveTensors++;
    track(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  get backend(): Backend {
    return this.live('backend').backend;
  }

  /** @internal the storage, or an error naming this tensor when it was disposed. */
  live(op: string): Storage {
    if (this.storage === null) {
      throw new Error(`${op}: tensor #${this.id} (${this.dtype}${fmt(this.shape)}) was disposed; keep it alive (return it from tidy, or dispose it later)`);
    }
    return this.storage;
  }

  /** Values, flattened in row-major order. */
  toArray(): Promise<TypedArray> {
    const s = this.live('toArray');
    readGuard.check?.(this, 'toArray');
    return s.backend.read(s.buffer, this.dtype, this.size);
  }

  /** Synchronous read; only backends whose memory is on the host (cpu, wasm) support it. */
  toArraySync(): TypedArray {
    const s = this.live('toArraySync');
    readGuard.check?.(this, 'toArraySync');
    if (!s.backend.readSync) throw new Error(`toArraySync: the ${s.backend.name} backend reads asynchronously; use await toArray(t)`);
    return s.backend.readSync(s.buffer, this.dtype, this.size);
  }

  /**
   * The value of a one-element tensor (PyTorch's `item()`): a number, or a boolean for bool. Any other
   * size is an error naming the shape.
   */
  async item(): Promise<number | boolean> {
    if (this.size !== 1) throw new Error(`item: the tensor ${this.dtype}${fmt(this.shape)} has ${this.size} elements, not one; read it with array() or toArray()`);
    const v = (await this.toArray())[0]!;
    return this.dtype === 'bool' ? v !== 0 : v;
  }

  /** Values as nested arrays shaped like the tensor (tfjs's `array()`); `toArray()` gives them flat. */
  async array(): Promise<Nested> {
    return nest(await this.toArray(), this.shape, this.dtype);
  }

  /** What `console.log`, `util.inspect` and the REPL print: dtype, shape and values, as NumPy does. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    const s = this.storage;
    if (s === null) return formatTensor(this.shape, this.dtype, null, 'disposed');
    if (!s.backend.readSync) return formatTensor(this.shape, this.dtype, null, `on ${s.backend.name}: await t.array() to read the values`);
    return formatTensor(this.shape, this.dtype, s.backend.readSync(s.buffer, this.dtype, this.size), '');
  }

  dispose(): void {
    const s = this.storage;
    if (s === null) return;
    this.storage = null;
    liveTensors--;
    untrack(this);
    if (--s.refs === 0) {
      liveBytes -= s.bytes;
      s.backend.free(s.buffer);
    }
  }

  toString(): string {
    return `Tensor#${this.id}(${this.dtype}${fmt(this.shape)})`;
  }
}

/** @internal Set by jit.ts while it traces: throws when a value computed from the traced arguments is read. */
export const readGuard: { check: ((t: Tensor, op: string) => void) | null } = { check: null };

/** @internal The id the next tensor made will get (jit.ts tells tensors made before a trace from those made in it). */
export function nextTensorId(): number {
  return nextId;
}

/** @internal a fresh storage around a buffer a backend just made. */
export function newStorage(backend: Backend, buffer: BackendBuffer, size: number, dtype: DType): Storage {
  const bytes = size * bytesPerElement(dtype);
  liveBytes += bytes;
  return { buffer, backend, bytes, refs: 0 };
}

// ---------------------------------------------------------------- scopes and memory

const scopes: Set<Tensor>[] = [];

/**
 * @internal Set by `trace.ts`: whether a tape that is still recording needs this tensor for its
 * backward pass. `tidy` hands such tensors to the enclosing scope instead of freeing them, so a
 * `tidy` inside a function being differentiated cannot free what its gradient will read.
 */
export const tapeNeeds: { has: (t: Tensor) => boolean } = { has: () => false };

function track(t: Tensor): void {
  const top = scopes[scopes.length - 1];
  if (top) top.add(t);
}

function untrack(t: Tensor): void {
  const top = scopes[scopes.length - 1];
  if (top) top.delete(t);
}

export type TensorTree = Tensor | number | string | boolean | null | undefined | readonly TensorTree[] | { readonly [k: string]: TensorTree };

/** @internal A pytree leaf, for `forEachLeaf`. */
export const isTensor = (x: object): x is Tensor => x instanceof Tensor;

const skipOpaque = (): void => undefined;

/**
 * The tensors of a tree, as scopes keep and free them: a registered class's tensors are kept and
 * freed like any others; other objects are opaque here (a scope may return anything), and the tree
 * functions and transformations refuse them.
 */
export function treeTensors(tree: unknown, out: Tensor[] = []): Tensor[] {
  forEachLeaf(tree, isTensor, (t) => void out.push(t), skipOpaque);
  return out;
}

/**
 * Run `fn` in a memory scope: every tensor created inside and not returned is disposed when it ends.
 * Returned tensors move to the enclosing scope. `fn` must be synchronous (a scope cannot span an
 * `await`; passing an async function is an error).
 */
export function tidy<T>(fn: () => T): T {
  return inScope(fn);
}

/**
 * Run `fn` in a new scope: every tensor it creates is freed when it returns, except those in its
 * result and those a recording tape still needs, which go to the enclosing scope (if any).
 */
function inScope<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new Error('tidy: the function returned a Promise; a scope cannot span an await. Read values outside tidy.');
  }
  if (scope.size === 0) return result;
  const parent = scopes[scopes.length - 1];
  const kept = result instanceof Tensor ? null : new Set(treeTensors(result));
  for (const t of scope) {
    if (t === (result as unknown) || kept?.has(t) || tapeNeeds.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

/**
 * Wrap an op made of several primitives so that it cleans up after itself, as a single primitive
 * does: the intermediates it creates (lifted numbers, partial results) are freed when it returns,
 * inside `tidy` or not; its result, and whatever a recording tape still needs for the backward pass,
 * go to the enclosing scope as `tidy` would hand them. Without this, `mean(x)` outside `tidy` would
 * leave its sum and its lifted divisor behind.
 */
export function scoped<F extends (...args: never[]) => unknown>(f: F): F {
  const wrapped = function (this: unknown, ...args: never[]): unknown {
    return inScope(() => f.apply(this, args));
  };
  Object.defineProperty(wrapped, 'name', { value: f.name });
  return wrapped as unknown as F;
}

/** @internal Whether the innermost open scope will free `t` when it ends (unless returned). */
export function ownedByScope(t: Tensor): boolean {
  const top = scopes[scopes.length - 1];
  return top !== undefined && top.has(t);
}

/** Take tensors out of the current scope so the enclosing `tidy` does not free them. */
export function keep<T>(tree: T): T {
  const top = scopes[scopes.length - 1];
  if (top) for (const t of treeTensors(tree)) top.delete(t);
  return tree;
}

/** Free every tensor in a pytree. Disposing twice is harmless. */
export function dispose(tree: unknown): void {
  for (const t of treeTensors(tree)) t.dispose();
}

export function memoryStats(): { tensors: number; bytes: number } {
  return { tensors: liveTensors, bytes: liveBytes };
}
