/**
 * The Winograd F(m×m, 3×3) transforms (m = 2, 4) in WGSL, one thread per output element, each a
 * gather (the adjoint of the data transform too: a pixel sums the tiles that read it, so no
 * atomics). The expressions are generated from core/winograd.ts's programs, each step's signed sum
 * in its order, as the CPU evaluates them, so results agree bit for bit (coefficients are ± powers of two, so the
 * products are exact and the only roundings are the additions, contracted into FMAs or not).
 */
import { sizeOf, WINOGRAD, type BufferInfo, type LinearProgram, type PrimParams, type SignedSum, type Shape } from '../../core/index.js';
import type { Engine, GpuHandle } from './engine.js';
import { gpuBuffer, run1d } from './layout.js';

/** A signed sum as a WGSL expression, folded left to right like `signedSum` (|c| · term, exact, added or subtracted by its sign). */
function sumExpr(sum: SignedSum, term: (i: number) => string): string {
  const scaled = (i: number, c: number): string => (Math.abs(c) === 1 ? `(${term(i)})` : `(${Math.abs(c)}.0 * (${term(i)}))`);
  let acc = sum[0]![1] > 0 ? scaled(sum[0]![0], sum[0]![1]) : `(-${scaled(sum[0]![0], sum[0]![1])})`;
  for (const [i, s] of sum.slice(1)) acc = `(${acc} ${s > 0 ? '+' : '-'} ${scaled(i, s)})`;
  return acc;
}

/** Output `q` of `program` as a WGSL expression over `input(v)`: the steps it reads, nested (a step read twice is written twice: the same operations, the same bits). */
function programExpr(program: LinearProgram, q: number, input: (v: number) => string): string {
  const value = (v: number): string => (v < program.inputs ? input(v) : sumExpr(program.steps[v - program.inputs]!, value));
  return value(program.outputs[q]!);
}

/** Entry (p, q) of a tile transform: the program down column q of the rows' outputs q (core/winograd.ts). */
function tileExpr(program: LinearProgram, p: number, q: number, src: (i: number, j: number) => string): string {
  return programExpr(program, p, (i) => programExpr(program, q, (j) => src(i, j)));
}

/** `switch (selector) { case k: { r = expr(k); } }` over `cases` values of the selector. */
function switchOn(selector: string, cases: number, expr: (k: number) => string): string {
  const arms = Array.from({ length: cases }, (_, k) => `    case ${k}u: { r = ${expr(k)}; }`).join('\n');
  return `  var r = 0.0;\n  switch (${selector}) {\n${arms}\n    default: {}\n  }`;
}

const LD = 'fn ld(k: u32) -> f32 { return bitcast<f32>(in0[k]); }';

/** Thread i as entry `en` of tile `t` (at tile row ty, column tx of image b), channel cc: the layout [α², tiles, C]. */
const TILE_ENTRY = `  var q = i;
  let cc = q % ch; q = q / ch;
  let t = q % tiles; let en = q / tiles;
  let tx = t % tw; let ty = (t / tw) % th; let b = t / (tw * th);`;

/** Pixel (y, x) of image b, channel cc, or 0 outside the image. */
const PX = `fn px(b: u32, y: i32, x: i32, h: u32, w: u32, ch: u32, cc: u32) -> f32 {
  if (y < 0 || y >= i32(h) || x < 0 || x >= i32(w)) { return 0.0; }
  return ld(((b * h + u32(y)) * w + u32(x)) * ch + cc);
}`;

