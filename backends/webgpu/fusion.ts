/**
 * Element-wise fusion: chains of element-wise primitives (unary and binary math, comparisons, bit
 * ops, `where`, casts, and `broadcast`, a copy through stride-0 axes) become one generated kernel
 * instead of one dispatch each.
 *
 * The design.
 * - Lazy values. An element-wise primitive dispatches nothing: it returns a `LazyHandle` holding an
 *   expression (a small DAG of the primitives' IR expressions, core/elementwise.ts) over materialised
 *   buffers (leaves) and scalar constants. At dispatch the DAG becomes one IR expression (core's
 *   `compose`: each primitive's inputs replaced by its operands' expressions, rounded where the
 *   unfused chain would have stored them), rendered to WGSL by `render.ts` like any other. A lazy input of another element-wise primitive is inlined into the
 *   new expression, so a lazy value never refers to another lazy value: every leaf is a real buffer.
 * - Bounds. An expression reads at most `maxInputs` distinct buffers (7, so that with the output it
 *   fits the guaranteed 8 storage buffers per stage) and has at most `maxNodes` (32) operations and
 *   constants. When composing would exceed them, the largest lazy input is materialised first.
 *   A lazy input is only inlined where it costs no extra work or index arithmetic: when it is read in
 *   its own shape (no reshape in between; leading 1s aside) and is either as large as the output or a
 *   single element. Otherwise (reshaped, or broadcast from a smaller shape) it is materialised and read
 *   as a buffer, so broadcasting never repeats an expression's work per output element.
 * - Materialisation. A lazy value is computed (one dispatch of its whole expression, pipeline cached
 *   by the expression's structure, dtypes and the inputs' broadcast layout; values and constants go in
 *   the uniform parameters) when a non-element-wise kernel consumes it, when it is read, on `flush` and
 *   `sync`, at the end of the current task (the engine's end-of-task submit), or when a bound is hit.
 *   (`flush` computes every live lazy value, so a flush inside `tidy` also computes intermediates the
 *   scope would have freed unread.)
 *   A lazy value that is freed before any of that is never computed (`counters.droppedOps`). An
 *   inlined value that is later materialised on its own is computed twice (cheap element-wise work,
 *   traded for memory traffic, as XLA does); the end-of-task rule bounds how long an expression keeps
 *   its inputs alive.
 * - Memory. A lazy value holds one reference on each leaf's slab (`Engine.retain`), so the core may
 *   free its inputs right after the call; the references are given back after the fused dispatch is
 *   recorded (or when the value is freed uncomputed). The engine's rule for buffers freed while the
 *   pending encoder may read them applies unchanged: a leaf freed this way only returns to the pool of
 *   kernel outputs, which later passes of the same encoder write after the fused kernel has read it.
 * - Scalars. A one-element upload (how the core lifts numbers: `mul(x, 0.5)`) becomes a constant in
 *   the uniform parameters of the kernels that use it; it is only uploaded into a buffer if a
 *   non-element-wise kernel or a read needs it.
 * - Rounding. Every primitive's value passes a `round` node (or a `bitcast` where a consumer reads its
 *   words as another dtype, as after a bitcast primitive), converted exactly as a store and a load
 *   between two dispatches would, so integer and bit results (the PRNG) are the same bits as unfused.
 *   For floats the one thing fusion could change is contraction: a compiler may turn `a * b` in one
 *   primitive and `+ c` in the next into an FMA (WGSL allows it, and GPU drivers do it), which skips
 *   the product's rounding and can move the result by more than an ulp where the sum cancels. So the
 *   WGSL of a `round` node XORs the word with a uniform that is always 0 (`barrier`): the compiler
 *   cannot see through it, so no operation is contracted across primitive boundaries and a fused
 *   kernel computes exactly what the separate dispatches compute (the tests check fused against
 *   unfused bit for bit). Contraction inside one primitive's expression is as before.
 */
import { expr as ir, sizeOf, type BufferInfo, type DType, type Expr, type Shape } from '../../core/index.js';
import { expressionKey, layoutOf, offsetsSource } from './elementwise.js';
import type { Engine, GpuHandle, Slab } from './engine.js';
import { renderWgsl } from './render.js';
import { bindings, linearGroups, linearMain, uniformWords } from './wgsl.js';

interface Leaf {
  readonly kind: 'leaf';
  readonly slab: Slab;
  /** The shape the buffer is read as; it broadcasts to the expression's shape. */
  readonly shape: Shape;
}

interface Constant {
  readonly kind: 'const';
  /** The value's 32-bit word. */
  readonly bits: number;
}

interface Operation {
  readonly kind: 'op';
  /** The primitive's expression; its input k is `args[k]`. */
  readonly expr: Expr;
  readonly args: readonly Node[];
}

type Node = Leaf | Constant | Operation;

