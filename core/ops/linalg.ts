/**
 * The user ops, linear algebra and convolution: matmul, conv2d by im2col or Winograd.
 * Each binds primitives (`primitives.ts`) through the tape; the derivative of every primitive is in
 * `rules.ts`, so each op is differentiable. `core/ops.ts` re-exports every family.
 */
import { checkTensor } from '../argument.js';
import type { Im2ColParams, PrimParams } from '../primitives.js';
import { WINOGRAD, type WinogradTile } from '../winograd.js';
import { broadcastShapes, fmt, sizeOf } from '../shape.js';
import { scoped, Tensor } from '../tensor.js';
import { bind, customVjp } from '../trace.js';
import { fromArray } from './creation.js';
import { reshape, broadcastTo, slice, padPrim } from './layout.js';

/** @internal the rank-3 primitive with transpose flags. */
export function matmulPrim(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  return bind('matmul', [a, b], { transA, transB });
}

/**
 * Matrix product with NumPy semantics: `[..., M, K] @ [..., K, N]`, leading axes broadcast; a rank-1
 * operand is a row (left) or column (right) vector.
 */
export const matmul = scoped(function matmul(a: Tensor, b: Tensor): Tensor {
  checkTensor('matmul', 'a', a);
  checkTensor('matmul', 'b', b);
  if (a.rank === 0 || b.rank === 0) throw new Error(`matmul: operands must have rank ≥ 1, got ${fmt(a.shape)} @ ${fmt(b.shape)}`);
  const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]!]) : a;
  const b2 = b.rank === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
  const [m, k] = a2.shape.slice(-2) as [number, number];
  const [k2, n] = b2.shape.slice(-2) as [number, number];
  if (k !== k2) throw new Error(`matmul: inner dimensions differ: ${fmt(a.shape)} @ ${fmt(b.shape)}`);
  const aLead = a2.shape.slice(0, -2);
  const bLead = b2.shape.slice(0, -2);
  let out: Tensor;
  let lead: number[];
  if (bLead.length === 0) {
    // The common layer case: fold every leading axis of a into M.
    lead = aLead;
    out = matmulPrim(reshape(a2, [1, sizeOf(aLead) * m, k]), reshape(b2, [1, k, n]), false, false);
  } else {
    lead = broadcastShapes(`matmul: batch dimensions of ${fmt(a.shape)} @ ${fmt(b.shape)}`, aLead, bLead);
    const batch = sizeOf(lead);
    const as3 = sizeOf(aLead) === batch && aLead.length === lead.length ? reshape(a2, [batch, m, k]) : sizeOf(aLead) === 1 ? reshape(a2, [1, m, k]) : reshape(broadcastTo(a2, [...lead, m, k]), [batch, m, k]);
    const bs3 = sizeOf(bLead) === batch && bLead.length === lead.length ? reshape(b2, [batch, k, n]) : sizeOf(bLead) === 1 ? reshape(b2, [1, k, n]) : reshape(broadcastTo(b2, [...lead, k, n]), [batch, k, n]);
    out = matmulPrim(as3, bs3, false, false);
  }
  const shape = [...lead, m, n];
  if (a.rank === 1) shape.splice(shape.length - 2, 1);
  if (b.rank === 1) shape.splice(shape.length - 1, 1);
  return reshape(out, shape);
});

export const dot = scoped(function dot(a: Tensor, b: Tensor): Tensor {
  checkTensor('dot', 'a', a);
  checkTensor('dot', 'b', b);
  return matmul(a, b);
});

export type Padding = 'same' | 'valid' | number | readonly [number, number] | readonly [readonly [number, number], readonly [number, number]];

export interface Conv2dOptions {
  stride?: number | readonly [number, number];
  padding?: Padding;
  dilation?: number | readonly [number, number];
  /**
   * How to compute it. 'im2col': patches and one matmul (any kernel). 'winograd4x4': Winograd's
   * F(4×4, 3×3), 4× fewer multiply-adds in each of the three products of a training step;
   * 'winograd': F(2×2, 3×3), 2.25× fewer. Both round differently from im2col (sums of transformed
   * terms instead of the 9·C products): F(2×2)'s errors stay at a few float32 ulps of the output's
   * scale, F(4×4)'s are ~10× larger (its transforms scale terms by up to ~10², so a relative error
   * near 1e-5, as cuDNN's and oneDNN's F(4×4) kernels have); only 3×3 kernels with stride and dilation 1.
   * 'auto' (the default): where Winograd applies, F(4×4) for outputs of at least 4×4 (any channel
   * counts), F(2×2) for smaller outputs when both channel counts are at least WINOGRAD_MIN_CHANNELS.
   */
  algorithm?: ConvAlgorithm;
}

