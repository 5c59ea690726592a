/**
 * Reverse-mode autodiff on a tape, micrograd-style, with gradients of gradients.
 *
 * `bind` runs one primitive and, for every active tape that tracks one of its inputs, appends an
 * entry. `vjp(f, ...primals)` opens a tape, tracks fresh aliases of the primals (fresh identities keep
 * nested derivatives apart: no perturbation confusion), runs `f`, and closes the tape. The pullback
 * walks the entries backwards, applying each primitive's VJP rule from `rules.ts`. Those rules are
 * written with ordinary ops, so when an outer tape is still open the backward pass is itself
 * recorded: that is how `grad(grad(f))` works.
 */
import type { PrimParams, Prim } from './primitives.js';
import { rules } from './rules.js';
import { getBackend, newStorage, Tensor, tapeNeeds, tidy, treeTensors, dispose } from './tensor.js';
import type { BufferInfo } from './backend.js';

interface Entry {
  readonly prim: Prim;
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  readonly params: PrimParams[Prim];
}

class Tape {
  readonly tracked = new Set<number>();
  readonly entries: Entry[] = [];
  /** Every tensor an entry holds (inputs and outputs): what the backward pass will read. */
  readonly saved = new Set<Tensor>();
}

const activeTapes: Tape[] = [];
tapeNeeds.has = (t) => activeTapes.some((tape) => tape.saved.has(t));

/** True while some `grad`/`vjp` is recording. */
export function isTracing(): boolean {
  return activeTapes.length > 0;
}

/** Run a primitive on the inputs' backend and record it on the active tapes. */
export function bind<P extends Prim>(prim: P, inputs: readonly Tensor[], params: PrimParams[P]): Tensor {
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
  const { shape, dtype } = rule.shape(inputs, params as never);
  let out: Tensor;
  if (prim === 'reshape') {
    out = new Tensor(storage0!, shape, dtype);
  } else {
    let size = 1;
    for (const d of shape) size *= d;
    const buffer = backend.run(prim as Exclude<P, 'reshape'>, infos, params as PrimParams[Exclude<P, 'reshape'>], { shape, dtype });
    out = new Tensor(newStorage(backend, buffer, size, dtype), shape, dtype);
  }
  for (const tape of activeTapes) {
    if (inputs.some((t) => tape.tracked.has(t.id))) {
      tape.entries.push({ prim, inputs: [...inputs], output: out, params });
      tape.tracked.add(out.id);
      for (const t of inputs) tape.saved.add(t);
      tape.saved.add(out);
    }
  }
  return out;
}

/** A new tensor sharing `x`'s buffer that no tape tracks: gradients do not flow through it. */
export function stopGradient(x: Tensor): Tensor {
  return new Tensor(x.live('stopGradient'), x.shape, x.dtype);
}

function alias(x: Tensor): Tensor {
  return bind('reshape', [x], { shape: [...x.shape] });
}

function mapTensors<T>(tree: T, fn: (t: Tensor) => Tensor): T {
  if (tree instanceof Tensor) return fn(tree) as T;
  if (Array.isArray(tree)) return tree.map((x) => mapTensors(x, fn)) as T;
  if (tree !== null && typeof tree === 'object' && Object.getPrototypeOf(tree) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(tree)) out[k] = mapTensors((tree as Record<string, unknown>)[k], fn);
    return out as T;
  }
  return tree;
}

export type Pullback<In, Out> = (cotangent: Out) => In;

/**
 * Evaluate `f(...primals)` and return its output with a pullback that maps an output cotangent (a
 * pytree shaped like the output) to cotangents for every primal (pytrees shaped like the primals;
 * zeros where the output does not depend on a tensor). Call the pullback inside the same `tidy`
 * as the `vjp` call: it reads the intermediates the forward pass kept.
 */
export function vjp<A extends unknown[], Out>(f: (...args: A) => Out, ...primals: A): [Out, Pullback<A, Out>] {
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
    const grads = backward(tape, outLeaves, ctLeaves);
    return mapTensors(inputs, (t) => {
      const g = grads.get(t.id);
      return g ?? bind('broadcast', [zeroScalar(t)], { shape: [...t.shape] });
    });
  };
  return [out, pullback];
}

function zeroScalar(like: Tensor): Tensor {
  const backend = like.live('zeros').backend;
  const arr = like.dtype === 'float32' ? new Float32Array(1) : like.dtype === 'int32' ? new Int32Array(1) : like.dtype === 'uint32' ? new Uint32Array(1) : new Uint8Array(1);
  return new Tensor(newStorage(backend, backend.upload(arr, like.dtype), 1, like.dtype), [], like.dtype);
}

function backward(tape: Tape, outs: readonly Tensor[], cts: readonly Tensor[]): Map<number, Tensor> {
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
  for (let i = tape.entries.length - 1; i >= 0; i--) {
    const e = tape.entries[i]!;
    const g = grads.get(e.output.id);
    if (g === undefined) continue;
    grads.delete(e.output.id);
    const rule = rules[e.prim];
    if (rule.vjp) {
      const inCts = rule.vjp(g, e.inputs, e.output, e.params as never);
      e.inputs.forEach((inp, j) => {
        const thunk = inCts[j];
        if (thunk && tape.tracked.has(inp.id)) accumulate(inp.id, thunk());
      });
    }
    release(g);
  }
  return grads;
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
    const [loss, pullback] = vjp((xx: X) => {
      out = f(xx, ...rest);
      return checkScalar(op, options.hasAux ? (out as unknown as unknown[])[0] : out);
    }, x);
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
