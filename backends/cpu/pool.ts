/**
 * A pool of ArrayBuffers by size class. On these machines touching freshly allocated memory is slow
 * (a new 4 MiB Float32Array costs ~15 ms to fill, a reused one ~0.1 ms), so buffers freed by `dispose`
 * come back here and are reused. Pooled memory is bounded; beyond the bound buffers go to the GC.
 */
import { makeTypedArray, type DType, type DTypeArrays, type TypedArray } from '../../core/index.js';

const MAX_POOLED_BYTES = 1 << 30;

function sizeClass(bytes: number): number {
  if (bytes <= 64) return 64;
  const p = 2 ** Math.ceil(Math.log2(bytes));
  // Half steps between powers of two keep the waste under 33%.
  return bytes <= p * 0.75 ? p * 0.75 : p;
}

export class BufferPool {
  private free = new Map<number, ArrayBuffer[]>();
  pooledBytes = 0;
  liveBuffers = 0;
  liveBytes = 0;

  take<D extends DType>(dtype: D, length: number): DTypeArrays[D] {
    const bpe = dtype === 'bool' ? 1 : 4;
    const cls = sizeClass(Math.max(length * bpe, 1));
    const list = this.free.get(cls);
    let buf = list?.pop();
    if (buf) this.pooledBytes -= cls;
    else buf = new ArrayBuffer(cls);
    this.liveBuffers++;
    this.liveBytes += cls;
    return view(dtype, buf, length);
  }

  give(arr: TypedArray): void {
    const buf = arr.buffer as ArrayBuffer;
    const cls = buf.byteLength;
    this.liveBuffers--;
    this.liveBytes -= cls;
    if (this.pooledBytes + cls > MAX_POOLED_BYTES) return;
    let list = this.free.get(cls);
    if (!list) this.free.set(cls, (list = []));
    list.push(buf);
    this.pooledBytes += cls;
  }

  clear(): void {
    this.free.clear();
    this.pooledBytes = 0;
  }
}

function view<D extends DType>(dtype: D, buf: ArrayBuffer, length: number): DTypeArrays[D];
function view(dtype: DType, buf: ArrayBuffer, length: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(buf, 0, length);
    case 'int32': return new Int32Array(buf, 0, length);
    case 'uint32': return new Uint32Array(buf, 0, length);
    case 'bool': return new Uint8Array(buf, 0, length);
  }
}

/** Scratch arrays reused across kernel calls (packing panels, float64 accumulators). */
const scratch32 = new Map<string, Float32Array>();
const scratch64 = new Map<string, Float64Array>();

export function scratchF32(name: string, length: number): Float32Array {
  let a = scratch32.get(name);
  if (!a || a.length < length) scratch32.set(name, (a = new Float32Array(Math.max(length, (a?.length ?? 0) * 2))));
  return a;
}

export function scratchF64(name: string, length: number): Float64Array {
  let a = scratch64.get(name);
  if (!a || a.length < length) scratch64.set(name, (a = new Float64Array(Math.max(length, (a?.length ?? 0) * 2))));
  return a;
}

export { makeTypedArray };