/**
 * 'auto' uses F(2×2, 3×3) for outputs smaller than 4×4 only with at least this many input and output
 * channels; F(4×4, 3×3), for outputs of 4×4 and more, at any channel counts. Measured on the 2-core
 * Zen 5 machine (bench/convAlgorithms.ts: wasm, one thread, CPU time, a training step's three
 * products, im2col time / F(4×4) time, 2026-12-06 after the transforms' shared steps): 1 → 16
 * channels (the demo's stem) 1.01-1.07×, 2 → 8 1.26×, 3 → 16 1.57×, 4 → 1 1.65×, 8 → 3 1.30×,
 * 16 → 1 (the demo's output) 1.86-1.99×, 16 → 16 1.94×, 64 → 64 2.35×; F(2×2) below 8 channels
 * 0.78-0.88× (its transforms cost per channel what its fewer multiply-adds do not repay).
 */
export const WINOGRAD_MIN_CHANNELS = 4;

/** The Winograd tile 'auto' takes, or null for im2col: F(4×4) for outputs of 4×4 and up, F(2×2) below with enough channels. */
function autoWinogradTile(outHeight: number, outWidth: number, c: number, co: number): WinogradTile | null {
  if (outHeight >= 4 && outWidth >= 4) return 4;
  return c >= WINOGRAD_MIN_CHANNELS && co >= WINOGRAD_MIN_CHANNELS ? 2 : null;
}

export type ConvAlgorithm = 'auto' | 'im2col' | 'winograd' | 'winograd4x4';
let defaultConvAlgorithm: ConvAlgorithm = 'auto';

/** `lead` starts the message: "setConvAlgorithm: expected", "conv2d: algorithm must be". */
function checkConvAlgorithm(lead: string, algorithm: ConvAlgorithm): void {
  if (algorithm !== 'auto' && algorithm !== 'im2col' && algorithm !== 'winograd' && algorithm !== 'winograd4x4') throw new Error(`${lead} 'auto', 'im2col', 'winograd' or 'winograd4x4', got ${String(algorithm)}`);
}

/**
 * The algorithm conv2d uses when a call does not name one (PyTorch's `torch.backends` switches play
 * this part): 'auto' (the default), 'im2col' (the exact summation order of earlier releases) or
 * 'winograd' (where it applies; elsewhere such calls fall back to im2col). Returns the previous one.
 */
export function setConvAlgorithm(algorithm: ConvAlgorithm): ConvAlgorithm {
  checkConvAlgorithm('setConvAlgorithm: expected', algorithm);
  const previous = defaultConvAlgorithm;
  defaultConvAlgorithm = algorithm;
  return previous;
}

function pair(v: number | readonly [number, number]): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** Resolve a padding spec into [top, bottom, left, right] (TensorFlow's rule for 'same'). */
export function resolvePadding(padding: Padding, h: number, w: number, kh: number, kw: number, sh: number, sw: number, dh = 1, dw = 1): [number, number, number, number] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding === 'same') {
    const ekh = (kh - 1) * dh + 1;
    const ekw = (kw - 1) * dw + 1;
    const ph = Math.max((Math.ceil(h / sh) - 1) * sh + ekh - h, 0);
    const pw = Math.max((Math.ceil(w / sw) - 1) * sw + ekw - w, 0);
    return [Math.floor(ph / 2), ph - Math.floor(ph / 2), Math.floor(pw / 2), pw - Math.floor(pw / 2)];
  }
  if (typeof padding === 'number') return [padding, padding, padding, padding];
  if (typeof padding[0] === 'number') {
    const [ph, pw] = padding as readonly [number, number];
    return [ph, ph, pw, pw];
  }
  const [[t, b], [l, r]] = padding as readonly [readonly [number, number], readonly [number, number]];
  return [t, b, l, r];
}

/** @internal */
export function im2colPrim(x: Tensor, p: Im2ColParams): Tensor {
  return bind('im2col', [x], p);
}

/** @internal */
export function col2imPrim(x: Tensor, p: PrimParams['col2im']): Tensor {
  return bind('col2im', [x], p);
}

/**
 * 2-D convolution (cross-correlation, as in every framework): `x` is NHWC, `w` is HWIO
 * ([kernelHeight, kernelWidth, inChannels, outChannels]). Computed as im2col followed by one matmul.
 */
