/**
 * What the WebGPU test files share: starting the backend once per file, and a `describe` that skips
 * (with a warning saying how to enable it) where there is no adapter.
 */
import { describe } from 'vitest';
import { setBackend } from '../../index';
import type { WebGPUBackend } from '../../backends/webgpu';

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
  if (!gpu) console.warn(`WebGPU tests skipped (${skipReason.split('. ')[0]}). To enable them, ${HOW_TO_ENABLE}.`);
  return { gpu, skipReason, suite: gpu ? describe : describe.skip };
}
