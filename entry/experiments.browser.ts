/**
 * The package's `rolling-diffusion/experiments` entry under the `browser` export condition (Vite,
 * esbuild, webpack building for a browser pick it): the experiments that run in a page (moving
 * shapes, Kolmogorov flow, metrics and FSD, the presets, the training step, generation and
 * evaluation), without the ones that need Node's file system or zlib (BAIR TFRecords, .npy/.npz, PNG
 * and GIF files, the trainer's checkpointing loop, the command line). test/package/entries.test.ts
 * checks that nothing Node-only is reachable from here.
 */
import '../index.js';
export * from '../experiments/formats/protobuf.js';
export * from '../experiments/formats/crc32c.js';
export * from '../experiments/math/random.js';
export * from '../experiments/data/kolmogorov.js';
export * from '../experiments/data/shapes.js';
export * from '../experiments/math/fft.js';
export * from '../experiments/metrics/metrics.js';
export * from '../experiments/metrics/fsd.js';
export * from '../experiments/presets.js';
export * from '../experiments/step.js';
export * from '../experiments/generate.js';
export * from '../experiments/metrics/evaluate.js';
