/**
 * The kernel module: every wasm kernel of the backend in one module, assembled at start-up for the
 * features this engine has (shared memory for threads, relaxed SIMD), and the feature probes.
 */
import { ModuleBuilder } from './assembler.js';
import { emitElementwise, emitReductions } from './elementwise.js';
import { emitCopyBlock, emitCopyRows, emitLayout, emitTranspose } from './layout.js';
import { emitMatmul, emitSmallK, type MatmulConfig } from './matmul.js';
import { emitThreefry } from './random.js';
import { emitWinograd } from './winograd.js';

export type KernelFn = (...args: number[]) => void;

export interface KernelModule {
  readonly module: WebAssembly.Module;
  /** Export names, in a fixed order (workers call kernels by index into this list). */
  readonly names: readonly string[];
}

export interface KernelModuleOptions {
  initialPages: number;
  maximumPages: number;
  shared: boolean;
  matmul: MatmulConfig;
}

export function buildKernelModule(opts: KernelModuleOptions): KernelModule {
  const m = new ModuleBuilder().importMemory({ module: 'env', name: 'memory', initial: opts.initialPages, maximum: opts.maximumPages, shared: opts.shared });
  emitMatmul(m, opts.matmul);
  emitSmallK(m, opts.matmul.relaxed, opts.matmul.smallK);
  emitElementwise(m);
  emitReductions(m);
  emitLayout(m);
  emitTranspose(m);
  emitCopyRows(m);
  emitCopyBlock(m);
  emitWinograd(m);
  emitThreefry(m);
  const bytes = m.encode();
  const module = new WebAssembly.Module(bytes);
  const names = WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').map((e) => e.name);
  return { module, names };
}

export function instantiate(k: KernelModule, memory: WebAssembly.Memory): Record<string, KernelFn> {
  const instance = new WebAssembly.Instance(k.module, { env: { memory } });
  const fns: Record<string, KernelFn> = {};
  for (const name of k.names) fns[name] = instance.exports[name] as KernelFn;
  return fns;
}

// ---------------------------------------------------------------- feature probes

function validates(build: (m: ModuleBuilder) => void): boolean {
  try {
    const m = new ModuleBuilder();
    build(m);
    return WebAssembly.validate(m.encode());
  } catch {
    return false;
  }
}

/** 128-bit SIMD: a function returning f32x4.add of two constants validates. */
export function hasSimd(): boolean {
  return validates((m) => m.func('f', { params: [], results: ['v128'] }, (c) => void c.f32x4Const(1).f32x4Const(2).f32x4Add()));
}

/** Relaxed SIMD: a function using f32x4.relaxed_madd validates. */
export function hasRelaxedSimd(): boolean {
  return validates((m) => m.func('f', { params: [], results: ['v128'] }, (c) => void c.f32x4Const(1).f32x4Const(2).f32x4Const(3).f32x4RelaxedMadd()));
}

/** Threads: SharedArrayBuffer and Atomics exist, a shared memory can be made and a module importing one validates. */
export function hasSharedMemory(): boolean {
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') return false;
  try {
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    if (!(mem.buffer instanceof SharedArrayBuffer)) return false;
  } catch {
    return false;
  }
  return validates((m) => m.importMemory({ module: 'env', name: 'memory', initial: 1, maximum: 1, shared: true }));
}
