/**
 * rolling-diffusion: a functional deep-learning framework in TypeScript and, on it, a reference
 * implementation of Rolling Diffusion Models (Ruhe et al., ICML 2024).
 *
 * Importing this module registers the backends. The default is the WebAssembly SIMD backend (`wasm`,
 * with worker threads in Node); where it cannot start synchronously (no SIMD, or a browser's main
 * thread, which refuses to compile a large module synchronously) the pure-TypeScript reference
 * backend (`cpu`) is. `await setBackend('cpu' | 'wasm' | 'webgpu')` chooses explicitly. The package's
 * other entries (`rolling-diffusion/nn`, `/diffusion`, `/experiments`: entry/) import this module
 * first, so each works alone.
 * @module rolling-diffusion
 */
import { registerBackend, setDefaultBackends } from './core/index.js';
import { createCpuBackend } from './backends/cpu/index.js';
import { createWasmBackendSync } from './backends/wasm/index.js';

/** Turn on WebAssembly relaxed SIMD (FMA) for wasm backends made afterwards; see backends/wasm. */
export { enableRelaxedSimd } from './backends/wasm/index.js';

registerBackend('cpu', createCpuBackend);
registerBackend('webgpu', async () => (await import('./backends/webgpu/index.js')).createWebGPUBackend());
registerBackend('wasm', () => createWasmBackendSync());
setDefaultBackends(['wasm', 'cpu']);

export * from './core/index.js';
