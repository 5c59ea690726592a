/**
 * Batched matmul, two kernels.
 *
 * Tiled (the `gpu` schedule): a workgroup computes a TM×TN block of C, staging TK-deep slices of A and B in
 * workgroup memory; each thread keeps an RM×RN block of accumulators in registers (rows ty + WY·r,
 * columns tx + WX·c, so threads next to each other touch neighbouring words: conflict-free workgroup
 * reads and coalesced stores). The transpose flags only change how tiles are loaded (each variant
 * its own pipeline, loads ordered so neighbouring threads read neighbouring words), so Aᵀ B and A Bᵀ
 * cost what A B costs. A batch of 1 broadcasts (its base offset stays 0). Where an operand's
 * contiguous axis is a multiple of 4 its tiles are loaded as `vec4<f32>` (a pipeline variant of its
 * own, `vec4Loads`): a quarter of the load instructions and bounds checks; other shapes keep scalar loads.
 *
 * Register-blocked (the `cpu` schedule, for CPU-emulated adapters): no workgroup memory and no
 * barriers; each invocation accumulates an RM×RN block reading A and B straight from memory, which
 * the CPU's caches serve well.
 */
import type { BufferInfo, PrimParams, Shape } from '../../core/index.js';
import type { Engine, GpuHandle } from './engine.js';
import { bindings } from './wgsl.js';

export interface TileConfig {
  readonly tm: number;
  readonly tn: number;
  readonly tk: number;
  readonly rm: number;
  readonly rn: number;
}

/** Tile shapes by problem size, within the device's workgroup memory and invocation limits. */
export function chooseTile(limits: GPUSupportedLimits, batch: number, m: number, n: number): TileConfig {
  const candidates: TileConfig[] = [
    { tm: 128, tn: 128, tk: 8, rm: 8, rn: 8 },
    { tm: 64, tn: 64, tk: 16, rm: 4, rn: 4 },
    { tm: 32, tn: 32, tk: 16, rm: 2, rn: 2 },
  ];
  const fits = candidates.filter(
    (c) =>
      (c.tm + c.tn) * c.tk * 4 <= limits.maxComputeWorkgroupStorageSize &&
      (c.tm / c.rm) * (c.tn / c.rn) <= limits.maxComputeInvocationsPerWorkgroup &&
      c.tn / c.rn <= limits.maxComputeWorkgroupSizeX &&
      c.tm / c.rm <= limits.maxComputeWorkgroupSizeY,
  );
  // The largest tile that still yields enough workgroups to fill a GPU (~128 blocks).
  for (const c of fits) {
    const blocks = batch * Math.ceil(m / c.tm) * Math.ceil(n / c.tn);
    if (blocks >= 128) return c;
  }
  return fits[fits.length - 1] ?? candidates[2]!;
}

/**
 * Which operands the tiled kernel loads as `vec4<f32>`: those whose contiguous axis within a tile row
 * (K for A and for Bᵀ, M for Aᵀ, N for B) is a multiple of 4, so every vec4 is aligned and lies
 * inside the matrix (the batch offsets M·K and K·N are multiples of 4 then too).
 */
export function vec4Loads(m: number, n: number, k: number, transA: boolean, transB: boolean): { a: boolean; b: boolean } {
  return { a: (transA ? m : k) % 4 === 0, b: (transB ? k : n) % 4 === 0 };
}

/** A tile's load loop: `count` loads per workgroup, each thread taking every `threads`-th. */
function loadLoop(count: number, threads: number, body: string[]): string {
  return [`    for (var l = li; l < ${count}u; l = l + ${threads}u) {`, ...body.map((b) => `      ${b}`), '    }'].join('\n');
}

const LANES = ['x', 'y', 'z', 'w'];

/**
 * Loads of the A tile (TM×TK, into As[k·TM + row]) and the B tile (TK×TN, into Bs[k·TN + col]),
 * neighbouring threads reading neighbouring words (or vec4s) of memory.
 */
