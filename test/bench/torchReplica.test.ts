/**
 * The PyTorch replica of the U-ViT (bench/torch/uvit.py) computes our function: loaded with our
 * initialised (and perturbed) parameters, its forward output, training loss and gradients equal
 * ours (bench/torch/equality.ts). Runs only outside CI and where `/usr/bin/python3` has torch
 * (Debian's python3-torch); elsewhere it is skipped and its name says why.
 */
import { describe, expect, it } from 'vitest';
import { setBackend } from '../../index.js';
import { checkEquality } from '../../bench/torch/equality.js';
import { findTorch } from '../../bench/torch/python.js';

// CI has no torch; there the check is not even probed for.
const inCi = process.env.CI === 'true';
const found = inCi ? ({ ok: false, reason: 'CI' } as const) : findTorch();
const hasTorch = found.ok;
const python = process.env.TORCH_PYTHON ?? '/usr/bin/python3';
const why = hasTorch ? '' : inCi ? ' (skipped in CI, which has no torch)' : ` (skipped: ${python} has no torch; apt-get install python3-torch libopenblas0-openmp)`;

describe('the PyTorch replica of the U-ViT (bench/torch)', () => {
  for (const preset of ['demo', 'bair']) {
    it.skipIf(!hasTorch)(`${preset}: forward, loss and gradients equal ours to 1e-5 relative${why}`, async () => {
      if (!found.ok) return;
      await setBackend('wasm');
      const [report] = await checkEquality([preset], found.torch);
      expect(report!.parameters).toBe(report!.torchParameters);
      expect(report!.forwardRelErr).toBeLessThan(1e-5);
      expect(report!.lossRelErr).toBeLessThan(1e-5);
      expect(report!.gradRelErr).toBeLessThan(1e-5);
      expect(report!.ok).toBe(true);
    });
  }
});
