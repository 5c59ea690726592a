/**
 * Element types. `uint32` exists for the counter-based PRNG (Threefry needs wrapping 32-bit adds, xors
 * and rotates); `bool` is what comparisons return.
 */
export type DType = 'float32' | 'int32' | 'uint32' | 'bool';

export type TypedArray = Float32Array | Int32Array | Uint32Array | Uint8Array;

export interface DTypeArrays {
  float32: Float32Array;
  int32: Int32Array;
  uint32: Uint32Array;
  bool: Uint8Array;
}

export const DTYPES: readonly DType[] = ['float32', 'int32', 'uint32', 'bool'];

export function bytesPerElement(dtype: DType): number {
  return dtype === 'bool' ? 1 : 4;
}

export function makeTypedArray<D extends DType>(dtype: D, length: number): DTypeArrays[D];
export function makeTypedArray(dtype: DType, length: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(length);
    case 'int32': return new Int32Array(length);
    case 'uint32': return new Uint32Array(length);
    case 'bool': return new Uint8Array(length);
    default: throw new Error(`makeTypedArray: unknown dtype '${String(dtype)}'; the dtypes are ${DTYPES.join(', ')}`);
  }
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32';
}

/**
 * The dtype a JS typed array becomes when no dtype is given. Integer arrays keep their numbers:
 * Int8/Int16/Uint8/Uint8Clamped/Uint16 become int32, which holds all their values exactly (as tfjs
 * does; a `uint8` dtype as JAX has would need 8-bit kernels in every backend, and WGSL has no 8-bit
 * storage type), and never bool: image bytes are numbers. Float64Array is rounded to float32, the
 * only float dtype. Arrays of 64-bit integers are refused (int32 cannot hold their values).
 */
export function dtypeOfTypedArray(op: string, a: ArrayBufferView): DType {
  if (a instanceof Float32Array || a instanceof Float64Array) return 'float32';
  if (a instanceof Int32Array || a instanceof Int16Array || a instanceof Int8Array || a instanceof Uint16Array || a instanceof Uint8Array || a instanceof Uint8ClampedArray) return 'int32';
  if (a instanceof Uint32Array) return 'uint32';
  throw new Error(`${op}: a ${a.constructor.name} cannot be made a tensor; pass a Float32Array, an Int32Array, a Uint32Array, a smaller integer array or a Float64Array`);
}

export function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint32Array) return 'uint32';
  return 'bool';
}
