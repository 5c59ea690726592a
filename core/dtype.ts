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
  }
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32';
}

export function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint32Array) return 'uint32';
  return 'bool';
}