/** A value not computed yet (or computed since: then `slab` is set and `root` is null). */
export interface LazyHandle {
  slab: Slab | null;
  root: Operation | Constant | null;
  /** The shape the expression is computed over. */
  readonly shape: Shape;
  /** Its distinct leaves; the handle holds one reference on each leaf's slab until computed or freed. */
  leaves: readonly Leaf[];
}

/** What the core holds when fusion is on. */
export type Handle = GpuHandle | LazyHandle;

export const isLazy = (h: Handle): h is LazyHandle => 'root' in h;

export interface FusionLimits {
  readonly maxInputs: number;
  readonly maxNodes: number;
}

const stripLeadingOnes = (s: Shape): Shape => {
  let i = 0;
  while (i < s.length && s[i] === 1) i++;
  return s.slice(i);
};
const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);
const sameLeaf = (a: Leaf, b: Leaf): boolean => a.slab === b.slab && sameShape(a.shape, b.shape);

/** The nodes under `root`, each once, operands before their users. */
function topological(root: Node): Node[] {
  const seen = new Set<Node>();
  const order: Node[] = [];
  const visit = (node: Node): void => {
    if (seen.has(node)) return;
    seen.add(node);
    if (node.kind === 'op') for (const a of node.args) visit(a);
    order.push(node);
  };
  visit(root);
  return order;
}

function distinctLeaves(nodes: readonly Node[]): Leaf[] {
  const leaves: Leaf[] = [];
  for (const n of nodes) if (n.kind === 'leaf' && !leaves.some((l) => sameLeaf(l, n))) leaves.push(n);
  return leaves;
}

const countNodes = (nodes: readonly Node[]): number => nodes.reduce((c, n) => c + (n.kind === 'leaf' ? 0 : 1), 0);
const countOps = (nodes: readonly Node[]): number => nodes.reduce((c, n) => c + (n.kind === 'op' ? 1 : 0), 0);

/** The runtime state of fusion: the lazy values not computed yet. */
export class Fuser {
  /** Uncomputed values with at least one operation (constants are not pending work). */
  private readonly pending = new Set<LazyHandle>();
  readonly limits: FusionLimits;

  constructor(private readonly e: Engine, limits: Partial<FusionLimits> = {}) {
    this.limits = {
      maxInputs: Math.max(3, Math.min(limits.maxInputs ?? 7, e.limits.maxStorageBuffersPerShaderStage - 1)),
      maxNodes: Math.max(4, limits.maxNodes ?? 32),
    };
    e.setEndOfTask(() => this.materialiseAll());
  }

  /** Values waiting to be computed. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** A one-element value as a constant word. */
  constant(bits: number): LazyHandle {
    return { slab: null, root: { kind: 'const', bits: bits >>> 0 }, shape: [], leaves: [] };
  }

  /** An element-wise primitive: a new lazy value (`expr` null: the input's bits, shared). */
  apply(expr: Expr | null, inputs: readonly BufferInfo[], outShape: Shape): Handle {
    if (expr === null) return this.sameBits(inputs[0]!.buffer as Handle);
    const n = sizeOf(outShape);
    this.e.assertFits(n * 4);
    const candidates: LazyHandle[] = [];
    for (const x of inputs) {
      const h = x.buffer as Handle;
      if (!isLazy(h) || h.slab !== null || h.root?.kind !== 'op') continue;
      const size = sizeOf(h.shape);
      const inline = sameShape(stripLeadingOnes(h.shape), stripLeadingOnes(x.shape)) && (size === n || size === 1);
      if (inline) candidates.push(h);
      else this.materialise(h);
    }
    for (;;) {
      const root: Operation = { kind: 'op', expr, args: inputs.map((x) => this.operand(x)) };
      const nodes = topological(root);
      const leaves = distinctLeaves(nodes);
      const waiting = candidates.filter((h) => h.slab === null);
      if ((leaves.length <= this.limits.maxInputs && countNodes(nodes) <= this.limits.maxNodes) || waiting.length === 0) {
        return this.track(root, outShape, leaves);
      }
      const sizes = waiting.map((h) => countNodes(topological(h.root!)));
      this.materialise(waiting[sizes.indexOf(Math.max(...sizes))]!);
    }
  }

  /** A buffer holding the value, computing it now if needed. */
  materialise(h: Handle): GpuHandle {
    if (!isLazy(h)) return h;
    if (h.slab !== null) return { slab: h.slab };
    const root = h.root;
    if (root === null) throw new Error('webgpu backend: a freed tensor was used');
    const out = root.kind === 'const' ? this.e.upload(Uint32Array.of(root.bits)) : this.e.allocOutput(sizeOf(h.shape) * 4);
    if (root.kind === 'op') this.dispatch(root, h.shape, out);
    h.slab = out.slab;
    h.root = null;
    this.release(h);
    return out;
  }

  free(h: LazyHandle): void {
    if (h.slab !== null) {
      this.e.free({ slab: h.slab });
      return;
    }
    if (h.root?.kind === 'op') this.e.counters.droppedOps++;
    h.root = null;
    this.release(h);
  }