function tileLoads(t: TileConfig, threads: number, transA: boolean, transB: boolean, vec: { a: boolean; b: boolean }): string {
  const out: string[] = [];
  if (!vec.a) {
    // A(row, k) is a[row*K + k], or a[k*M + row] when transposed.
    const a = transA ? { r: `l % ${t.tm}u`, k: `l / ${t.tm}u`, addr: 'aBase + gk * M + gr' } : { r: `l / ${t.tk}u`, k: `l % ${t.tk}u`, addr: 'aBase + gr * K + gk' };
    out.push(loadLoop(t.tm * t.tk, threads, [`let r = ${a.r}; let kk = ${a.k};`, 'let gr = row0 + r; let gk = k0 + kk;', 'var v = 0.0;', `if (gr < M && gk < K) { v = in0[${a.addr}]; }`, `As[kk * ${t.tm}u + r] = v;`]));
  } else if (!transA) {
    // Four consecutive k of one row.
    const q = t.tk / 4;
    out.push(loadLoop(t.tm * q, threads, [`let r = l / ${q}u; let kq = (l % ${q}u) * 4u;`, 'let gr = row0 + r; let gk = k0 + kq;', 'var v = vec4<f32>(0.0);', 'if (gr < M && gk < K) { v = in0[(aBase + gr * K + gk) / 4u]; }', ...LANES.map((c, j) => `As[(kq + ${j}u) * ${t.tm}u + r] = v.${c};`)]));
  } else {
    // Four consecutive rows of one k.
    const q = t.tm / 4;
    out.push(loadLoop(q * t.tk, threads, [`let rq = (l % ${q}u) * 4u; let kk = l / ${q}u;`, 'let gr = row0 + rq; let gk = k0 + kk;', 'var v = vec4<f32>(0.0);', 'if (gr < M && gk < K) { v = in0[(aBase + gk * M + gr) / 4u]; }', ...LANES.map((c, j) => `As[kk * ${t.tm}u + rq + ${j}u] = v.${c};`)]));
  }
  if (!vec.b) {
    // B(k, col) is b[k*N + col], or b[col*K + k] when transposed.
    const b = transB ? { c: `l / ${t.tk}u`, k: `l % ${t.tk}u`, addr: 'bBase + gc * K + gk' } : { c: `l % ${t.tn}u`, k: `l / ${t.tn}u`, addr: 'bBase + gk * N + gc' };
    out.push(loadLoop(t.tn * t.tk, threads, [`let c = ${b.c}; let kk = ${b.k};`, 'let gc = col0 + c; let gk = k0 + kk;', 'var v = 0.0;', `if (gc < N && gk < K) { v = in1[${b.addr}]; }`, `Bs[kk * ${t.tn}u + c] = v;`]));
  } else if (!transB) {
    // Four consecutive columns of one k.
    const q = t.tn / 4;
    out.push(loadLoop(q * t.tk, threads, [`let cq = (l % ${q}u) * 4u; let kk = l / ${q}u;`, 'let gc = col0 + cq; let gk = k0 + kk;', 'var v = vec4<f32>(0.0);', 'if (gc < N && gk < K) { v = in1[(bBase + gk * N + gc) / 4u]; }', ...LANES.map((c, j) => `Bs[kk * ${t.tn}u + cq + ${j}u] = v.${c};`)]));
  } else {
    // Four consecutive k of one column.
    const q = t.tk / 4;
    out.push(loadLoop(t.tn * q, threads, [`let c = l / ${q}u; let kq = (l % ${q}u) * 4u;`, 'let gc = col0 + c; let gk = k0 + kq;', 'var v = vec4<f32>(0.0);', 'if (gc < N && gk < K) { v = in1[(bBase + gc * K + gk) / 4u]; }', ...LANES.map((c, j) => `Bs[(kq + ${j}u) * ${t.tn}u + c] = v.${c};`)]));
  }
  return out.join('\n');
}

function matmulSource(t: TileConfig, transA: boolean, transB: boolean, vec: { a: boolean; b: boolean }): string {
  const wx = t.tn / t.rn;
  const wy = t.tm / t.rm;
  const threads = wx * wy;
  const lines: string[] = [];
  lines.push(bindings(2, 16, 'f32', [vec.a ? 'vec4<f32>' : 'f32', vec.b ? 'vec4<f32>' : 'f32']));
  lines.push(`var<workgroup> As: array<f32, ${t.tk * t.tm}>;`);
  lines.push(`var<workgroup> Bs: array<f32, ${t.tk * t.tn}>;`);
  lines.push(`@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let M = p(0u); let N = p(1u); let K = p(2u);
  let aBase = select(wid.z, 0u, p(3u) == 1u) * M * K;
  let bBase = select(wid.z, 0u, p(4u) == 1u) * K * N;
  let row0 = wid.y * ${t.tm}u;
  let col0 = wid.x * ${t.tn}u;
  var acc: array<f32, ${t.rm * t.rn}>;`);
  for (let i = 0; i < t.rm * t.rn; i++) lines.push(`  acc[${i}] = 0.0;`);
  lines.push(`  for (var k0 = 0u; k0 < K; k0 = k0 + ${t.tk}u) {`);
  lines.push(tileLoads(t, threads, transA, transB, vec));
  lines.push(`    workgroupBarrier();
    for (var kk = 0u; kk < ${t.tk}u; kk = kk + 1u) {`);
  for (let r = 0; r < t.rm; r++) lines.push(`      let a${r} = As[kk * ${t.tm}u + lid.y + ${r * wy}u];`);
  for (let c = 0; c < t.rn; c++) lines.push(`      let b${c} = Bs[kk * ${t.tn}u + lid.x + ${c * wx}u];`);
  for (let r = 0; r < t.rm; r++) for (let c = 0; c < t.rn; c++) lines.push(`      acc[${r * t.rn + c}] = fma(a${r}, b${c}, acc[${r * t.rn + c}]);`);
  lines.push(`    }
    workgroupBarrier();
  }
  let cBase = wid.z * M * N;`);
  for (let r = 0; r < t.rm; r++) {
    lines.push(`  { let row = row0 + lid.y + ${r * wy}u;`);
    lines.push('    if (row < M) {');
    for (let c = 0; c < t.rn; c++) lines.push(`      { let col = col0 + lid.x + ${c * wx}u; if (col < N) { out[cBase + row * N + col] = acc[${r * t.rn + c}]; } }`);
    lines.push('    }', '  }');
  }
  lines.push('}');
  return lines.join('\n');
}

