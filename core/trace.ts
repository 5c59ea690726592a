/**
 * Reverse-mode autodiff on a tape, micrograd-style, with gradients of gradients.
 *
 * `bind` runs one primitive and, for every active tape that tracks one of its inputs, appends an
 * entry. `vjp(f, ...primals)` opens a tape, tracks fresh aliases of the primals (fresh identities keep
 * nested derivatives apart: no perturbation confusion), runs `f`, and closes the tape. The pullback
 * walks the entries backwards, applying each primitive's VJP rule (`rules.ts`, read through the
 * registry, `registry.ts`). Those rules are
 * written with ordinary ops, so when an outer tape is still open the backward pass is itself
 * recorded: that is how `grad(grad(f))` works. Forward mode (`jvp`, in jvp.ts) and batching
 * (`vmap`, in vmap.ts) ride on the same `bind`: it computes tangents as the primitives run, and runs
 * batching rules in their place; they share this file's nesting levels so that each transformation
 * sees exactly the work of the transformations opened inside it. They plug in (`installForwardMode`,
 * `installBatching`) when they load: they import this file, never the reverse.
 */
import type { DType } from './dtype.js';
import type { PrimParams, Prim } from './primitives.js';
import { rules } from './registry.js';
import { getBackend } from './backendRegistry.js';
import { newStorage, ownedByScope, Tensor, tapeNeeds, tidy, treeTensors, dispose } from './tensor.js';
import type { BufferInfo } from './backend.js';
import { checkInputs } from './argument.js';
import { checkFinite, debugNans } from './debug.js';
import { mapDifferentiable, treeLeaves, treeMap } from './tree.js';

/** One primitive applied, as the tape records it. */
interface PrimEntry {
  readonly prim: Prim;
  /** Every input (a VJP may read any input's shape); only those in `saved` are kept alive for it. */
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  readonly params: PrimParams[Prim];
  /** The tensors whose values the VJP reads (the rule's `saves`). */
  readonly saved: readonly Tensor[];
}

/** A function recorded as one step with its own pullback (`checkpoint`). */
interface CustomEntry {
  readonly prim: null;
  readonly inputs: readonly Tensor[];
  readonly outputs: readonly Tensor[];
  readonly saved: readonly Tensor[];
  /** Cotangents of the inputs (null where not `wanted`) from cotangents of every output (zeros where none flowed). */
  readonly pullback: (cts: readonly Tensor[], wanted: readonly boolean[]) => readonly (Tensor | null)[];
}

type Entry = PrimEntry | CustomEntry;

/** The tensors a rule's VJP reads; without a `saves` declaration, all inputs and the output. */
function savedBy(saves: { readonly inputs: readonly number[]; readonly output: boolean } | undefined, inputs: readonly Tensor[], out: Tensor): Tensor[] {
  if (saves === undefined) return [...inputs, out];
  const keep: Tensor[] = [];
  for (const i of saves.inputs) if (inputs[i] !== undefined) keep.push(inputs[i]!);
  if (saves.output) keep.push(out);
  return keep;
}

/**
 * Every transformation (a tape, a `jvp`) takes the next level when it opens, so a later, higher level
 * is nested inside a lower one. A JVP rule runs with the levels above its own `jvp` set aside.
 */
let levels = 0;

/** @internal The level of a transformation opening now. */
export function nextLevel(): number {
  return ++levels;
}

class Tape {
  readonly level = nextLevel();
  readonly tracked = new Set<number>();
  readonly entries: Entry[] = [];
  /** Every tensor an entry holds (inputs and outputs): what the backward pass will read. */
  readonly saved = new Set<Tensor>();
}

/** @internal What `bind` and the tape ask of forward mode; jvp.ts installs it. */
export interface ForwardMode {
  /** Called by `bind` after each primitive: the output's tangent in every open `jvp` that needs one. */
  propagate<P extends Prim>(prim: P, inputs: readonly Tensor[], params: PrimParams[P], out: Tensor): void;
  /** For scopes: whether `t` is the tangent of a live value. */
  needs(t: Tensor): boolean;
  /** Whether some open `jvp` tracks one of `xs`. */
  tracks(xs: readonly Tensor[]): boolean;
  /** Set aside the open jvps at `level` or above; returns the undo. */
  setAside(level: number): () => void;
}

