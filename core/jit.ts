/**
 * `jit(f)`: trace a pure function once per input signature into a program of primitives, cache it,
 * and replay it: one `backend.run` per kernel, no tape, no shape rules, no tensor per intermediate,
 * each intermediate buffer freed right after its last reader, and chains of element-wise primitives
 * fused into one `backend.runExpression` kernel.
 *
 * Tracing. The first call with a new signature runs `f` eagerly, as it would run without `jit` (so
 * that call's result is the eager one), while a hook in `bind` (trace.ts) records every primitive
 * that reaches a backend: its inputs, parameters and output. Values are told apart by their storage
 * (a reshape, a `stopGradient`, a `customVjp` output share their input's buffer, so they are the same
 * value read under another shape). An input that is neither an argument leaf nor the output of a
 * recorded primitive is a constant: a tensor the function closes over, or one it made from host data
 * (a lifted number such as the 0.5 of `mul(x, 0.5)`, `tensor([...])`, the seed of `grad`). Constants are
 * baked into the program, as JAX bakes closed-over arrays: the cache entry holds their buffers (a
 * later change of the variable that held one is not seen; pass a tensor that changes as an argument),
 * and `jitted.clear()` gives them back. A primitive whose inputs are all constants (the backward
 * pass's seed divided by a mean's count, say) is folded: its trace-time value, up to 1,024 elements,
 * becomes a constant and is not run again. Transformations inside `f` (`grad`, `valueAndGrad`, `vmap`,
 * `jvp`, `checkpoint`) need nothing special: what they compute goes through `bind` like anything else,
 * so `jit(valueAndGrad(loss))` records the forward and the backward pass as one program.
 *
 * The signature is the tree structure of the arguments, the shape and dtype of every tensor leaf,
 * which leaves share a buffer, the backend, and every non-tensor leaf's value (numbers, strings,
 * booleans: static arguments, a new value retraces; functions and other objects by identity). PRNG
 * keys are host values (two 32-bit words; `split` and `foldIn` run on the host), so a key argument is
 * static too: each new key traces again. To draw fresh noise on every call without retracing, draw
 * it outside and pass the tensor in. The cache keeps the `maxCacheSize` (default 64) programs used
 * last, so a key or a number that changes on every call cannot grow it without bound.
 *
 * Purity. A jitted function must compute its result from its arguments with tensor ops only: the
 * trace is replayed without running the function, so a decision it takes by reading a value would be
 * taken once, for the first call's values. Reading (`toArray`, `toArraySync`, `item`, `array`) a
 * tensor computed from the arguments while tracing is therefore an error that says so; values of
 * constants may be read.
 *
 * Transformations of a jitted function. Called while a `grad` tape is recording, on a value a `jvp`
 * or `vmap` is transforming, or with `setDebugNans(true)`, the jitted function runs `f` eagerly (uncached), so the outer
 * transformation sees its primitives and derivatives are right; it is only faster outside them. Put
 * `jit` outermost: `jit(valueAndGrad(f))`, `jit(vmap(grad(f)))`. A trace that closes over a tensor some
 * outer transformation is tracking is not cached either.
 *
 * Fusion (the idea of WebGPU's lazy fusion, backends/webgpu/fusion.ts, done ahead of time). An
 * element-wise primitive whose output is read only by one element-wise primitive, in its own shape
 * (not broadcast: an inlined value is computed once per output element, so a broadcast one would be
 * computed again for every element it is broadcast to) and equal to that consumer's output shape, is
 * inlined into it with `compose` (core/expr.ts); a `broadcast` read by an element-wise primitive is
 * not run at all: the consumer reads the broadcast's input through stride-0 axes, as kernels read
 * any broadcast operand. A fused kernel reads at most 7 distinct buffers and has at most 32 nodes
 * (fusion.ts's bounds, so it fits WebGPU's 8 storage buffers); scalar constants become constant nodes.
 * A lone element-wise primitive runs its own kernel (`backend.run`). On WebGPU, whose backend already
 * fuses lazily at run time, a jitted program's expressions enter that same fuser.
 *
 * Rounding. `compose` puts a `round` node where the unfused chain stored a tensor, and every backend
 * rounds there, so a fused kernel computes what the chain computes, bit for bit, on every backend —
 * with one exception that fusion avoids: on wasm, an expression with a node wasm does not render
 * (log, tanh, integer arithmetic, casts, …) runs the CPU backend's rendering as a whole, whose exp,
 * sigmoid and erf are `Math`'s, not wasm's polynomials (1-2 ulp apart). So a chain is not fused when
 * that would move an approximate primitive wasm renders itself into the CPU's rendering (the
 * backend's `renders`); the exact operations (+ − × ÷ √, comparisons, selects, casts) give the same
 * bits under either rendering. The tests check jit against eager bit for bit on cpu, wasm and WebGPU.
 *
 * Memory. Replay frees each intermediate after its last reader, so it holds no more than eager
 * execution (which frees at the end of each op's scope) and usually less; dead code (values the
 * outputs do not need, such as gradients nobody returns) is not run. Outputs are fresh tensors in
 * the caller's scope (`tidy` frees them as any others).
 *
 * ```ts
 * const step = jit((params: Params, x: Tensor, y: Tensor) => {
 *   const [loss, grads] = valueAndGrad(lossFn)(params, x, y);
 *   return { loss, params: treeZipMap([params, grads], ([p, g]) => sub(p, mul(g, 0.1))) };
 * });
 * for (const [x, y] of batches) {
 *   const next = step(state.params, x, y);   // traced on the first call, replayed after
 *   dispose(state);
 *   state = next;
 * }
 * step.stats();                              // { traces: 1, primitives: …, kernels: … }
 * ```
 */
