/**
 * nn: layers, optimizers, EMA and checkpoints on top of `core`, in the style of Equinox and optax.
 * Parameters, gradients and optimizer states are plain pytrees of tensors; a layer is a value
 * `{ init(key) -> params, apply(params, x, options?) -> y }`; an optimizer is
 * `{ init(params) -> state, update(grads, state, params) -> { updates, state } }`.
 */
export type { Layer, ParamsOf, RunOptions } from './layers/layer.js';
export { countParameters } from './layers/layer.js';
export type { Initializer, FanMode, Distribution } from './layers/init.js';
export { fans, truncatedNormal, varianceScaling, lecunNormal, heNormal, glorotUniform, kaimingUniformSqrt5, torchBiasInit, normalInit, zerosInit, onesInit } from './layers/init.js';
export { linear, type LinearConfig, type LinearParams } from './layers/linear.js';
export { conv2d, type Conv2dConfig, type Conv2dParams } from './layers/conv2d.js';
export { layerNorm, type LayerNormConfig, type LayerNormParams } from './layers/layerNorm.js';
export { groupNorm, type GroupNormConfig, type GroupNormParams } from './layers/groupNorm.js';
export { rmsNorm, type RmsNormConfig, type RmsNormParams } from './layers/rmsNorm.js';
export { dropout, type DropoutConfig, type DropoutParams } from './layers/dropout.js';
export { embedding, type EmbeddingConfig, type EmbeddingParams } from './layers/embedding.js';
export { mlp, type MlpConfig, type MlpParams } from './layers/mlp.js';
export { attention, causalMask, type AttentionConfig, type AttentionParams, type AttentionOptions } from './layers/attention.js';
export { spatialAttention, temporalAttention } from './layers/axialAttention.js';
export { fourierFeatures, type FourierFeaturesConfig, type FourierFeaturesParams } from './layers/fourierFeatures.js';
export { sequential, activation, type AnyLayer } from './layers/sequential.js';
export { resBlock, type ResBlockConfig, type ResBlockParams, type ConditionedLayer } from './layers/resBlock.js';
export { videoTransformerBlock, type VideoTransformerBlockConfig, type VideoTransformerBlockParams } from './layers/videoTransformerBlock.js';
export { uvit, uvitPresets, patchify, unpatchify, type UViT, type UViTConfig, type UViTParams } from './uvit.js';

export { chain, applyUpdates, flatTransform, type GradientTransformation, type LearningRateSchedule } from './optim/transform.js';
export { disposeStale, jitMinimizeStep, minimizer, minimizeStep, type JittedMinimizeStep, type MinimizeState, type Minimizer, type MinimizerOptions } from './optim/memory.js';
export { constantSchedule, warmupSchedule, cosineDecaySchedule, warmupCosineDecaySchedule, asSchedule } from './optim/schedule.js';
export { sgd, trace, type SgdConfig, type SgdState, type TraceState } from './optim/sgd.js';
export { adam, adamw, scaleByAdam, type AdamConfig, type AdamWConfig, type AdamState, type ScaleByAdamConfig } from './optim/adam.js';
export { addDecayedWeights, scaleByLearningRate, type StepState } from './optim/scale.js';
export { clipByGlobalNorm, globalNorm, type ClipState } from './optim/clip.js';
export { ema, type Ema, type EmaConfig, type EmaState } from './optim/ema.js';

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
} from './safetensors.js';
