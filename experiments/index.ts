// Registers the backends (experiments may import everything; the root index is where backends are registered).
import '../index.js';
// formats/: files and records.
export * from './formats/tfrecord.js';
export * from './formats/protobuf.js';
export * from './formats/crc32c.js';
export * from './formats/npy.js';
export * from './formats/png.js';
export * from './formats/gif.js';
export * from './formats/atomicWrite.js';
// math/: the numeric building blocks.
export * from './math/fft.js';
export * from './math/random.js';
// data/: data sets and their generators.
export * from './data/bair.js';
export * from './data/kolmogorov.js';
export * from './data/kolmogorovCache.js';
export * from './data/shapes.js';
export * from './data/datasets.js';
// metrics/: what a rollout is scored by.
export * from './metrics/metrics.js';
export * from './metrics/fsd.js';
export * from './metrics/evaluate.js';
// The runs: presets, the model, training, generation.
export * from './presets.js';
export * from './trainer.js';
export * from './checkpointMetadata.js';
export * from './runLock.js';
export * from './generate.js';
export * from './mseBaseline.js';
// cli/: the command line and the pipelines it runs.
export * from './cli/reproduce.js';
export { main as rollingCli } from './cli/cli.js';
