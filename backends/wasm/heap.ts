/**
 * The wasm backend's memory: every tensor lives in one `WebAssembly.Memory`, so kernels address it
 * directly and worker threads share it. Blocks come from free lists by size class (powers of two with
 * a three-quarter step between, as the CPU pool does, so waste stays under a third) and, when a list
 * is empty, from a bump pointer that grows the memory page by page up to its maximum. A freed block
 * goes back on its class's list; blocks are never split or merged, which keeps the allocator a few
 * lines long and is enough for training loops, whose shapes repeat every step.
 */

const PAGE = 65536;
/** Blocks start on 64-byte boundaries: a cache line, and v128 loads are always aligned. */
const ALIGN = 64;

export function sizeClass(bytes: number): number {
  if (bytes <= ALIGN) return ALIGN;
  const p = 2 ** Math.ceil(Math.log2(bytes));
  const threeQuarters = p * 0.75;
  return bytes <= threeQuarters && threeQuarters % ALIGN === 0 ? threeQuarters : p;
}

export interface HeapOptions {
  /** Initial size in bytes (rounded up to 64 KiB pages). */
  initialBytes?: number;
  /** The most the heap may grow to, in bytes (at most 4 GiB, wasm32's limit). */
  maxBytes?: number;
  /** Back the heap with a SharedArrayBuffer so worker threads can run kernels on it. */
  shared?: boolean;
}

export interface HeapStats {
  /** Blocks handed out and not yet freed. */
  buffers: number;
  /** Bytes in those blocks (by size class). */
  bytes: number;
  /** Bytes in freed blocks kept for reuse. */
  pooledBytes: number;
  /** The memory's current size. */
  heapBytes: number;
  /** The most it may grow to. */
  maxBytes: number;
}

export class Heap {
  readonly memory: WebAssembly.Memory;
  readonly maxBytes: number;
  readonly shared: boolean;
  private readonly freeLists = new Map<number, number[]>();
  private top: number;
  private liveBuffers = 0;
  private liveBytes = 0;
  private pooled = 0;
  private f32View: Float32Array;
  private viewBuffer: ArrayBufferLike;

  constructor(options: HeapOptions = {}) {
    const maxBytes = Math.min(options.maxBytes ?? 2 ** 31, 2 ** 32);
    const maximum = Math.max(1, Math.floor(maxBytes / PAGE));
    const initial = Math.min(maximum, Math.max(1, Math.ceil((options.initialBytes ?? 16 * 2 ** 20) / PAGE)));
    this.shared = options.shared ?? false;
    this.maxBytes = maximum * PAGE;
    this.memory = new WebAssembly.Memory({ initial, maximum, shared: this.shared });
    // Address 0 stays unused so that a zero pointer is never a live block.
    this.top = ALIGN;
    this.viewBuffer = this.memory.buffer;
    this.f32View = new Float32Array(this.viewBuffer);
  }

  get pages(): { initial: number; maximum: number } {
    return { initial: this.memory.buffer.byteLength / PAGE, maximum: this.maxBytes / PAGE };
  }

  /** A block of at least `bytes` bytes, 64-byte aligned. Returns its address and its class size. */
  alloc(bytes: number): { ptr: number; size: number } {
    const size = sizeClass(Math.max(bytes, 1));
    const list = this.freeLists.get(size);
    let ptr = list?.pop();
    if (ptr !== undefined) this.pooled -= size;
    else ptr = this.bump(size);
    this.liveBuffers++;
    this.liveBytes += size;
    return { ptr, size };
  }

  free(ptr: number, size: number): void {
    let list = this.freeLists.get(size);
    if (!list) this.freeLists.set(size, (list = []));
    list.push(ptr);
    this.liveBuffers--;
    this.liveBytes -= size;
    this.pooled += size;
  }

  private bump(size: number): number {
    const ptr = this.top;
    const end = ptr + size;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      if (end > this.maxBytes) {
        const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
        throw new Error(
          `wasm backend: out of memory: a block of ${mib(size)} does not fit in the heap's maximum of ${mib(this.maxBytes)} ` +
            `(${mib(this.liveBytes)} live in ${this.liveBuffers} buffers, ${mib(this.pooled)} pooled). ` +
            `Dispose tensors you no longer need (wrap steps in tidy), or create the backend with a larger maxBytes.`,
        );
      }
      // Grow by at least half the current size, so a growing model does not grow page by page.
      const want = Math.min(this.maxBytes, Math.max(end, have + have / 2));
      this.memory.grow(Math.ceil((want - have) / PAGE));
    }
    this.top = end;
    return ptr;
  }

  /** A Float32Array over the whole memory; views are remade after the memory grows. */
  f32(): Float32Array {
    const buf = this.memory.buffer;
    if (buf !== this.viewBuffer || this.f32View.byteLength !== buf.byteLength) {
      this.viewBuffer = buf;
      this.f32View = new Float32Array(buf);
    }
    return this.f32View;
  }

  stats(): HeapStats {
    return { buffers: this.liveBuffers, bytes: this.liveBytes, pooledBytes: this.pooled, heapBytes: this.memory.buffer.byteLength, maxBytes: this.maxBytes };
  }
}
