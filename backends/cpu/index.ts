/**
 * The pure-TypeScript CPU backend: the readable reference implementation and the oracle the other
 * backends are tested against. Buffers are typed arrays from a size-class pool; kernels run eagerly.
 */
import type { Backend, BackendBuffer, BackendPrim, BufferInfo, DType, Expr, OutputInfo, PrimParams, TypedArray } from '../../core/index.js';
import { sizeOf } from '../../core/index.js';
import { mapElements } from './elementwise.js';
import { kernelOf, type HostTensor } from './kernels.js';
import { BufferPool } from './pool.js';

export interface CpuBuffer {
  data: TypedArray;
}

export function createCpuBackend(): Backend & { pool: BufferPool } {
  const pool = new BufferPool();
  const host = (b: BackendBuffer): CpuBuffer => b as CpuBuffer;
  return {
    name: 'cpu',
    pool,
    upload(values: TypedArray, dtype: DType): BackendBuffer {
      const data = pool.take(dtype, values.length);
      data.set(values);
      return { data };
    },
    free(buffer: BackendBuffer): void {
      pool.give(host(buffer).data);
    },
    read(buffer: BackendBuffer, _dtype: DType, size: number): Promise<TypedArray> {
      return Promise.resolve(host(buffer).data.slice(0, size));
    },
    readSync(buffer: BackendBuffer, _dtype: DType, size: number): TypedArray {
      return host(buffer).data.slice(0, size);
    },
    run<P extends BackendPrim>(prim: P, inputs: readonly BufferInfo[], params: PrimParams[P], out: OutputInfo): BackendBuffer {
      const data = pool.take(out.dtype, sizeOf(out.shape));
      const hosts: HostTensor[] = inputs.map((i) => ({ data: host(i.buffer).data, shape: i.shape, dtype: i.dtype }));
      kernelOf(prim)(data, hosts, params, out.shape, out.dtype);
      return { data };
    },
    runExpression(expression: Expr, inputs: readonly BufferInfo[], out: OutputInfo): BackendBuffer {
      const data = pool.take(out.dtype, sizeOf(out.shape));
      mapElements(expression, data, inputs.map((i) => ({ data: host(i.buffer).data, shape: i.shape })), out.shape);
      return { data };
    },
    stats() {
      return { buffers: pool.liveBuffers, bytes: pool.liveBytes, pooledBytes: pool.pooledBytes };
    },
    dispose() {
      pool.clear();
    },
  };
}
