/**
 * rolling-diffusion: a functional deep-learning framework in TypeScript and, on it, a reference
 * implementation of Rolling Diffusion Models (Ruhe et al., ICML 2024).
 *
 * Importing this module registers the backends; the pure-TypeScript CPU backend is the default.
 */
import { registerBackend } from './core';
import { createCpuBackend } from './backends/cpu';

registerBackend('cpu', createCpuBackend);
registerBackend('webgpu', async () => (await import('./backends/webgpu')).createWebGPUBackend());
registerBackend('wasm', async () => (await import('./backends/wasm')).createWasmBackend());

export * from './core';
