/**
 * The user ops, creation: tensors from values, constants and ranges, and reading values back.
 * Each binds primitives (`primitives.ts`) through the tape; the derivative of every primitive is in
 * `rules.ts`, so each op is differentiable. `core/ops.ts` re-exports every family.
 */
import { checkDType, checkTensor } from '../argument.js';
import { dtypeOfTypedArray, makeTypedArray, type DType, type TypedArray } from '../dtype.js';
import { nest } from '../format.js';
import { describeValue } from '../pytree.js';
import { fmt, sizeOf, assertShape, type Shape } from '../shape.js';
import { getBackend, getBackendName, setBackend } from '../backendRegistry.js';
import { newStorage, scoped, Tensor } from '../tensor.js';
import { bind } from '../trace.js';

export type NestedArray = number | boolean | readonly NestedArray[];
export type TensorLike = Tensor | number;

function inferShape(values: NestedArray): number[] {
  const shape: number[] = [];
  let v: NestedArray = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0] as NestedArray;
  }
  return shape;
}

function flatten(values: NestedArray, out: number[], shape: readonly number[], depth: number): void {
  if (Array.isArray(values)) {
    if (values.length !== shape[depth]) throw new Error(`tensor: ragged nested array: expected ${shape[depth]} entries at depth ${depth}, got ${values.length}`);
    for (const x of values) flatten(x, out, shape, depth + 1);
  } else {
    if (depth !== shape.length) throw new Error('tensor: ragged nested array');
    if (typeof values === 'number') out.push(values);
    else if (typeof values === 'boolean') out.push(Number(values));
    else throw new Error(`tensor: element ${out.length} (in row-major order) is ${describeValue(values)}; values must be numbers or booleans${values instanceof Tensor ? ' (join tensors with stack or concat)' : ''}`);
  }
}

/** Make a tensor from host values on the current backend. */
export function fromArray(data: TypedArray, shape: Shape, dtype: DType): Tensor {
  checkDType('tensor', dtype);
  assertShape('tensor', shape);
  if (data.length !== sizeOf(shape)) throw new Error(`tensor: ${data.length} values do not fill shape ${fmt(shape)} (${sizeOf(shape)} elements)`);
  const backend = getBackend();
  const buffer = backend.upload(data, dtype);
  return new Tensor(newStorage(backend, buffer, data.length, dtype), shape, dtype);
}

/**
 * `tensor(values, shape?, dtype?)`: from a number, a nested array or a typed array. The dtype
 * defaults to float32 for numbers, bool for booleans, and for a typed array to the dtype that keeps
 * its numbers (`dtypeOfTypedArray`: integer arrays such as image bytes become int32, never bool).
 */
export function tensor(values: NestedArray | TypedArray | ArrayBufferView, shape?: Shape, dtype?: DType): Tensor {
  if (dtype !== undefined) checkDType('tensor', dtype);
  if (ArrayBuffer.isView(values)) {
    const d: DType = dtype ?? dtypeOfTypedArray('tensor', values);
    const arr = makeTypedArray(d, (values as TypedArray).length);
    arr.set(values as TypedArray);
    return fromArray(arr, shape ?? [arr.length], d);
  }
  if (typeof values !== 'number' && typeof values !== 'boolean' && !Array.isArray(values)) {
    throw new Error(`tensor: values are ${describeValue(values)}; pass a number, a boolean, a nested array of them or a typed array${values instanceof Tensor ? ' (it is a tensor already)' : ''}`);
  }
  const inferred = inferShape(values as NestedArray);
  const flat: number[] = [];
  flatten(values as NestedArray, flat, inferred, 0);
  let leaf: NestedArray = values as NestedArray;
  while (Array.isArray(leaf)) leaf = leaf[0] as NestedArray;
  const d: DType = dtype ?? (typeof leaf === 'boolean' ? 'bool' : 'float32');
  const arr = makeTypedArray(d, flat.length);
  for (let i = 0; i < flat.length; i++) arr[i] = flat[i]!;
  return fromArray(arr, shape ?? inferred, d);
}

export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  if (typeof value !== 'number' && typeof value !== 'boolean') throw new Error(`scalar: the value is ${describeValue(value)}, not a number`);
  checkDType('scalar', dtype);
  const arr = makeTypedArray(dtype, 1);
  arr[0] = value;
  return fromArray(arr, [], dtype);
}

export const full = scoped(function full(shape: Shape, value: number, dtype: DType = 'float32'): Tensor {
  assertShape('full', shape);
  if (typeof value !== 'number' && typeof value !== 'boolean') throw new Error(`full: the value is ${describeValue(value)}, not a number`);
  checkDType('full', dtype);
  // The scalar is spent at once (no tape tracks it), so `zeros`/`ones` outside tidy leave only their result.
  const s = scalar(value, dtype);
  const out = bind('broadcast', [s], { shape: [...shape] });
  s.dispose();
  return out;
});

export const zeros = (shape: Shape, dtype: DType = 'float32'): Tensor => (checkDType('zeros', dtype), full(shape, 0, dtype));
export const ones = (shape: Shape, dtype: DType = 'float32'): Tensor => (checkDType('ones', dtype), full(shape, 1, dtype));
export const zerosLike = (x: Tensor): Tensor => (checkTensor('zerosLike', 'x', x), full(x.shape, 0, x.dtype));
export const onesLike = (x: Tensor): Tensor => (checkTensor('onesLike', 'x', x), full(x.shape, 1, x.dtype));

/** `arange(n)` or `arange(start, stop, step?)`, float32 unless a dtype is given. */
export const arange = scoped(function arange(startOrN: number, stop?: number, step = 1, dtype: DType = 'float32'): Tensor {
  const [start, end] = stop === undefined ? [0, startOrN] : [startOrN, stop];
  if (step === 0) throw new Error('arange: step must not be 0');
  checkDType('arange', dtype);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const arr = makeTypedArray(dtype, n);
  for (let i = 0; i < n; i++) arr[i] = start + i * step;
  return fromArray(arr, [n], dtype);
});

export const linspace = scoped(function linspace(start: number, stop: number, num: number): Tensor {
  const arr = new Float32Array(num);
  for (let i = 0; i < num; i++) arr[i] = num === 1 ? start : start + ((stop - start) * i) / (num - 1);
  return fromArray(arr, [num], 'float32');
});

export const eye = scoped(function eye(n: number): Tensor {
  const arr = new Float32Array(n * n);
  for (let i = 0; i < n; i++) arr[i * n + i] = 1;
  return fromArray(arr, [n, n], 'float32');
});

/** Values of a tensor, flattened. */
export function toArray(t: Tensor): Promise<TypedArray> {
  return t.toArray();
}

/** A nested-array copy of the values, shaped like the tensor (numbers, or booleans for bool). */
export async function toNested(t: Tensor): Promise<NestedArray> {
  checkTensor('toNested', 't', t);
  return nest(await t.toArray(), t.shape, t.dtype);
}

/** Copy a tensor to another backend's memory. */
export async function toBackend(t: Tensor, backendName: string): Promise<Tensor> {
  const prev = getBackendName();
  const data = await t.toArray();
  await setBackend(backendName);
  try {
    return fromArray(data, t.shape, t.dtype);
  } finally {
    await setBackend(prev);
  }
}