/** @internal What `bind` and the tape ask of batching; vmap.ts installs it. */
export interface Batching {
  /** Called by `bind` before a primitive runs: its output's tracer when an open vmap batches an input, else null. */
  primitive<P extends Prim>(prim: P, inputs: readonly Tensor[], params: PrimParams[P], shape: readonly number[], dtype: DType): Tensor | null;
  /** For scopes: whether `v` is the batched value of a live tracer. */
  needs(v: Tensor): boolean;
  /** Whether some open vmap batches one of `xs`. */
  tracks(xs: readonly Tensor[]): boolean;
  /** `stopGradient` of a tracer (a tracer of its value's); null for other tensors. */
  stop(x: Tensor): Tensor | null;
  /** Set aside the open vmaps at `level` or above; returns the undo. */
  setAside(level: number): () => void;
}

const nothingToUndo = (): void => undefined;

// Until jvp.ts and vmap.ts load, no jvp or vmap can be open.
let forward: ForwardMode = { propagate: () => undefined, needs: () => false, tracks: () => false, setAside: () => nothingToUndo };
let batching: Batching = { primitive: () => null, needs: () => false, tracks: () => false, stop: () => null, setAside: () => nothingToUndo };

/** @internal Called once by jvp.ts when it loads. */
export function installForwardMode(mode: ForwardMode): void {
  forward = mode;
}

/** @internal Called once by vmap.ts when it loads. */
export function installBatching(mode: Batching): void {
  batching = mode;
}

const activeTapes: Tape[] = [];
// A scope keeps what a recording tape will read, the tangent of every value it keeps (jvp.ts) and
// the batched value behind every vmap tracer it keeps (vmap.ts).
tapeNeeds.has = (t) => activeTapes.some((tape) => tape.saved.has(t)) || forward.needs(t) || batching.needs(t);

/**
 * @internal Take the entries at `level` or above off a stack of open transformations (tapes here,
 * jvps in jvp.ts, vmaps in vmap.ts); returns the undo.
 */
export function setAside(stack: { level: number }[], level: number): () => void {
  const i = stack.findIndex((entry) => entry.level >= level);
  if (i < 0) return () => undefined;
  const above = stack.splice(i);
  return () => void stack.push(...above);
}

/**
 * @internal Run `fn` with every transformation at `level` or above (opened inside it) set aside: a
 * JVP or batching rule's work belongs to the transformations outside its own, not to those inside.
 */
export function outside<T>(level: number, fn: () => T): T {
  const undo = [setAside(activeTapes, level), forward.setAside(level), batching.setAside(level)];
  try {
    return fn();
  } finally {
    for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
  }
}

/**
 * @internal Set by jit.ts while it traces a function: sees every primitive `bind` ran (`batched`: a
 * vmap's batching rule ran in its place, and the primitives of that rule were seen before it).
 */
export const bindHook: { record: ((prim: Prim, inputs: readonly Tensor[], params: PrimParams[Prim], out: Tensor, batched: boolean) => void) | null } = { record: null };

/** True while some `grad`/`vjp` is recording. */
export function isTracing(): boolean {
  return activeTapes.length > 0;
}

