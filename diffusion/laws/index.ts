/**
 * A conformance kit: the laws of Rolling Diffusion (and of the diffusion maths under it) as reusable
 * fast-check properties over an implementation, so that any implementation, ours or a port, can be
 * checked against the paper instead of against a particular codebase. The package's
 * `rolling-diffusion/laws` entry; it is not part of `rolling-diffusion/diffusion`, so a program that
 * only runs the paper's functions never loads fast-check.
 *
 * Each `…Laws(impl)` takes an implementation behind a small adapter interface and returns named
 * properties; `checkLaws` runs them and reports, per law, whether it held and a counterexample if not.
 * The adapters use plain numbers and nested arrays wherever the law is about numbers, so that a
 * PyTorch or JAX implementation can be wrapped in a few lines (or the laws ported, one property each,
 * to Hypothesis): local-time maps are `(window, cleanFrames) → t → number[]`, a loss is
 * `(x, ε, v̂, local times) → loss per example`, an embedding is `logSNR [B][F] → vectors [B][F][D]`.
 * Only the sampler laws need tensors: a sampler drives a denoiser `(z, logSnr) → v̂`.
 *
 * The laws state what the paper and MATH.md state, never how our code computes it; they are proven to
 * catch the schedule bugs found in public implementations (test/diffusion/laws/mutants.test.ts): a local-time
 * map shifted by a frame, clean frames in the loss, an embedding normalised by the batch maximum,
 * min-SNR written as a max, the resolution shift applied twice, ε- and v-losses confused, and more.
 *
 * One file per family of laws (one function each, with its adapter interface): local times and frame
 * categories, schedules, the posterior, the forward process, loss weightings, the window loss,
 * embeddings, samplers; beside them the runner (law.ts), the generators (arbitraries.ts), the
 * reference maths the laws compute with (reference.ts, not exported) and this package's own adapters
 * (adapters.ts). Generators deliberately reach the boundaries: t = 0 and t = 1, W = 1, n_cln = 0 and
 * n_cln = W − 1, s = t, the ends of the logSNR range.
 */
export * from './law.js';
export { lawArbitraries } from './arbitraries.js';
export * from './localTimeLaws.js';
export * from './scheduleLaws.js';
export * from './posteriorLaws.js';
export * from './processLaws.js';
export * from './weightingLaws.js';
export * from './lossLaws.js';
export * from './embeddingLaws.js';
export * from './samplerLaws.js';
export * from './adapters.js';
