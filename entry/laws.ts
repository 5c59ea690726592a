/**
 * The package's `rolling-diffusion/laws` entry: the conformance kit (the paper's invariants as
 * fast-check properties over any implementation, with this package's own adapters), apart from
 * `rolling-diffusion/diffusion` so that the paper's functions load without fast-check. Importing it
 * registers the default backends (the sampler laws and our adapters run tensors).
 * @module rolling-diffusion/laws
 */
import '../index.js';
export * from '../diffusion/laws/index.js';
