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
  /** The most the heap may grow to, in bytes (default and at most 4 GiB, wasm32's limit). */
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
    // Default: wasm32's whole 4 GiB. The memory grows on demand, so the maximum costs only address
    // space; kernels take addresses as i32 and wasm reads them unsigned, so blocks past 2 GiB work.
    const maxBytes = Math.min(options.maxBytes ?? 2 ** 32, 2 ** 32);
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

  /**
   * A block of at least `bytes` bytes, 64-byte aligned. Returns its address and its class size.
   * In order: a freed block of the same class; fresh memory from the bump pointer; a larger freed
   * block split in two; and, when none is left, every freed block merged with its free neighbours
   * (a training step frees blocks of many sizes, and without merging, gigabytes could sit in the
   * pool in classes no later request asks for while the heap is full).
   */
  alloc(bytes: number): { ptr: number; size: number } {
    const size = sizeClass(Math.max(bytes, 1));
    const ptr = this.reuse(size) ?? this.bump(size) ?? this.split(size) ?? (this.coalesce(), this.reuse(size) ?? this.bump(size) ?? this.split(size));
    if (ptr === null) throw this.outOfMemory(size);
    this.liveBuffers++;
    this.liveBytes += size;
    return { ptr, size };
  }

  private reuse(size: number): number | null {
    const ptr = this.freeLists.get(size)?.pop();
    if (ptr === undefined) return null;
    this.pooled -= size;
    return ptr;
  }

  /** The smallest freed block larger than `size`, its tail returned to the pool in class-sized pieces. */
  private split(size: number): number | null {
    let best = Infinity;
    for (const [cls, list] of this.freeLists) if (cls > size && cls < best && list.length > 0) best = cls;
    if (best === Infinity) return null;
    const ptr = this.freeLists.get(best)!.pop()!;
    this.pooled -= best;
    this.carve(ptr + size, best - size);
    return ptr;
  }

  /** Put [ptr, ptr + bytes) on the free lists as the fewest class-sized blocks. */
  private carve(ptr: number, bytes: number): void {
    while (bytes >= ALIGN) {
      const p = 2 ** Math.floor(Math.log2(bytes));
      const cls = p * 1.5 <= bytes && (p * 1.5) % ALIGN === 0 ? p * 1.5 : p;
      this.pushFree(ptr, cls);
      ptr += cls;
      bytes -= cls;
    }
  }

  private pushFree(ptr: number, size: number): void {
    let list = this.freeLists.get(size);
    if (!list) this.freeLists.set(size, (list = []));
    list.push(ptr);
    this.pooled += size;
  }

  /** Merge every freed block with its freed neighbours; a free run that ends at the top lowers it. */
  private coalesce(): void {
    const blocks: [number, number][] = [];
    for (const [cls, list] of this.freeLists) for (const ptr of list) blocks.push([ptr, cls]);
    this.freeLists.clear();
    this.pooled = 0;
    blocks.sort((a, b) => a[0] - b[0]);
    const runs: [number, number][] = [];
    for (const [ptr, size] of blocks) {
      const last = runs[runs.length - 1];
      if (last && last[0] + last[1] === ptr) last[1] += size;
      else runs.push([ptr, size]);
    }
    const tail = runs[runs.length - 1];
    if (tail && tail[0] + tail[1] === this.top) {
      this.top = tail[0];
      runs.pop();
    }
    for (const [ptr, size] of runs) this.carve(ptr, size);
  }

  free(ptr: number, size: number): void {
    this.pushFree(ptr, size);
    this.liveBuffers--;
    this.liveBytes -= size;
  }

  private outOfMemory(size: number): Error {
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    return new Error(
      `wasm backend: out of memory: a block of ${mib(size)} does not fit in the heap's maximum of ${mib(this.maxBytes)} ` +
        `(${mib(this.liveBytes)} live in ${this.liveBuffers} buffers, ${mib(this.pooled)} free but fragmented). ` +
        `Dispose tensors you no longer need (wrap steps in tidy), use a smaller batch, wrap large blocks of the model in checkpoint(), ` +
        `or, below wasm32's 4 GiB, create the backend with a larger maxBytes.`,
    );
  }

  private bump(size: number): number | null {
    const ptr = this.top;
    const end = ptr + size;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      if (end > this.maxBytes) return null;
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