export function winogradIn(e: Engine, x: BufferInfo, p: PrimParams['winogradIn'], outShape: Shape): GpuHandle {
  const n = sizeOf(outShape);
  const out = e.allocOutput(n * 4);
  const c = outShape[outShape.length - 1]!;
  const tiles = p.batch * p.tilesHigh * p.tilesWide;
  const { m, alpha, bt, b: bProgram } = WINOGRAD[p.tile];
  // Parameters: 1 H, 2 W, 3 C, 4 tH, 5 tW, 6 tiles, 7 padTop, 8 padLeft.
  const lets = '  let h = p(1u); let w = p(2u); let ch = p(3u); let th = p(4u); let tw = p(5u); let tiles = p(6u); let pt = p(7u); let pl = p(8u);';
  const body = p.adjoint
    ? `${lets}
  var q = i;
  let cc = q % ch; q = q / ch;
  let x = q % w + pl; q = q / w;
  let y = q % h + pt; let b = q / h;
  var acc = 0.0;
  var first = true;
  for (var dy = 0u; dy < 2u; dy = dy + 1u) {
    let ty = i32(y / ${m}u) - i32(dy);
    let ii = y % ${m}u + ${m}u * dy;
    if (ty < 0 || ty >= i32(th) || ii >= ${alpha}u) { continue; }
    for (var dx = 0u; dx < 2u; dx = dx + 1u) {
      let tx = i32(x / ${m}u) - i32(dx);
      let jj = x % ${m}u + ${m}u * dx;
      if (tx < 0 || tx >= i32(tw) || jj >= ${alpha}u) { continue; }
      let t = (b * th + u32(ty)) * tw + u32(tx);
${switchOn(`ii * ${alpha}u + jj`, alpha * alpha, (k) => tileExpr(bProgram, Math.floor(k / alpha), k % alpha, (a, bb) => `ld(((${alpha * a + bb}u * tiles) + t) * ch + cc)`))}
      if (first) { acc = r; first = false; } else { acc = acc + r; }
    }
  }
  out[i] = bitcast<u32>(acc);`
    : `${lets}
${TILE_ENTRY}
  let y0 = i32(${m}u * ty) - i32(pt);
  let x0 = i32(${m}u * tx) - i32(pl);
${switchOn('en', alpha * alpha, (k) => tileExpr(bt, Math.floor(k / alpha), k % alpha, (ii, jj) => `px(b, y0 + ${ii}, x0 + ${jj}, h, w, ch, cc)`))}
  out[i] = bitcast<u32>(r);`;
  run1d(e, `winogradIn${m}:${p.adjoint ? 'adj' : 'fwd'}`, body, [gpuBuffer(x)], out, [n, p.height, p.width, c, p.tilesHigh, p.tilesWide, tiles, p.padTop, p.padLeft], n, `${LD}\n${PX}`);
  return out;
}

export function winogradOut(e: Engine, x: BufferInfo, p: PrimParams['winogradOut'], outShape: Shape): GpuHandle {
  const n = sizeOf(outShape);
  const out = e.allocOutput(n * 4);
  const c = outShape[outShape.length - 1]!;
  const tiles = p.batch * p.tilesHigh * p.tilesWide;
  const { m, alpha, at, a } = WINOGRAD[p.tile];
  // Parameters: 1 tH, 2 tW, 3 C, 4 tiles.
  const lets = `  let th = p(1u); let tw = p(2u); let ch = p(3u); let tiles = p(4u); let h = ${m}u * th; let w = ${m}u * tw;`;
  const body = p.adjoint
    ? `${lets}
${TILE_ENTRY}
  let base = ((b * h + ${m}u * ty) * w + ${m}u * tx) * ch + cc;
${switchOn('en', alpha * alpha, (k) => tileExpr(a, Math.floor(k / alpha), k % alpha, (r, s) => `ld(base + (${r}u * w + ${s}u) * ch)`))}
  out[i] = bitcast<u32>(r);`
    : `${lets}
  var q = i;
  let cc = q % ch; q = q / ch;
  let x = q % w; q = q / w;
  let y = q % h; let b = q / h;
  let t = (b * th + y / ${m}u) * tw + x / ${m}u;
${switchOn(`(y % ${m}u) * ${m}u + x % ${m}u`, m * m, (k) => tileExpr(at, Math.floor(k / m), k % m, (i, s) => `ld(((${alpha * i + s}u * tiles) + t) * ch + cc)`))}
  out[i] = bitcast<u32>(r);`;
  run1d(e, `winogradOut${m}:${p.adjoint ? 'adj' : 'fwd'}`, body, [gpuBuffer(x)], out, [n, p.tilesHigh, p.tilesWide, c, tiles], n, LD);
  return out;
}
