/**
 * The primitive set: every op in `ops.ts` is a composition of these. A backend implements exactly
 * these (except `reshape`, which only relabels a buffer and never reaches a backend). The tables in
 * `rules.ts` and in each backend are typed `{ [P in ...]: ... }`, so a primitive without a rule or a
 * kernel is a compile error.
 *
 * Why more than the ~45 of jax-js: some ops that could be compositions are primitives because a
 * composition would be less accurate or much slower, and every backend can do them in one kernel:
 * - `expm1`, `log1p`: the posterior (Eqs. 11-15) needs them accurate near 0, where exp(x) − 1 and
 *   log(1 + x) lose every digit; `sigmoid` and `tanh`: stable in both tails in one pass (as
 *   compositions of exp they overflow or cancel at large |x|); `erf`, `erfinv`: exact GELU and the
 *   inverse-CDF normal sampler (JAX's construction), with no closed form in the others.
 * - `abs`, `sign`: one instruction each in every backend; as where(x < 0, …) they would cost a
 *   comparison, a select and a temporary per call, in the hottest loops (losses, clipping).
 * - `argmax`, `cumsum`: reductions with a position or a scan, which no element-wise composition
 *   expresses without an O(n²) intermediate.
 * - `im2col`/`col2im` (instead of a conv primitive): conv2d is patches + matmul, its VJPs are
 *   matmuls and the adjoint scatter, so a backend needs no convolution kernel of its own.
 * - `winogradIn`/`winogradOut`: the data and output transforms of Winograd's F(m×m, 3×3), m = 2
 *   or 4 (Lavin & Gray 2016), so a 3×3 convolution is 16 (36) batched matmuls with 2.25× (4×) fewer
 *   multiply-adds than im2col's; each is linear, and its VJP is the same primitive with `adjoint` flipped. As
 *   compositions of slices and adds they would cost more memory passes than the multiply-adds saved.
 * - `threefry2x32`: the PRNG fused; its definition on uint32 ops is `threefry2x32Ops` in
 *   random.ts, and a test checks every backend's kernel against it bit for bit.
 */
import type { DType } from './dtype.js';
import type { WinogradTile } from './winograd.js';

export const UNARY_PRIMS = [
  'neg', 'exp', 'log', 'expm1', 'log1p', 'sin', 'cos', 'tanh', 'sqrt', 'erf', 'erfinv', 'floor', 'abs', 'sign', 'sigmoid',
] as const;
export type UnaryPrim = (typeof UNARY_PRIMS)[number];

/** Arithmetic with NumPy broadcasting; inputs share a dtype, the output has it too. */
export const BINARY_PRIMS = ['add', 'sub', 'mul', 'div', 'max', 'min', 'pow', 'mod'] as const;
export type BinaryPrim = (typeof BINARY_PRIMS)[number];

/** Bit operations on `uint32`/`int32` (shifts are logical for uint32, arithmetic `>>` for int32). */
export const BITWISE_PRIMS = ['bitand', 'bitor', 'bitxor', 'shl', 'shr'] as const;
export type BitwisePrim = (typeof BITWISE_PRIMS)[number];

export const COMPARE_PRIMS = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const;
export type ComparePrim = (typeof COMPARE_PRIMS)[number];

