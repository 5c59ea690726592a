/**
 * `enableRelaxedSimd` (what the `rolling` command calls first): on Node 20+ it makes relaxed SIMD
 * available, wasm backends made afterwards use fused multiply-add in matmul, and products stay
 * within float32 rounding of the exact ones (they differ from the plain-SIMD path only in the last
 * bits). In a child process, because the V8 flag it sets is process-wide.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('enableRelaxedSimd turns on fused multiply-add for wasm backends made afterwards; products stay within rounding', () => {
  const child = fileURLToPath(new URL('./fixtures/relaxedSimdChild.ts', import.meta.url));
  const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
  const out = JSON.parse(execFileSync(tsx, [child], { encoding: 'utf8' }).trim().split('\n').at(-1)!) as { enabled: boolean; backendRelaxed: boolean; worst: number };
  expect(out.enabled).toBe(true);
  expect(out.backendRelaxed).toBe(true);
  // 301 terms: a few ulps of Σ|aᵢbᵢ| in float32.
  expect(out.worst).toBeLessThan(301 * 2 ** -23);
});