/** Run a primitive on the inputs' backend and record it on the active tapes. */
export function bind<P extends Prim>(prim: P, inputs: readonly Tensor[], params: PrimParams[P]): Tensor {
  checkInputs(prim, inputs);
  const rule = rules[prim];
  const first = inputs[0];
  const storage0 = first?.live(prim);
  const backend = storage0 ? storage0.backend : getBackend();
  const infos: BufferInfo[] = inputs.map((t) => {
    const s = t.live(prim);
    if (s.backend !== backend) {
      throw new Error(`${prim}: inputs live on different backends (${backend.name} and ${s.backend.name}); move them with toBackend()`);
    }
    return { buffer: s.buffer, shape: t.shape, dtype: t.dtype };
  });
  const { shape, dtype } = rule.shape(inputs as never, params as never);
  // Inside vmap, a primitive on batched values runs its batching rule instead (vmap.ts).
  const batched = batching.primitive(prim, inputs, params, shape, dtype);
  let out: Tensor;
  if (batched !== null) {
    out = batched;
  } else if (prim === 'reshape') {
    out = new Tensor(storage0!, shape, dtype);
  } else {
    let size = 1;
    for (const d of shape) size *= d;
    const buffer = backend.run(prim as Exclude<P, 'reshape'>, infos, params as PrimParams[Exclude<P, 'reshape'>], { shape, dtype });
    out = new Tensor(newStorage(backend, buffer, size, dtype), shape, dtype);
  }
  if (debugNans.on && batched === null) checkFinite(prim, inputs, out);
  if (bindHook.record !== null) bindHook.record(prim, inputs, params, out, batched !== null);
  // A primitive without a VJP (comparisons, integer and bit ops, argmax, random bits) passes no
  // gradient: its output is not tracked and nothing of it is kept (it would keep its inputs and
  // output alive for a backward pass that never reads them).
  if (rule.vjp) {
    for (const tape of activeTapes) {
      if (inputs.some((t) => tape.tracked.has(t.id))) {
        const keep = savedBy(rule.saves, inputs, out);
        tape.entries.push({ prim, inputs: [...inputs], output: out, params, saved: keep });
        tape.tracked.add(out.id);
        for (const t of keep) tape.saved.add(t);
      }
    }
  }
  forward.propagate(prim, inputs, params, out);
  return out;
}

/** A new tensor sharing `x`'s buffer that no tape tracks: gradients do not flow through it. */
export function stopGradient(x: Tensor): Tensor {
  const batched = batching.stop(x);
  if (batched !== null) return batched;
  return new Tensor(x.live('stopGradient'), x.shape, x.dtype);
}

function alias(x: Tensor): Tensor {
  return bind('reshape', [x], { shape: [...x.shape] });
}

// Numbers are lifted to float32 scalars; registered classes are walked; other values are refused.
const mapTensors = mapDifferentiable;

export type Pullback<In, Out> = (cotangent: Out) => In;

/**
 * Evaluate `f(...primals)` and return its output with a pullback that maps an output cotangent (a
 * pytree shaped like the output) to cotangents for every primal (pytrees shaped like the primals;
 * zeros where the output does not depend on a tensor). Call the pullback inside the same `tidy`
 * as the `vjp` call: it reads the intermediates the forward pass kept.
 */
export function vjp<A extends unknown[], Out>(f: (...args: A) => Out, ...primals: A): [Out, Pullback<A, Out>] {
  return record(f, primals, null);
}

/**
 * `vjp`, with an option for a pullback that is called once: given `keepAlive` (the tensors the
 * caller returns), its backward pass frees each forward value of the current scope as soon as its
 * last reader is done, instead of when the scope ends, so the backward pass does not hold the whole
 * forward pass until its last step. Only tensors the enclosing `tidy` would free anyway are freed.
 */
function record<A extends unknown[], Out>(f: (...args: A) => Out, primals: A, keepAlive: ((t: Tensor) => boolean) | null): [Out, Pullback<A, Out>] {
  const tape = new Tape();
  const inputs = primals.map((p) => mapTensors(p, alias)) as A;
  for (const t of treeTensors(inputs)) tape.tracked.add(t.id);
  activeTapes.push(tape);
  let out: Out;
  try {
    out = f(...inputs);
  } finally {
    activeTapes.splice(activeTapes.indexOf(tape), 1);
  }
  const outLeaves = treeTensors(out);
  const pullback = (cotangent: Out): A => {
    const ctLeaves = treeTensors(cotangent);
    if (ctLeaves.length !== outLeaves.length) {
      throw new Error(`vjp: the cotangent has ${ctLeaves.length} tensors but the output has ${outLeaves.length}`);
    }
    const grads = backward(tape, outLeaves, ctLeaves, keepAlive);
    return mapTensors(inputs, (t) => {
      const g = grads.get(t.id);
      return g ?? bind('broadcast', [zeroScalar(t)], { shape: [...t.shape] });
    });
  };
  return [out, pullback];
}