export const conv2d = scoped(function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  checkTensor('conv2d', 'x', x);
  checkTensor('conv2d', 'w', w);
  if (x.rank !== 4) throw new Error(`conv2d: input must be NHWC (rank 4), got ${fmt(x.shape)}`);
  if (w.rank !== 4) throw new Error(`conv2d: weights must be HWIO (rank 4), got ${fmt(w.shape)}`);
  const [n, h, wd, c] = x.shape as [number, number, number, number];
  const [kh, kw, ci, co] = w.shape as [number, number, number, number];
  if (ci !== c) throw new Error(`conv2d: input has ${c} channels but the weights expect ${ci}: ${fmt(x.shape)} * ${fmt(w.shape)}`);
  const [sh, sw] = pair(options.stride ?? 1);
  const [dh, dw] = pair(options.dilation ?? 1);
  for (const [what, v] of [['stride', sh], ['stride', sw], ['dilation', dh], ['dilation', dw]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`conv2d: ${what} must be a positive integer, got ${v}`);
  }
  const [pt, pb, pl, pr] = resolvePadding(options.padding ?? 'valid', h, wd, kh, kw, sh, sw, dh, dw);
  const outHeight = Math.floor((h + pt + pb - ((kh - 1) * dh + 1)) / sh) + 1;
  const outWidth = Math.floor((wd + pl + pr - ((kw - 1) * dw + 1)) / sw) + 1;
  if (outHeight <= 0 || outWidth <= 0) throw new Error(`conv2d: kernel ${kh}×${kw} does not fit input ${h}×${wd} with this padding`);
  const named = options.algorithm !== undefined;
  const algorithm = options.algorithm ?? defaultConvAlgorithm;
  checkConvAlgorithm('conv2d: algorithm must be', algorithm);
  const winogradFits = kh === 3 && kw === 3 && sh === 1 && sw === 1 && dh === 1 && dw === 1;
  const winograd = algorithm === 'winograd' || algorithm === 'winograd4x4';
  if (winograd && !winogradFits && named) throw new Error(`conv2d: algorithm '${algorithm}' needs a 3×3 kernel with stride 1 and dilation 1, got ${kh}×${kw}, stride ${sh}×${sw}, dilation ${dh}×${dw}; use 'im2col' or 'auto'`);
  const autoTile = winogradFits && algorithm === 'auto' ? autoWinogradTile(outHeight, outWidth, c, co) : null;
  if (winogradFits && (winograd || autoTile !== null)) {
    const tile = algorithm === 'winograd' ? 2 : algorithm === 'winograd4x4' ? 4 : autoTile!;
    const conv: WinogradConv = { tile, top: pt, left: pl, outHeight, outWidth };
    const u = winogradFilter(w, tile);
    const { inP } = winogradGeometry(x, conv);
    const transformed = (tile + 2) ** 2 * n * inP.tilesHigh * inP.tilesWide * c;
    return transformed <= winogradKeepLimit ? winogradPlain(x, u, conv) : convWinograd(x, u, conv);
  }
  const w2 = reshape(w, [1, kh * kw * c, co]);
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && pt === 0 && pl === 0 && pb === 0 && pr === 0) {
    return reshape(matmulPrim(reshape(x, [1, n * h * wd, c]), w2, false, false), [n, outHeight, outWidth, co]);
  }
  const p: Im2ColParams = { kernelHeight: kh, kernelWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl, outHeight, outWidth, dilationHeight: dh, dilationWidth: dw };
  // The patch matrix is kh·kw times the input: under `grad` it is rebuilt in the backward pass
  // (checkpoint) instead of kept from the forward pass, which dominated a training step's memory.
  const y = convPatches(x, w2, p);
  return reshape(y, [n, outHeight, outWidth, co]);
});

/**
 * im2col + matmul as one step of the tape: its backward pass rebuilds the patches from `x` (one
 * im2col) for the weights' cotangent instead of keeping them from the forward pass, so a training
 * step holds each convolution's input, not its kh·kw times larger patch matrix.
 */
const convPatches = customVjp(
  (x: Tensor, w2: Tensor, p: Im2ColParams): Tensor => matmulPrim(patchMatrix(x, p), w2, false, false),
  ([x, w2, p], [g], wanted) => [
    wanted[0] ? col2imPrim(reshape(matmulPrim(g!, w2, false, true), [x.shape[0]!, p.outHeight, p.outWidth, w2.shape[1]!]), { ...p, height: x.shape[1]!, width: x.shape[2]! }) : null,
    wanted[1] ? matmulPrim(patchMatrix(x, p), g!, true, false) : null,
  ],
);

/** @internal */
export function winogradInPrim(x: Tensor, p: PrimParams['winogradIn']): Tensor {
  return bind('winogradIn', [x], p);
}

/** @internal */
export function winogradOutPrim(x: Tensor, p: PrimParams['winogradOut']): Tensor {
  return bind('winogradOut', [x], p);
}

/** The filter transform U = G g Gᵀ of HWIO 3×3 weights, as [α², Cin, Cout] (entry (a, b) in row α·a + b). */
function winogradFilter(w: Tensor, tile: WinogradTile): Tensor {
  const [, , ci, co] = w.shape as [number, number, number, number];
  const alpha = tile + 2;
  const g = fromArray(new Float32Array(WINOGRAD[tile].g), [1, alpha, 3], 'float32');
  // Rows: t[a, j] = Σ_i G[a, i] w[i, j]; then columns, one product per a (G broadcast over the
  // batch): U[a, b] = Σ_j G[b, j] t[a, j], which lands in row α·a + b with no transpose.
  const t = matmulPrim(g, reshape(w, [1, 3, 3 * ci * co]), false, false);
  const u = matmulPrim(g, reshape(t, [alpha, 3, ci * co]), false, false);
  return reshape(u, [alpha * alpha, ci, co]);
}

