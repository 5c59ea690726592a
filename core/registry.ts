/**
 * The rule registry: the table of shape rules and VJPs (one row per primitive) that `bind` and the
 * tape read, looked up by primitive. The table is written in `rules.ts` with the differentiable ops
 * (so the backward pass can itself be differentiated), and the ops bind primitives through the tape:
 * were the tape to import the rules, the three files would import each other. So the tape reads this
 * slot, and `rules.ts` fills it when it loads (`core/index.ts` imports it, and every entry of the
 * package imports `core/index.ts`). The slot takes only a whole table, typed `{ [P in Prim]: Rule<P> }`,
 * so a primitive without a rule is still a compile error where the table is written.
 */
import type { DType } from './dtype.js';
import type { BinaryPrim, BitwisePrim, ComparePrim, Prim, PrimParams } from './primitives.js';
import type { Tensor } from './tensor.js';

export interface ShapeDType {
  shape: number[];
  dtype: DType;
}

/** One input's cotangent, computed only when called (null where the input has no gradient). */
export type Thunk = (() => Tensor) | null;

/**
 * The tensors a primitive takes, one tuple element per input, so a rule names its inputs without
 * non-null assertions (`bind` passes what the op gave it; the ops give each primitive its arity).
 */
export type InputsOf<P extends Prim> = P extends 'concat'
  ? readonly Tensor[]
  : P extends 'threefry2x32'
    ? readonly [Tensor, Tensor, Tensor, Tensor]
    : P extends 'where'
      ? readonly [Tensor, Tensor, Tensor]
      : P extends BinaryPrim | BitwisePrim | ComparePrim | 'matmul' | 'gather' | 'scatterAdd'
        ? readonly [Tensor, Tensor]
        : readonly [Tensor];

export interface Rule<P extends Prim> {
  shape(inputs: InputsOf<P>, params: PrimParams[P]): ShapeDType;
  /** Absent for primitives without a derivative (comparisons, integer ops, random bits). */
  vjp?(g: Tensor, inputs: InputsOf<P>, out: Tensor, params: PrimParams[P]): Thunk[];
  /**
   * The values `vjp` reads (PyTorch's "saved tensors"): the indices of the inputs whose values it
   * uses, and whether it uses the output's. The tape keeps only these alive for the backward pass;
   * every other input and output may be freed as soon as the forward pass is done with it (a `vjp`
   * may still read the `shape`/`dtype` of any of them). Absent: everything is kept.
   */
  saves?: { readonly inputs: readonly number[]; readonly output: boolean };
}

export type Rules = { [P in Prim]: Rule<P> };

/** Until `rules.ts` has loaded, every lookup says what is missing (a module imported without `core/index.ts`). */
const notLoaded = new Proxy({} as Rules, {
  get(_target, prim) {
    throw new Error(`${String(prim)}: no rules are registered; import the core through core/index.ts (it loads core/rules.ts)`);
  },
});

/** The shape rule and VJP of every primitive (a live binding: `registerRules` replaces it). */
export let rules: Rules = notLoaded;

/** @internal Called once by `rules.ts` when it loads. */
export function registerRules(table: Rules): void {
  rules = table;
}