/**
 * A zero scalar of `like`'s dtype on its backend. Only the shape and dtype are read: `like` may be an
 * alias the backward pass has already freed (an argument that reaches the loss only through
 * primitives without a VJP), and then the zeros go to the current backend.
 */
function zeroScalar(like: Tensor): Tensor {
  const backend = like.disposed ? getBackend() : like.live('zeros').backend;
  const arr = like.dtype === 'float32' ? new Float32Array(1) : like.dtype === 'int32' ? new Int32Array(1) : like.dtype === 'uint32' ? new Uint32Array(1) : new Uint8Array(1);
  return new Tensor(newStorage(backend, backend.upload(arr, like.dtype), 1, like.dtype), [], like.dtype);
}

function backward(tape: Tape, outs: readonly Tensor[], cts: readonly Tensor[], keepAlive: ((t: Tensor) => boolean) | null): Map<number, Tensor> {
  const grads = new Map<number, Tensor>();
  // Holds count how many map slots point at a tensor, so intermediate cotangents can be freed as
  // soon as they are consumed when no outer tape needs them.
  const holds = new Map<Tensor, number>();
  const userOwned = new Set<Tensor>(cts);
  const canFree = activeTapes.length === 0;
  const hold = (t: Tensor) => holds.set(t, (holds.get(t) ?? 0) + 1);
  const release = (t: Tensor) => {
    const n = (holds.get(t) ?? 0) - 1;
    if (n > 0) holds.set(t, n);
    else {
      holds.delete(t);
      if (canFree && !userOwned.has(t)) t.dispose();
    }
  };
  const accumulate = (id: number, ct: Tensor) => {
    const prev = grads.get(id);
    if (prev === undefined) {
      grads.set(id, ct);
      hold(ct);
    } else {
      const sum = bind('add', [prev, ct], {});
      grads.set(id, sum);
      hold(sum);
      release(prev);
      if (!holds.has(ct) && canFree && !userOwned.has(ct)) ct.dispose();
    }
  };
  outs.forEach((o, i) => {
    const ct = cts[i]!;
    if (ct.dtype !== o.dtype || ct.shape.length !== o.shape.length || ct.shape.some((d, j) => d !== o.shape[j])) {
      throw new Error(`vjp: cotangent ${i} is ${ct.dtype}[${ct.shape}] but the output is ${o.dtype}[${o.shape}]`);
    }
    if (tape.tracked.has(o.id)) accumulate(o.id, ct);
  });
  // Where each saved value is read for the last time (the lowest entry index that saves it).
  const lastReader = canFree && keepAlive ? new Map<Tensor, number>() : null;
  if (lastReader) {
    tape.entries.forEach((e, i) => {
      for (const t of e.saved) if (!lastReader.has(t)) lastReader.set(t, i);
    });
  }
  const done = (e: Entry, i: number) => {
    for (const t of e.saved) {
      if (lastReader!.get(t) === i && ownedByScope(t) && !keepAlive!(t) && !holds.has(t) && !userOwned.has(t)) t.dispose();
    }
  };
  for (let i = tape.entries.length - 1; i >= 0; i--) {
    const e = tape.entries[i]!;
    if (e.prim === null) {
      const gs = e.outputs.map((o) => grads.get(o.id));
      if (gs.some((g) => g !== undefined)) {
        for (const o of e.outputs) grads.delete(o.id);
        const filled = gs.map((g, j) => g ?? bind('broadcast', [zeroScalar(e.outputs[j]!)], { shape: [...e.outputs[j]!.shape] }));
        const wanted = e.inputs.map((inp) => tape.tracked.has(inp.id));
        const inCts = tidy(() => e.pullback(filled, wanted));
        e.inputs.forEach((inp, j) => {
          const ct = inCts[j];
          if (!ct) return;
          if (wanted[j]) accumulate(inp.id, ct);
          else if (canFree) ct.dispose();
        });
        gs.forEach((g, j) => (g !== undefined ? release(g) : canFree && filled[j]!.dispose()));
      }
      if (lastReader) done(e, i);
      continue;
    }
    const g = grads.get(e.output.id);
    if (g === undefined) {
      if (lastReader) done(e, i);
      continue;
    }
    grads.delete(e.output.id);
    const rule = rules[e.prim];
    if (rule.vjp) {
      const inCts = rule.vjp(g, e.inputs as never, e.output, e.params as never);
      e.inputs.forEach((inp, j) => {
        const thunk = inCts[j];
        // In a scope, so a rule's temporaries are freed at once rather than when the whole step ends.
        if (thunk && tape.tracked.has(inp.id)) accumulate(inp.id, tidy(thunk));
      });
    }
    release(g);
    if (lastReader) done(e, i);
  }
  return grads;
}