/** The address of A(row, k) and B(k, col) for each transpose flag. */
const addressA = (transA: boolean, row: string, k: string) => (transA ? `aBase + (${k}) * M + ${row}` : `aBase + ${row} * K + (${k})`);
const addressB = (transB: boolean, k: string, col: string) => (transB ? `bBase + ${col} * K + (${k})` : `bBase + (${k}) * N + ${col}`);

function directSource(rm: number, rn: number, wx: number, wy: number, transA: boolean, transB: boolean): string {
  const l: string[] = [bindings(2, 16, 'f32')];
  l.push(`@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = p(0u); let N = p(1u); let K = p(2u);
  let aBase = select(wid.z, 0u, p(3u) == 1u) * M * K;
  let bBase = select(wid.z, 0u, p(4u) == 1u) * K * N;
  let row0 = (wid.y * ${wy}u + lid.y) * ${rm}u;
  let col0 = (wid.x * ${wx}u + lid.x) * ${rn}u;
  if (row0 >= M || col0 >= N) { return; }`);
  // Rows and columns past the edge read a clamped (valid) address; their sums are never stored.
  for (let r = 0; r < rm; r++) l.push(`  let r${r} = min(row0 + ${r}u, M - 1u);`);
  for (let c = 0; c < rn; c++) l.push(`  let c${c} = min(col0 + ${c}u, N - 1u);`);
  for (let i = 0; i < rm * rn; i++) l.push(`  var acc${i} = 0.0;`);
  l.push('  for (var k = 0u; k < K; k = k + 1u) {');
  for (let r = 0; r < rm; r++) l.push(`    let a${r} = in0[${addressA(transA, `r${r}`, 'k')}];`);
  for (let c = 0; c < rn; c++) l.push(`    let b${c} = in1[${addressB(transB, 'k', `c${c}`)}];`);
  for (let r = 0; r < rm; r++) for (let c = 0; c < rn; c++) l.push(`    acc${r * rn + c} = fma(a${r}, b${c}, acc${r * rn + c});`);
  l.push('  }', '  let cBase = wid.z * M * N;');
  for (let r = 0; r < rm; r++) {
    l.push(`  if (row0 + ${r}u < M) {`);
    for (let c = 0; c < rn; c++) l.push(`    if (col0 + ${c}u < N) { out[cBase + (row0 + ${r}u) * N + col0 + ${c}u] = acc${r * rn + c}; }`);
    l.push('  }');
  }
  l.push('}');
  return l.join('\n');
}

export function matmul(e: Engine, a: BufferInfo, b: BufferInfo, { transA, transB }: PrimParams['matmul'], outShape: Shape): GpuHandle {
  const [batch, m, n] = outShape as [number, number, number];
  const k = transA ? a.shape[1]! : a.shape[2]!;
  const out = e.allocOutput(batch * m * n * 4);
  if (batch * m * n === 0) return out;
  const flags = `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`;
  const params = [m, n, k, a.shape[0]!, b.shape[0]!];
  const inputs = [(a.buffer as GpuHandle).slab.buffer, (b.buffer as GpuHandle).slab.buffer];
  if (e.schedule === 'cpu') {
    const rm = m >= 32 ? 8 : m >= 8 ? 4 : 1;
    const rn = n >= 32 ? 8 : n >= 8 ? 4 : 1;
    const w = 8;
    e.dispatch({
      key: `matmul:direct:${rm}x${rn}:${flags}`,
      source: () => directSource(rm, rn, w, w, transA, transB),
      inputs,
      output: out.slab.buffer,
      params,
      words: 16,
      groups: [Math.ceil(n / (rn * w)), Math.ceil(m / (rm * w)), batch],
    });
    return out;
  }
  const tile = chooseTile(e.limits, batch, m, n);
  const vec = vec4Loads(m, n, k, transA, transB);
  e.dispatch({
    key: `matmul:${tile.tm}x${tile.tn}x${tile.tk}:${flags}:${vec.a ? 'v' : 's'}${vec.b ? 'v' : 's'}`,
    source: () => matmulSource(tile, transA, transB, vec),
    inputs,
    output: out.slab.buffer,
    params,
    words: 16,
    groups: [Math.ceil(n / tile.tn), Math.ceil(m / tile.tm), batch],
  });
  return out;
}