import type { Backend, BackendBuffer, BufferInfo } from './backend.js';
import { debugNans } from './debug.js';
import type { DType } from './dtype.js';
import * as ir from './expr.js';
import { isElementwise, primitiveExpression, type ElementwisePrim } from './elementwise.js';
import { hasTangent } from './jvp.js';
import type { BackendPrim, Prim, PrimParams } from './primitives.js';
import { describeValue, isPlainObject, pytreeNodeOf } from './pytree.js';
import { fmt, shapeEq, sizeOf } from './shape.js';
import { getBackend } from './backendRegistry.js';
import { keep, newStorage, nextTensorId, readGuard, Tensor, tidy, type Storage } from './tensor.js';
import { bindHook, isTracing } from './trace.js';
import { treeMap } from './tree.js';
import { isBatched } from './vmap.js';

/** A fused kernel reads at most this many buffers (with its output, WebGPU's 8 storage buffers per stage). */
export const MAX_FUSED_INPUTS = 7;
/** A fused kernel has at most this many operations and constants. */
export const MAX_FUSED_NODES = 32;

export interface JitOptions {
  /** Fuse chains of element-wise primitives (default true; false replays one kernel per primitive). */
  fuse?: boolean;
  /** Programs kept (default 64); the one used least recently is freed first. */
  maxCacheSize?: number;
}

/** Counters of a jitted function (for tests and benchmarks). */
export interface JitStats {
  /** Calls that traced `f` (a new signature). */
  traces: number;
  /** Calls answered from the cache. */
  hits: number;
  /** Calls that ran `f` eagerly under an outer transformation (or with `setDebugNans` on). */
  eager: number;
  /** Programs cached now. */
  cacheSize: number;
  /** Of the program used last: the primitives its trace ran (reshapes excluded: they run nothing). */
  primitives: number;
  /** Of the program used last: the kernels one replay dispatches. */
  kernels: number;
  /** Of the program used last: the fused kernels among them (each replacing two or more primitives). */
  fused: number;
}

/** `f`, traced once per signature and replayed; see the module's documentation. */
export type Jitted<F> = F & {
  /** Free every cached program's constants and forget the programs (the next call traces again). */
  clear(): void;
  /** How many programs (signatures) are cached. */
  readonly cacheSize: number;
  stats(): JitStats;
};

// ---------------------------------------------------------------- programs