  /** Compute every pending value (flush, sync, end of task). */
  materialiseAll(): void {
    for (const h of [...this.pending]) this.materialise(h);
  }

  private operand(x: BufferInfo): Node {
    const h = x.buffer as Handle;
    if (isLazy(h) && h.slab === null) {
      if (h.root === null) throw new Error('webgpu backend: a freed tensor was used');
      return h.root;
    }
    return { kind: 'leaf', slab: h.slab!, shape: x.shape };
  }

  private sameBits(h: Handle): Handle {
    if (!isLazy(h)) return this.e.alias(h);
    if (h.slab !== null) return this.e.alias({ slab: h.slab });
    if (h.root === null) throw new Error('webgpu backend: a freed tensor was used');
    return this.track(h.root, h.shape, h.leaves);
  }

  private track(root: Operation | Constant, shape: Shape, leaves: readonly Leaf[]): LazyHandle {
    for (const l of leaves) this.e.retain(l.slab);
    const h: LazyHandle = { slab: null, root, shape, leaves };
    if (root.kind === 'op') {
      this.pending.add(h);
      this.e.scheduleFlush();
    }
    return h;
  }

  private release(h: LazyHandle): void {
    this.pending.delete(h);
    const leaves = h.leaves;
    h.leaves = [];
    for (const l of leaves) this.e.free({ slab: l.slab });
  }

  /** One kernel for the whole expression into `out`. */
  private dispatch(root: Operation, shape: Shape, out: GpuHandle): void {
    const n = sizeOf(shape);
    const nodes = topological(root);
    const leaves = distinctLeaves(nodes);
    const layout = layoutOf(leaves.map((l) => l.shape), shape);
    const barrierAt = layout.params.length;
    const params = [...layout.params, 0];
    // Inputs of the composed expression: the leaves (buffers), then the constants (uniform words).
    const constants = nodes.filter((x): x is Constant => x.kind === 'const');
    const inputIndex = (x: Leaf | Constant): number => (x.kind === 'leaf' ? leaves.findIndex((l) => sameLeaf(l, x)) : leaves.length + constants.indexOf(x));
    const constantAt = params.length;
    for (const c of constants) params.push(c.bits);
    const ids = new Map<Node, number>(nodes.map((x, i) => [x, i]));
    const tokens = nodes.map((x) => (x.kind === 'leaf' ? `L${inputIndex(x)}` : x.kind === 'const' ? 'K' : `${expressionKey(x.expr)}(${x.args.map((a) => ids.get(a)!).join(',')})`));
    const words = uniformWords(params.length);
    this.e.counters.fusedOps += countOps(nodes);
    this.e.dispatch({
      key: `fused:${layout.modes.join('')}${layout.rank}:${words}:${barrierAt}:${tokens.join(';')}`,
      source: () => {
        const r = renderWgsl(composed(root, inputIndex), (k) => (k < leaves.length ? `in${k}[o${k}]` : `p(${constantAt + k - leaves.length}u)`));
        const body = [offsetsSource(layout.modes, layout.rank), `  let barrier = p(${barrierAt}u);`, r.statements, `  out[i] = ${r.word};`].join('\n');
        return `${bindings(leaves.length, words)}\n${r.helpers}\n${linearMain(body)}`;
      },
      inputs: leaves.map((l) => l.slab.buffer),
      output: out.slab.buffer,
      params,
      words,
      groups: linearGroups(n, this.e.limits.maxComputeWorkgroupsPerDimension),
    });
  }
}

/**
 * The DAG under `root` as one IR expression: each primitive's expression with its inputs replaced by
 * its operands' (rounded as a store would, `compose`); a leaf or constant is input `inputIndex(x)`,
 * read as the dtype its consumer reads it as. An operand a consumer reads as another dtype (after a
 * bitcast primitive, which shares the words) is bitcast after its rounding.
 */
function composed(root: Operation, inputIndex: (x: Leaf | Constant) => number): Expr {
  const done = new Map<Operation, Expr>();
  const build = (op: Operation): Expr => {
    let e = done.get(op);
    if (e) return e;
    const wanted = inputDtypes(op.expr);
    const operands = op.args.map((a, k): Expr => {
      const t = wanted[k] ?? 'uint32';
      if (a.kind !== 'op') return ir.input(inputIndex(a), t);
      const inner = ir.round(build(a));
      return inner.dtype === t ? inner : ir.bitcast(inner, t);
    });
    e = ir.substitute(op.expr, operands);
    done.set(op, e);
    return e;
  };
  return build(root);
}

/** The dtype each input of a primitive's expression is read as. */
function inputDtypes(e: Expr): DType[] {
  const types: DType[] = [];
  for (const x of ir.topological(e)) if (x.op === 'input') types[x.value] = x.dtype;
  return types;
}
