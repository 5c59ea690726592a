/**
 * The package's `rolling-diffusion/experiments` entry under the `browser` export condition (Vite,
 * esbuild, webpack building for a browser pick it): the experiments that run in a page (moving
 * shapes, Kolmogorov flow, metrics and FSD, the presets, generation and evaluation), without the
 * ones that need Node's file system or zlib (BAIR TFRecords, .npy/.npz, PNG and GIF files, the
 * trainer, the command line). test/package/entries.test.ts checks that nothing Node-only is reachable
 * from here.
 */
import '../index.js';
export * from '../experiments/protobuf.js';
export * from '../experiments/crc32c.js';
export * from '../experiments/kolmogorov.js';
export * from '../experiments/shapes.js';
export * from '../experiments/fft.js';
export * from '../experiments/metrics.js';
export * from '../experiments/fsd.js';
export * from '../experiments/presets.js';
export * from '../experiments/generate.js';
export * from '../experiments/evaluate.js';