/** The padding before the image (the tiles' overhang and `outHeight`/`outWidth` fix the rest), and the output tile. */
interface WinogradConv {
  tile: WinogradTile;
  top: number;
  left: number;
  outHeight: number;
  outWidth: number;
}

/** Tiles covering the output (the last row and column of tiles may overhang it by up to m − 1). */
function winogradGeometry(x: Tensor, p: WinogradConv): { inP: PrimParams['winogradIn']; outP: PrimParams['winogradOut'] } {
  const [n, h, w] = x.shape as [number, number, number, number];
  const th = Math.ceil(p.outHeight / p.tile);
  const tw = Math.ceil(p.outWidth / p.tile);
  return {
    inP: { tile: p.tile, batch: n, height: h, width: w, padTop: p.top, padLeft: p.left, tilesHigh: th, tilesWide: tw, adjoint: false },
    outP: { tile: p.tile, batch: n, tilesHigh: th, tilesWide: tw, adjoint: false },
  };
}

/**
 * conv2d by Winograd F(m×m, 3×3): transform the (implicitly zero-padded) tiles, α² matmuls,
 * transform back. One step of the tape, like convPatches: the backward pass recomputes the
 * transformed input (cheap) instead of keeping it (α²/m² times the input), so a step holds x and U
 * only. Its products are Winograd's too: dx is the data transform's adjoint of dM·Uᵀ, dU = Vᵀ·dM,
 * with dM the output transform's adjoint of g.
 */
const convWinograd = customVjp(
  (x: Tensor, u: Tensor, p: WinogradConv): Tensor => winogradPlain(x, u, p),
  ([x, u, p], [g], wanted) => {
    const { inP, outP } = winogradGeometry(x, p);
    const full = padPrim(g!, [0, 0, 0, 0], [0, p.tile * outP.tilesHigh - p.outHeight, p.tile * outP.tilesWide - p.outWidth, 0], 0);
    const dm = winogradOutPrim(full, { ...outP, adjoint: true });
    return [
      wanted[0] ? winogradInPrim(matmulPrim(dm, u, false, true), { ...inP, adjoint: true }) : null,
      wanted[1] ? matmulPrim(winogradInPrim(x, inP), dm, true, false) : null,
    ];
  },
);

/**
 * The transformed input V (α² · tiles · C floats) is kept for the backward pass up to this size and
 * recomputed above it. Kept, the weight gradient Vᵀ·dM does not transform x a second time (a third of
 * a small convolution's transform time: the demo preset's convolutions, 0.3-0.6 M floats); recomputed,
 * a step holds x (m²/α² of V's size) instead, which is what lets the bair preset's batch fit in wasm's
 * 4 GiB (its level-0 V is 2.4 M floats per frame batch of 16). 2²⁰ floats = 4 MiB.
 */
export const WINOGRAD_KEEP_TRANSFORMED = 1 << 20;
let winogradKeepLimit = WINOGRAD_KEEP_TRANSFORMED;

/** @internal Tests: set the size up to which V is kept (0: always recompute; Infinity: always keep); returns the previous. */
export function setWinogradKeepLimit(floats: number): number {
  const previous = winogradKeepLimit;
  winogradKeepLimit = floats;
  return previous;
}

/**
 * conv2d by Winograd as plain primitives (also `convWinograd`'s forward): the tape records the data
 * transform, the α² matmuls and the output transform, and their own VJP rules give exactly `convWinograd`'s backward pass (the output
 * transform's adjoint, dM·Uᵀ and Vᵀ·dM, the data transform's adjoint: the same kernels on the same
 * values, so the same bits), except that V is saved instead of recomputed.
 */
function winogradPlain(x: Tensor, u: Tensor, p: WinogradConv): Tensor {
  const { inP, outP } = winogradGeometry(x, p);
  const y = winogradOutPrim(matmulPrim(winogradInPrim(x, inP), u, false, false), outP);
  return y.shape[1] === p.outHeight && y.shape[2] === p.outWidth ? y : slice(y, [0, 0, 0, 0], [y.shape[0]!, p.outHeight, p.outWidth, y.shape[3]!]);
}

function patchMatrix(x: Tensor, p: Im2ColParams): Tensor {
  return reshape(im2colPrim(x, p), [1, x.shape[0]! * p.outHeight * p.outWidth, p.kernelHeight * p.kernelWidth * x.shape[3]!]);
}