/** Parameters of each primitive. Shapes are passed explicitly so backends need no shape logic. */
export interface PrimParams {
  neg: {}; exp: {}; log: {}; expm1: {}; log1p: {}; sin: {}; cos: {}; tanh: {}; sqrt: {}; erf: {}; erfinv: {};
  floor: {}; abs: {}; sign: {}; sigmoid: {};
  add: {}; sub: {}; mul: {}; div: {}; max: {}; min: {}; pow: {}; mod: {};
  bitand: {}; bitor: {}; bitxor: {}; shl: {}; shr: {};
  eq: {}; ne: {}; lt: {}; le: {}; gt: {}; ge: {};
  /** where(cond: bool, a, b), broadcasting all three. */
  where: {};
  /** Value conversion (float → int truncates toward zero). */
  cast: { dtype: DType };
  /** Reinterpret the 32 bits (float32 ↔ uint32 ↔ int32). */
  bitcast: { dtype: DType };
  /** Reductions over sorted, distinct axes; the output drops them. */
  sum: { axes: number[] };
  reduceMax: { axes: number[] };
  /** Index of the first maximum along one axis (int32); the axis is dropped. */
  argmax: { axis: number };
  cumsum: { axis: number; reverse: boolean };
  /**
   * Batched matrix product of rank-3 operands: op(a)[b] @ op(b)[b] where op transposes the last two
   * axes when the flag is set. A batch of 1 broadcasts against the other operand's batch.
   */
  matmul: { transA: boolean; transB: boolean };
  /** NHWC patches: x [N,H,W,C] → [N,Ho,Wo,kh·kw·C] (kernel row, kernel column, channel order). */
  im2col: Im2ColParams;
  /** The adjoint of im2col: scatters-and-adds patches back into [N,H,W,C]. */
  col2im: Im2ColParams & { height: number; width: number };
  /**
   * Winograd F(m×m, 3×3) data transform (m = `tile`, α = m + 2). Forward: an image [N, H, W, C] →
   * V [α², N·tH·tW, C]: tile (ty, tx) is the α×α window at rows m·ty − padTop … and columns
   * m·tx − padLeft … (zero outside the image), transformed to Bᵀ d B, entry (a, b) in row α·a + b.
   * `adjoint`: V → [N, H, W, C], the transpose (overlapping tiles add; what falls in the padding is
   * dropped).
   */
  winogradIn: WinogradInParams;
  /**
   * Winograd F(m×m, 3×3) output transform. Forward: M [α², N·tH·tW, C] → [N, m·tH, m·tW, C], each
   * tile Aᵀ M A. `adjoint`: [N, m·tH, m·tW, C] → [α², N·tH·tW, C], the transpose.
   */
  winogradOut: WinogradOutParams;
  transpose: { perm: number[] };
  /** Materialise a broadcast to `shape`. */
  broadcast: { shape: number[] };
  slice: { begin: number[]; size: number[] };
  pad: { before: number[]; after: number[]; value: number };
  concat: { axis: number };
  flip: { axes: number[] };
  /** take along `axis` with int32 indices of any shape: out = x.shape[:axis] + idx.shape + x.shape[axis+1:]. */
  gather: { axis: number };
  /** The adjoint of gather: out has `size` along `axis`, entries with the same index add up. */
  scatterAdd: { axis: number; size: number };
  /**
   * Threefry-2x32 with 20 rounds (Salmon et al. 2011, Random123), elementwise over broadcast uint32
   * inputs (k0, k1, x0, x1). The output has a new leading axis of 2: [y0, y1].
   */
  threefry2x32: {};
  /** Shares the input's buffer under a new shape (never reaches a backend). */
  reshape: { shape: number[] };
}

export interface WinogradInParams {
  /** The output tile m: 2 for F(2×2, 3×3), 4 for F(4×4, 3×3). */
  tile: WinogradTile;
  batch: number;
  /** The image's height and width (unpadded). */
  height: number;
  width: number;
  padTop: number;
  padLeft: number;
  tilesHigh: number;
  tilesWide: number;
  adjoint: boolean;
}

export interface WinogradOutParams {
  /** The output tile m: 2 for F(2×2, 3×3), 4 for F(4×4, 3×3). */
  tile: WinogradTile;
  batch: number;
  tilesHigh: number;
  tilesWide: number;
  adjoint: boolean;
}

export interface Im2ColParams {
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
  outHeight: number;
  outWidth: number;
  dilationHeight: number;
  dilationWidth: number;
}

export type Prim = keyof PrimParams;
export type BackendPrim = Exclude<Prim, 'reshape'>;
