/**
 * What the WebGPU test files share: starting the backend once per file, a `describe` that skips
 * (with a warning saying how to enable it) where there is no adapter, or fails under `CI`, and a small MLP's parameters
 * and plain SGD step for the training tests.
 */
import { describe, it } from 'vitest';
import { key, mul, normal, setBackend, split, sub, tensor, tidy, treeZipMap, valueAndGrad, type Tensor } from '../../index.js';
import type { WebGPUBackend } from '../../backends/webgpu/index.js';

export const HOW_TO_ENABLE =
  'install SwiftShader with `apt-get install -y chromium` and run with VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (or use a machine with a GPU and its Vulkan driver)';

/** Start the default WebGPU backend (leaving `cpu` selected); `gpu` is null with the reason where none starts. */
export async function startWebGPU(): Promise<{ gpu: WebGPUBackend | null; skipReason: string; suite: typeof describe | typeof describe.skip }> {
  let gpu: WebGPUBackend | null = null;
  let skipReason = '';
  try {
    gpu = (await setBackend('webgpu')) as WebGPUBackend;
    await setBackend('cpu');
  } catch (e) {
    skipReason = (e as Error).message;
  }
  if (gpu) return { gpu, skipReason, suite: describe };
  if (process.env['CI']) {
    // Under CI a missing adapter is a failure, not a skip: CI installs SwiftShader so that these run.
    const failing = ((name: string) =>
      describe(name, () => {
        it('needs a WebGPU adapter (CI runs these tests; it does not skip them)', () => {
          throw new Error(`no WebGPU adapter: ${skipReason}. To enable it, ${HOW_TO_ENABLE}.`);
        });
      })) as unknown as typeof describe;
    return { gpu, skipReason, suite: failing };
  }
  console.warn(`WebGPU tests skipped (${skipReason.split('. ')[0]}). To enable them, ${HOW_TO_ENABLE}.`);
  return { gpu, skipReason, suite: describe.skip };
}

export type MlpParams = { w1: Tensor; b1: Tensor; w2: Tensor; b2: Tensor };

/** A two-layer MLP's parameters (scaled normal weights, zero biases) from a fixed key. */
export function initMlp(inF: number, hidden: number): MlpParams {
  const [k1, k2] = split(key(42), 2);
  return {
    w1: mul(normal(k1!, [inF, hidden]), 1 / Math.sqrt(inF)),
    b1: tensor(new Float32Array(hidden)),
    w2: mul(normal(k2!, [hidden, 1]), 1 / Math.sqrt(hidden)),
    b2: tensor(new Float32Array(1)),
  };
}

/** One SGD step of `loss` inside tidy: the new parameters and the loss before the step. */
export function sgdStep(loss: (p: MlpParams, x: Tensor, y: Tensor) => Tensor, p: MlpParams, x: Tensor, y: Tensor, lr: number): { p: MlpParams; loss: Tensor } {
  return tidy(() => {
    const [l, g] = valueAndGrad(loss)(p, x, y);
    return { p: treeZipMap([p, g], ([w, gw]) => sub(w!, mul(gw!, lr))), loss: l };
  });
}