/** A value read by a kernel: its slot, and the shape it is read as (a reshape changes only this). */
interface Ref {
  readonly slot: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

type Slot = { readonly kind: 'arg'; readonly leaf: number } | { readonly kind: 'const'; readonly tensor: Tensor } | { readonly kind: 'value' } | { readonly kind: 'unused' };

/** A primitive on constants only, with at most this many output elements, is folded: its trace-time value becomes a constant. */
const FOLD_LIMIT = 1024;

/** One recorded primitive. */
interface Node {
  readonly prim: BackendPrim;
  readonly params: PrimParams[BackendPrim];
  readonly inputs: readonly Ref[];
  readonly out: Ref;
}

interface Step {
  readonly expr: ir.Expr | null;
  readonly prim: BackendPrim;
  readonly params: PrimParams[BackendPrim];
  readonly inputs: readonly Ref[];
  readonly out: { readonly shape: readonly number[]; readonly dtype: DType };
  readonly slot: number;
  /** Value slots whose last reader this step is. */
  readonly free: readonly number[];
}

interface Program {
  readonly backend: Backend;
  readonly slots: readonly Slot[];
  readonly steps: readonly Step[];
  readonly outputs: readonly Ref[];
  /** Elements of each value slot a step makes. */
  readonly sizes: ReadonlyMap<number, number>;
  /** The traced output: its structure and non-tensor leaves (its tensors are only placeholders). */
  readonly template: unknown;
  readonly constants: readonly Tensor[];
  readonly primitives: number;
  readonly fused: number;
}

// ---------------------------------------------------------------- signatures

const identities = new WeakMap<object, number>();
const symbolIds = new Map<symbol, number>();
let nextIdentity = 1;
function identity(x: object | symbol): number {
  if (typeof x === 'symbol') {
    let id = symbolIds.get(x);
    if (id === undefined) symbolIds.set(x, (id = nextIdentity++));
    return id;
  }
  let id = identities.get(x);
  if (id === undefined) identities.set(x, (id = nextIdentity++));
  return id;
}

/** The cache key of `args` and their tensor leaves (in `treeLeaves` order). */
function signature(args: readonly unknown[]): { key: string; leaves: Tensor[] } {
  const leaves: Tensor[] = [];
  const storages = new Map<Storage, number>();
  const walk = (x: unknown, path: string, inAux: boolean): string => {
    if (x instanceof Tensor) {
      if (inAux) return `T#${identity(x)}`;
      const s = x.live('jit');
      const same = storages.get(s);
      if (same === undefined) storages.set(s, leaves.length);
      leaves.push(x);
      return `${x.dtype}${fmt(x.shape)}${same === undefined ? '' : `=${same}`}`;
    }
    switch (typeof x) {
      case 'number': return Object.is(x, -0) ? 'n-0' : `n${x}`;
      case 'string': return `s${JSON.stringify(x)}`;
      case 'boolean': return x ? 'T' : 'F';
      case 'undefined': return 'u';
      case 'bigint': return `b${x}`;
      case 'symbol': return `y${identity(x)}`;
      case 'function': return `f${identity(x)}`;
    }
    if (x === null) return 'N';
    const join = (k: string) => (path ? `${path}.${k}` : k);
    if (Array.isArray(x)) return `[${x.map((e, i) => walk(e, join(String(i)), inAux)).join(',')}]`;
    if (isPlainObject(x)) return `{${Object.keys(x).map((k) => `${JSON.stringify(k)}:${walk(x[k], join(k), inAux)}`).join(',')}}`;
    const node = pytreeNodeOf(x as object);
    if (node === undefined) {
      if (inAux) return `o${identity(x as object)}`;
      throw new Error(`jit: the argument at '${path || '<root>'}' is ${describeValue(x)}, not a pytree node; register its class with registerPytreeNode, or close over it instead of passing it`);
    }
    const [children, aux] = node.flatten(x);
    return `<${identity(Object.getPrototypeOf(x) as object)}|${walk(aux, path, true)}|${walk(children, path, inAux)}>`;
  };
  const key = `${walk(args, '', false)}@${leaves.length > 0 ? leaves[0]!.live('jit').backend.name : getBackend().name}`;
  return { key, leaves };
}

// ---------------------------------------------------------------- tracing

let recording: Recorder | null = null;

class Recorder {
  readonly slots: Slot[] = [];
  readonly nodes: Node[] = [];
  readonly constants: Tensor[] = [];
  /** The argument aliases `f` was given, by identity. */
  readonly args = new Map<Tensor, number>();
  /** Every buffer the trace has a slot for: arguments, recorded outputs. */
  readonly byStorage = new Map<Storage, number>();
  readonly constByStorage = new Map<Storage, number>();
  /** Storages computed from the arguments (reading them is refused). */
  readonly derived = new Set<Storage>();
  /** Why the trace cannot be cached (an outer transformation's value was captured), or null. */
  tainted: string | null = null;
  backend: Backend | null = null;

