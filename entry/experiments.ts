/**
 * The package's `rolling-diffusion/experiments` entry in Node: data sets (BAIR TFRecords, Kolmogorov
 * flow, moving shapes, Moving MNIST), metrics and FSD, image and array files, presets, the trainer and
 * the command line. Importing it registers the default backends. Browser bundlers get
 * entry/experiments.browser.ts instead (the `browser` export condition).
 * @module rolling-diffusion/experiments
 */
export * from '../experiments/index.js';