/**
 * `customVjp(fn, backward)` (`jax.custom_vjp`): `fn` as it is, but under `grad` it is one step of
 * the tape whose pullback is `backward(args, cotangents, wanted)` instead of the pullback of the
 * primitives `fn` runs. Those primitives are not recorded, so nothing `fn` makes is kept for the
 * backward pass but its arguments. `backward` gets the arguments, one cotangent per tensor leaf of
 * the result (in `treeMap` order; zeros where none flowed) and, per tensor leaf of the arguments,
 * whether its cotangent is needed; it returns one cotangent per tensor leaf of the arguments (null
 * allowed where not wanted). Write it with ordinary ops: under an outer `grad` it is recorded, so gradients of
 * gradients work. Arguments and result are pytrees; non-tensor leaves pass through. Under `jvp`
 * (forward mode has no use for a pullback) and on `vmap`'s batched values, `fn` runs as it is and is
 * differentiated through its primitives, by any tape too.
 */
export function customVjp<A extends unknown[], R>(
  fn: (...args: A) => R,
  backward: (args: A, cotangents: readonly Tensor[], wanted: readonly boolean[]) => readonly (Tensor | null)[],
): (...args: A) => R {
  return (...args: A): R => {
    const inputs = treeLeaves(args);
    if (!activeTapes.some((tape) => inputs.some((x) => tape.tracked.has(x.id))) || forward.tracks(inputs) || batching.tracks(inputs)) return fn(...args);
    // Forward with recording suspended: the scope frees every intermediate, as no tape needs them.
    const suspended = activeTapes.splice(0);
    let out: R;
    try {
      out = tidy(() => fn(...args));
    } finally {
      activeTapes.push(...suspended);
    }
    // Fresh identities for the outputs, so an output that is one of the inputs gets its own entry.
    const outputs: Tensor[] = [];
    const result = treeMap(out, (t) => {
      const fresh = new Tensor(t.live('customVjp'), t.shape, t.dtype);
      outputs.push(fresh);
      return fresh;
    });
    const pullback = (cts: readonly Tensor[], wanted: readonly boolean[]): readonly (Tensor | null)[] => {
      const got = backward(args, cts, wanted);
      if (got.length !== inputs.length) throw new Error(`customVjp: backward returned ${got.length} cotangents for ${inputs.length} tensor arguments`);
      got.forEach((g, i) => {
        const x = inputs[i]!;
        if (g === null && !wanted[i]) return;
        if (!(g instanceof Tensor) || g.dtype !== x.dtype || g.shape.length !== x.shape.length || g.shape.some((d, j) => d !== x.shape[j])) {
          throw new Error(`customVjp: backward's cotangent ${i} is ${g instanceof Tensor ? `${g.dtype}[${g.shape}]` : String(g)} but the argument is ${x.dtype}[${x.shape}]`);
        }
      });
      return got;
    };
    const entry: CustomEntry = { prim: null, inputs, outputs, saved: inputs, pullback };
    for (const tape of activeTapes) {
      if (inputs.some((x) => tape.tracked.has(x.id))) {
        tape.entries.push(entry);
        for (const o of outputs) tape.tracked.add(o.id);
        for (const x of inputs) tape.saved.add(x);
      }
    }
    return result;
  };
}