  constructor(readonly startId: number) {}

  slotOf(t: Tensor): number {
    const arg = this.args.get(t);
    if (arg !== undefined) return arg;
    const s = t.live('jit');
    if (t.id >= this.startId) {
      const known = this.byStorage.get(s);
      if (known !== undefined) return known;
    }
    const c = this.constByStorage.get(s);
    if (c !== undefined) return c;
    if (hasTangent([t]) || isBatched([t])) this.tainted = 'it closes over a tensor that an outer jvp or vmap is transforming';
    const held = keep(new Tensor(s, t.shape, t.dtype));
    this.constants.push(held);
    this.slots.push({ kind: 'const', tensor: held });
    this.constByStorage.set(s, this.slots.length - 1);
    return this.slots.length - 1;
  }

  ref(t: Tensor): Ref {
    return { slot: this.slotOf(t), shape: t.shape, dtype: t.dtype };
  }

  /** Primitives the trace ran (reshapes aside), folded ones included. */
  primitives = 0;

  record(prim: Prim, inputs: readonly Tensor[], params: PrimParams[Prim], out: Tensor, batched: boolean): void {
    if (batched) {
      // The batching rule's primitives were recorded; the tracer it made shares their storage. A
      // tracer of a vmap opened outside the trace must not become a constant.
      for (const x of inputs) if (!this.args.has(x) && !this.byStorage.has(x.live('jit')) && isBatched([x])) this.tainted = 'it closes over a tensor that an outer vmap is batching';
      return;
    }
    if (prim === 'reshape') {
      this.slotOf(inputs[0]!);
      return;
    }
    this.primitives++;
    const refs = inputs.map((x) => this.ref(x));
    this.backend ??= out.live('jit').backend;
    if (out.size <= FOLD_LIMIT && refs.every((r) => this.slots[r.slot]!.kind === 'const')) {
      // Constant folding: the value is the same on every call, and it is here already.
      this.slotOf(out);
      return;
    }
    const slot = this.slots.push({ kind: 'value' }) - 1;
    const s = out.live('jit');
    this.byStorage.set(s, slot);
    if (inputs.some((x) => this.derived.has(x.live('jit')))) this.derived.add(s);
    this.nodes.push({ prim, params, inputs: refs, out: { slot, shape: out.shape, dtype: out.dtype } });
  }
}

function impureRead(op: string, t: Tensor): Error {
  return new Error(
    `jit: ${op}() of ${t.dtype}${fmt(t.shape)}, a value computed from the jitted function's arguments, while jit traces the function. ` +
      'A jitted function is run once to record its primitives and then replayed without running it, so it must not read values ' +
      '(to decide control flow, or to build other tensors): the first call\'s values would be baked in. Compute what needs the value ' +
      'outside the jitted function and pass the result in (a number or string argument is static: part of the cache key), ' +
      'use tensor ops (where, maximum, …) instead of branches, or do not jit this function.',
  );
}

/** Run `f` eagerly on aliases of the arguments, recording its primitives; the result and the program. */
function trace(f: (...args: never[]) => unknown, args: readonly unknown[], leaves: readonly Tensor[], fuse: boolean): { out: unknown; program: Program | null } {
  const rec = new Recorder(nextTensorId());
  const storages = new Map<Storage, number>();
  leaves.forEach((t, i) => {
    const s = t.live('jit');
    if (!storages.has(s)) {
      storages.set(s, rec.slots.push({ kind: 'arg', leaf: i }) - 1);
      rec.byStorage.set(s, storages.get(s)!);
      rec.derived.add(s);
    }
  });
  const outer = { record: bindHook.record, check: readGuard.check };
  bindHook.record = (prim, inputs, params, out, batched) => rec.record(prim, inputs, params, out, batched);
  readGuard.check = (t, op) => {
    if (t.storage !== null && rec.derived.has(t.storage)) throw impureRead(op, t);
  };
  recording = rec;
  let out: unknown;
  let outputs: Ref[];
  try {
    out = tidy(() => {
      let i = 0;
      const aliased = treeMap(args, (t) => {
        const alias = new Tensor(t.live('jit'), t.shape, t.dtype);
        rec.args.set(alias, storages.get(t.storage!)!);
        i++;
        return alias;
      });
      if (i !== leaves.length) throw new Error('jit: internal error: the arguments\' leaves were walked differently');
      return f(...(aliased as never[]));
    });
    outputs = treeLeavesOf(out).map((t) => rec.ref(t));
  } catch (e) {
    for (const c of rec.constants) c.dispose();
    throw e;
  } finally {
    bindHook.record = outer.record;
    readGuard.check = outer.check;
    recording = null;
  }
  if (rec.tainted !== null) {
    for (const c of rec.constants) c.dispose();
    return { out, program: null };
  }
  const backend = rec.backend ?? (leaves.length > 0 ? leaves[0]!.live('jit').backend : getBackend());
  return { out, program: compile(rec, outputs, out, backend, fuse) };
}

function treeLeavesOf(tree: unknown): Tensor[] {
  const out: Tensor[] = [];
  treeMap(tree, (t) => (out.push(t), t));
  return out;
}

// ---------------------------------------------------------------- compiling: dead code, fusion, frees

/** Float nodes whose value depends on how a backend approximates them. */
const APPROXIMATE = new Set<ir.Op>(['exp', 'log', 'expm1', 'log1p', 'sin', 'cos', 'tanh', 'pow', 'mod', 'sigmoid', 'erf', 'erfinv']);
const approximate = (e: ir.Expr): boolean => ir.topological(e).some((n) => n.dtype === 'float32' && APPROXIMATE.has(n.op));
const countNodes = (e: ir.Expr): number => ir.topological(e).reduce((n, x) => (x.op === 'input' || x.op === 'round' ? n : n + 1), 0);

/** An element-wise node's expression over its leaves (the buffers it reads). */
interface Fused {
  readonly expr: ir.Expr;
  readonly leaves: readonly Ref[];
  /** Nodes inlined into it, itself included. */
  readonly members: number;
  /** Some member is an approximate primitive the backend renders itself. */
  readonly nativeApproximate: boolean;
}

/**
 * A concatenation along axis 0 of consecutive slices of one 1-D value that cover it is that value:
 * a tree flattened into one vector, cut back into leaves and flattened again (the optimizers' whole-
 * tree vectors, nn/optim/flat.ts, between clipping, Adam, the update and the EMA) is not copied
 * twice. Readers of such a concatenation read the value instead (same elements, same order, so the
 * same bits); the concatenation and slices nothing else reads then drop out as dead code. A
 * concatenation that is an output of the program stays (outputs must not alias other slots).
 */
function collapseConcatenatedSlices(nodes: readonly Node[], isOutput: ReadonlySet<number>): Node[] {
  const producer = new Map<number, Node>();
  for (const n of nodes) producer.set(n.out.slot, n);
  const alias = new Map<number, number>();
  for (const n of nodes) {
    if (n.prim !== 'concat' || (n.params as PrimParams['concat']).axis !== 0 || n.out.shape.length !== 1 || isOutput.has(n.out.slot)) continue;
    let source = -1;
    let length = 0;
    let at = 0;
    const covers = n.inputs.every((r) => {
      const p = producer.get(r.slot);
      if (p?.prim !== 'slice' || p.inputs[0]!.shape.length !== 1) return false;
      const { begin, size } = p.params as PrimParams['slice'];
      if (source < 0) [source, length] = [p.inputs[0]!.slot, p.inputs[0]!.shape[0]!];
      if (p.inputs[0]!.slot !== source || begin[0] !== at) return false;
      at += size[0]!;
      return true;
    });
    if (covers && source >= 0 && at === length) alias.set(n.out.slot, alias.get(source) ?? source);
  }
  if (alias.size === 0) return [...nodes];
  const read = (r: Ref): Ref => (alias.has(r.slot) ? { ...r, slot: alias.get(r.slot)! } : r);
  return nodes.map((n) => (n.inputs.some((r) => alias.has(r.slot)) ? { ...n, inputs: n.inputs.map(read) } : n));
}

function compile(rec: Recorder, outputs: readonly Ref[], template: unknown, backend: Backend, fuse: boolean): Program {
  const { slots } = rec;
  const isOutput = new Set(outputs.map((r) => r.slot));
  const nodes = collapseConcatenatedSlices(rec.nodes, isOutput);
  const producer = new Map<number, number>();
  nodes.forEach((n, i) => producer.set(n.out.slot, i));
  // Dead code: only what the outputs read.
  const live = new Array<boolean>(nodes.length).fill(false);
  const mark = (slot: number): void => {
    const p = producer.get(slot);
    if (p === undefined || live[p]) return;
    live[p] = true;
    for (const r of nodes[p]!.inputs) mark(r.slot);
  };
  for (const r of outputs) mark(r.slot);
  const readers = new Map<number, number[]>();
  nodes.forEach((n, i) => {
    if (!live[i]) return;
    for (const r of n.inputs) (readers.get(r.slot) ?? readers.set(r.slot, []).get(r.slot)!).push(i);
  });

  const canFuse = fuse && backend.runExpression !== undefined;
  const fused = new Map<number, Fused>();
  const inlined = new Set<number>();
  // What each step reads: a node's inputs, with broadcasts read through (element-wise consumers only).
  const reads = new Map<number, Ref[]>();
  const scalarOf = (r: Ref): number | null => {
    const s = slots[r.slot]!;
    if (s.kind !== 'const' || sizeOf(r.shape) !== 1 || !backend.readSync) return null;
    const storage = s.tensor.live('jit');
    return backend.readSync(storage.buffer, r.dtype, 1)[0]!;
  };
  const nativeApproximate = (e: ir.Expr): boolean => approximate(e) && (backend.renders?.(e) ?? true);

  nodes.forEach((n, j) => {
    if (!live[j]) return;
    if (!canFuse || !isElementwise(n.prim)) {
      reads.set(j, [...n.inputs]);
      return;
    }
    const own = primitiveExpression(n.prim as ElementwisePrim, n.inputs, n.params as PrimParams[ElementwisePrim], n.out.dtype);
    const inputs = n.inputs.map((r) => {
      const p = producer.get(r.slot);
      const pn = p === undefined ? undefined : nodes[p]!;
      if (pn?.prim === 'broadcast' && shapeEq(r.shape, pn.out.shape)) return pn.inputs[0]!;
      return r;
    });
    reads.set(j, inputs);
    // Producers that can be inlined: element-wise, read only here, in their own shape, which is ours.
    const candidates = new Set<number>();
    inputs.forEach((r) => {
      const p = producer.get(r.slot);
      if (p === undefined || !fused.has(p) || isOutput.has(r.slot)) return;
      if (!readers.get(r.slot)!.every((k) => k === j)) return;
      if (!shapeEq(r.shape, nodes[p]!.out.shape) || !shapeEq(r.shape, n.out.shape)) return;
      if (inputs.some((q) => q.slot === r.slot && !shapeEq(q.shape, r.shape))) return;
      candidates.add(p);
    });
    const build = (take: ReadonlySet<number>): Fused | null => {
      const leaves: Ref[] = [];
      const leafIndex = (r: Ref): number => {
        const k = leaves.findIndex((l) => l.slot === r.slot && shapeEq(l.shape, r.shape));
        return k >= 0 ? k : leaves.push(r) - 1;
      };
      let members = 1;
      let approx = nativeApproximate(own);
      // An inlined producer read twice (mul(a, a)) is one subexpression, computed once.
      const inlinedExpr = new Map<number, ir.Expr>();
      const inners = inputs.map((r) => {
        const p = producer.get(r.slot);
        if (p !== undefined && take.has(p)) {
          const done = inlinedExpr.get(p);
          if (done !== undefined) return done;
          const f = fused.get(p)!;
          members += f.members;
          approx ||= f.nativeApproximate;
          const e = ir.substitute(f.expr, f.leaves.map((l) => {
            const v = scalarOf(l);
            return v !== null ? ir.constant(v, l.dtype) : ir.input(leafIndex(l), l.dtype);
          }));
          inlinedExpr.set(p, e);
          return e;
        }
        if (take.size > 0) {
          const v = scalarOf(r);
          if (v !== null) return ir.constant(v, r.dtype);
        }
        return ir.input(leafIndex(r), r.dtype);
      });
      const expr = take.size > 0 ? ir.compose(own, inners) : ir.substitute(own, inners);
      if (take.size > 0) {
        if (leaves.length > MAX_FUSED_INPUTS || countNodes(expr) > MAX_FUSED_NODES) return null;
        if (approx && backend.renders !== undefined && !backend.renders(expr)) return null;
      }
      return { expr, leaves, members, nativeApproximate: approx };
    };
    // Inline as many candidates as the bounds allow, dropping the largest first.
    const take = new Set(candidates);
    let f = build(take);
    while (f === null) {
      let largest = -1;
      for (const p of take) if (largest < 0 || fused.get(p)!.members > fused.get(largest)!.members) largest = p;
      take.delete(largest);
      f = build(take);
    }
    for (const p of take) inlined.add(p);
    fused.set(j, f);
  });

  // Steps, with a second pass of dead code: a broadcast every reader reads through is not run.
  const order = nodes.map((_, i) => i).filter((i) => live[i] && !inlined.has(i));
  const needed = new Set<number>();
  const stepOf = new Map(order.map((i) => [nodes[i]!.out.slot, i] as const));
  const need = (slot: number): void => {
    const i = stepOf.get(slot);
    if (i === undefined || needed.has(i)) return;
    needed.add(i);
    const f = fused.get(i);
    for (const r of f ? f.leaves : reads.get(i)!) need(r.slot);
  };
  for (const r of outputs) need(r.slot);
  const kept = order.filter((i) => needed.has(i));
  // A lone primitive runs its own kernel on its inputs where it takes them (binary ones broadcast; a
  // unary one reading through a broadcast runs as an expression); a fused one runs its expression.
  const alone = kept.map((i) => {
    const f = fused.get(i);
    const n = nodes[i]!;
    return f === undefined || (f.members === 1 && (n.inputs.length > 1 || shapeEq(reads.get(i)![0]!.shape, n.out.shape)));
  });
  const lastReader = new Map<number, number>();
  const stepInputs = kept.map((i, k) => {
    const inputs = alone[k] ? reads.get(i)! : fused.get(i)!.leaves;
    for (const r of inputs) lastReader.set(r.slot, k);
    return inputs;
  });
  const steps: Step[] = kept.map((i, k) => {
    const n = nodes[i]!;
    const free = stepInputs[k]!.filter((r, m, all) => slots[r.slot]!.kind === 'value' && lastReader.get(r.slot) === k && !isOutput.has(r.slot) && all.findIndex((q) => q.slot === r.slot) === m).map((r) => r.slot);
    return { expr: alone[k] ? null : fused.get(i)!.expr, prim: n.prim, params: n.params, inputs: stepInputs[k]!, out: { shape: n.out.shape, dtype: n.out.dtype }, slot: n.out.slot, free };
  });
  const fusedKernels = kept.filter((i) => (fused.get(i)?.members ?? 1) > 1).length;
  // Constants nothing reads any more (folded into others, or into a kernel as a number) are freed.
  const read = new Set([...stepInputs.flat(), ...outputs].map((r) => r.slot));
  const constants: Tensor[] = [];
  const finalSlots: Slot[] = slots.map((s, i) => {
    if (s.kind !== 'const') return s;
    if (read.has(i)) {
      constants.push(s.tensor);
      return s;
    }
    s.tensor.dispose();
    return { kind: 'unused' };
  });
  const sizes = new Map(steps.map((s) => [s.slot, sizeOf(s.out.shape)] as const));
  return { backend, slots: finalSlots, steps, outputs, sizes, template, constants, primitives: rec.primitives, fused: fusedKernels };
}

// ---------------------------------------------------------------- replay

function replay(program: Program, leaves: readonly Tensor[]): unknown {
  const { backend, slots, steps } = program;
  const buffers = new Array<BackendBuffer | undefined>(slots.length);
  const storages = new Array<Storage | undefined>(slots.length);
  slots.forEach((s, i) => {
    if (s.kind === 'arg') {
      const st = leaves[s.leaf]!.live('jit');
      if (st.backend !== backend) throw new Error(`jit: an argument lives on the ${st.backend.name} backend but the program was traced on ${backend.name}; move it with toBackend()`);
      storages[i] = st;
      buffers[i] = st.buffer;
    } else if (s.kind === 'const') {
      const st = s.tensor.live('jit (a constant of a cleared program)');
      storages[i] = st;
      buffers[i] = st.buffer;
    }
  });
  const owned = new Set<number>();
  try {
    for (const step of steps) {
      const infos: BufferInfo[] = step.inputs.map((r) => ({ buffer: buffers[r.slot]!, shape: r.shape, dtype: r.dtype }));
      buffers[step.slot] = step.expr === null ? backend.run(step.prim, infos, step.params, step.out) : backend.runExpression!(step.expr, infos, step.out);
      owned.add(step.slot);
      for (const s of step.free) {
        backend.free(buffers[s]!);
        buffers[s] = undefined;
        owned.delete(s);
      }
    }
  } catch (e) {
    for (const s of owned) backend.free(buffers[s]!);
    throw e;
  }
  const tensors = program.outputs.map((r) => {
    let st = storages[r.slot];
    if (st === undefined) {
      st = storages[r.slot] = newStorage(backend, buffers[r.slot]!, program.sizes.get(r.slot)!, r.dtype);
    }
    return new Tensor(st, r.shape, r.dtype);
  });
  let i = 0;
  return treeMap(program.template, () => tensors[i++]!);
}

// ---------------------------------------------------------------- jit

/**
 * `jit(f)`: `f` traced once per input signature into a program of primitives, cached, and replayed
 * with element-wise chains fused (see this module's documentation for tracing, purity, constants
 * and rounding). Arguments and result are pytrees; non-tensor argument leaves are static (part of the
 * cache key). The result has `clear()` (free the cached programs' constants), `cacheSize` and
 * `stats()`.
 *
 * ```ts
 * const lossAndGrads = jit(valueAndGrad((p: Params, x: Tensor, y: Tensor) => mean(square(sub(model.apply(p, x), y)))));
 * const [loss, grads] = lossAndGrads(params, x, y);   // traced once, then one fused program per call
 * ```
 */
export function jit<F extends (...args: never[]) => unknown>(f: F, options: JitOptions = {}): Jitted<F> {
  const fuse = options.fuse ?? true;
  const maxCacheSize = options.maxCacheSize ?? 64;
  if (!Number.isInteger(maxCacheSize) || maxCacheSize < 1) throw new Error(`jit: maxCacheSize must be a positive integer, got ${maxCacheSize}`);
  const cache = new Map<string, Program>();
  const counts = { traces: 0, hits: 0, eager: 0 };
  let last: Program | null = null;
  const jitted = function (this: unknown, ...args: Parameters<F>): unknown {
    if (recording !== null) return f(...args);
    const { key, leaves } = signature(args);
    if (debugNans.on || isTracing() || hasTangent(leaves) || isBatched(leaves)) {
      counts.eager++;
      return f(...args);
    }
    const hit = cache.get(key);
    if (hit !== undefined) {
      counts.hits++;
      last = hit;
      // Most recently used last (a Map iterates in insertion order).
      cache.delete(key);
      cache.set(key, hit);
      return replay(hit, leaves);
    }
    counts.traces++;
    const { out, program } = trace(f, args, leaves, fuse);
    if (program !== null) {
      cache.set(key, program);
      last = program;
      if (cache.size > maxCacheSize) {
        const [oldest, evicted] = cache.entries().next().value as [string, Program];
        cache.delete(oldest);
        for (const c of evicted.constants) c.dispose();
      }
    }
    return out;
  };
  Object.defineProperty(jitted, 'name', { value: `jit(${f.name || 'f'})` });
  Object.defineProperty(jitted, 'cacheSize', { get: () => cache.size });
  Object.assign(jitted, {
    clear(): void {
      for (const p of cache.values()) for (const c of p.constants) c.dispose();
      cache.clear();
      last = null;
    },
    stats(): JitStats {
      return { ...counts, cacheSize: cache.size, primitives: last?.primitives ?? 0, kernels: last?.steps.length ?? 0, fused: last?.fused ?? 0 };
    },
  });
  return jitted as unknown as Jitted<F>;
}
