/**
 * nn: layers, optimizers, EMA and checkpoints on top of `core`, in the style of Equinox and optax.
 * Parameters, gradients and optimizer states are plain pytrees of tensors; a layer is a value
 * `{ init(key) -> params, apply(params, x, options?) -> y }`; an optimizer is
 * `{ init(params) -> state, update(grads, state, params) -> { updates, state } }`.
 */
export type { Layer, ParamsOf, RunOptions } from './layers/layer';
export { countParameters } from './layers/layer';
export type { Initializer, FanMode, Distribution } from './layers/init';
export { fans, truncatedNormal, varianceScaling, lecunNormal, heNormal, glorotUniform, kaimingUniformSqrt5, torchBiasInit, normalInit, zerosInit, onesInit } from './layers/init';
export { linear, type LinearConfig, type LinearParams } from './layers/linear';
export { conv2d, type Conv2dConfig, type Conv2dParams } from './layers/conv2d';
export { layerNorm, type LayerNormConfig, type LayerNormParams } from './layers/layerNorm';
export { groupNorm, type GroupNormConfig, type GroupNormParams } from './layers/groupNorm';
export { rmsNorm, type RmsNormConfig, type RmsNormParams } from './layers/rmsNorm';
export { dropout, type DropoutConfig, type DropoutParams } from './layers/dropout';
export { embedding, type EmbeddingConfig, type EmbeddingParams } from './layers/embedding';
export { mlp, type MlpConfig, type MlpParams } from './layers/mlp';
export { attention, causalMask, type AttentionConfig, type AttentionParams, type AttentionOptions } from './layers/attention';
export { spatialAttention, temporalAttention } from './layers/axialAttention';
export { fourierFeatures, type FourierFeaturesConfig, type FourierFeaturesParams } from './layers/fourierFeatures';
export { sequential, activation, type AnyLayer } from './layers/sequential';
export { resBlock, type ResBlockConfig, type ResBlockParams, type ConditionedLayer } from './layers/resBlock';
export { videoTransformerBlock, type VideoTransformerBlockConfig, type VideoTransformerBlockParams } from './layers/videoTransformerBlock';
export { uvit, uvitPresets, patchify, unpatchify, type UViT, type UViTConfig, type UViTParams } from './uvit';

export { chain, applyUpdates, type GradientTransformation, type LearningRateSchedule } from './optim/transform';
export { disposeStale, minimizeStep, type MinimizeState } from './optim/memory';
export { constantSchedule, warmupSchedule, cosineDecaySchedule, warmupCosineDecaySchedule, asSchedule } from './optim/schedule';
export { sgd, type SgdConfig, type SgdState } from './optim/sgd';
export { adam, adamw, type AdamConfig, type AdamWConfig, type AdamState } from './optim/adam';
export { clipByGlobalNorm, globalNorm, type ClipState } from './optim/clip';
export { ema, type Ema, type EmaConfig, type EmaState } from './optim/ema';

export {
  saveSafetensors,
  loadSafetensors,
  readSafetensorsMetadata,
  serializeSafetensors,
  deserializeSafetensors,
  decodeSafetensors,
  MAX_HEADER_BYTES,
  type SafetensorsMetadata,
  type Loaded,
  type LoadOptions,
} from './safetensors';