/**
 * `checkpoint(fn)` (`jax.checkpoint`, PyTorch's `torch.utils.checkpoint`): the same function, but
 * under `grad` its intermediates are not kept for the backward pass; the backward pass runs `fn`
 * again from its inputs and pulls back through that. Memory for compute: wrap a block whose
 * intermediates are large next to its inputs (a network block). Gradients are identical (the
 * recomputation runs the same kernels on the same values; randomness inside `fn` comes from
 * explicit keys, so it repeats too), and gradients of gradients work (the recomputation is recorded
 * by any outer tape). Arguments and result are pytrees; non-tensor leaves pass through.
 */
export function checkpoint<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  return customVjp(fn, (args, cts) =>
    tidy(() => {
      const [out, pb] = vjp((...leaves: Tensor[]) => fn(...replaceTensors(args, leaves)), ...treeLeaves(args));
      return pb(replaceTensors(out, [...cts]));
    }),
  );
}

/** `tree` with its tensor leaves replaced, in `treeLeaves` order, by `leaves`. */
function replaceTensors<T>(tree: T, leaves: readonly Tensor[]): T {
  let i = 0;
  return treeMap(tree, () => leaves[i++]!);
}

export interface GradOptions {
  /** `f` returns `[loss, aux]`; `aux` is passed through undifferentiated. */
  hasAux?: boolean;
}

function checkScalar(op: string, v: unknown): Tensor {
  if (!(v instanceof Tensor)) throw new Error(`${op}: the function must return a scalar tensor (or [loss, aux] with hasAux)`);
  if (v.size !== 1) throw new Error(`${op}: the function must return a scalar, got shape [${v.shape}]; reduce it with sum or mean`);
  if (v.dtype !== 'float32') throw new Error(`${op}: the function must return a float32 scalar, got ${v.dtype}`);
  return v;
}

/**
 * `valueAndGrad(f)(x, ...rest)` returns `[f(x, ...rest), ∇ₓf]`, the gradient a pytree shaped like
 * `x`. Outside any other transformation, the forward intermediates are freed before it returns.
 */
export function valueAndGrad<X, R extends unknown[], V>(
  f: (x: X, ...rest: R) => V,
  options: GradOptions = {},
): (x: X, ...rest: R) => [V, X] {
  const op = 'valueAndGrad';
  const run = (x: X, rest: R): [V, X] => {
    // Only the loss is pulled back: `aux` gets no cotangent at all (a zero cotangent would still run
    // its backward pass, and 0 · ∞ there — e.g. aux = sqrt(x) at 0 — would put NaN into the gradient).
    let out!: V;
    let returned: Set<Tensor> | null = null;
    const keepAlive = (t: Tensor) => (returned ??= new Set(treeTensors(out))).has(t);
    const [loss, pullback] = record((xx: X) => {
      out = f(xx, ...rest);
      return checkScalar(op, options.hasAux ? (out as unknown as unknown[])[0] : out);
    }, [x], keepAlive);
    const one = bind('broadcast', [onesScalar(loss)], { shape: [...loss.shape] });
    const [gx] = pullback(one);
    return [out, gx];
  };
  return (x: X, ...rest: R) => (isTracing() ? run(x, rest) : tidy(() => run(x, rest) as never));
}

/** `grad(f)(x, ...rest)`: the gradient of a scalar `f` with respect to its first argument. */
export function grad<X, R extends unknown[]>(f: (x: X, ...rest: R) => unknown, options: GradOptions = {}): (x: X, ...rest: R) => X {
  const vg = valueAndGrad(f, options);
  return (x: X, ...rest: R) => {
    if (isTracing()) return vg(x, ...rest)[1];
    return tidy(() => vg(x, ...rest)[1] as never);
  };
}

function onesScalar(like: Tensor): Tensor {
  const backend = like.live('ones').backend;
  return new Tensor(newStorage(backend, backend.upload(new Float32Array([1]), 'float32'), 1, 'float32'), [], 'float32');
}

export { dispose };
