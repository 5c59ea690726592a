/**
 * The video denoiser: a small U-ViT (Hoogeboom et al. 2023, "simple diffusion"), the architecture
 * the paper uses in every experiment (Sec. 5, Appendix C, Tables 4-6), scaled down to run on a CPU.
 *
 *   x [B, T, H, W, C], logSNR [B, T]
 *   → patchify p×p (space to depth)                          per frame, [B·T, H/p, W/p, C·p²]
 *   → 3×3 conv to channels[0]
 *   → for each level: ResBlocks (skips saved), then downsample (1, 2, 2)
 *   → transformer blocks at the lowest resolution over space and time (axial, as Table 4's
 *     "Transformer (axial)" level), with fixed sinusoidal positions in space and time
 *   → for each level in reverse: upsample (1, 2, 2), ResBlocks on [h, skip]
 *   → GroupNorm, SiLU, 3×3 conv (zero-initialised: the model predicts 0 at initialisation)
 *   → unpatchify                                             v-prediction [B, T, H, W, C]
 *
 * Conditioning is per frame: each frame's logSNR goes through Fourier features and an MLP, and that
 * frame's vector is added inside every block it passes through (ResBlocks per image, transformer
 * blocks per frame): in rolling diffusion every frame k has its own local time t_k and so its own
 * noise level (Eqs. 6-7), and the denoiser must be told each one.
 *
 * Resampling is by (1, 2, 2), never over time: down is a 2×2 average pool then a 1×1 conv to the
 * next width; up is a 1×1 conv to the level's width then nearest-neighbour ×2 (a 1×1 conv commutes
 * with nearest upsampling, so this is "nearest, then conv" at a quarter of the cost).
 */
import { add, checkpoint, concat, foldIn, mean, repeat, reshape, silu, tensor, tidy, transpose, type Key, type Tensor } from '../core/index.js';
import { conv2d, type Conv2dParams } from './layers/conv2d.js';
import { fourierFeatures } from './layers/fourierFeatures.js';
import { groupNorm, type GroupNormParams } from './layers/groupNorm.js';
import { zerosInit } from './layers/init.js';
import { countParameters, positiveInteger, type RunOptions, scopedLayer } from './layers/layer.js';
import { linear, type LinearParams } from './layers/linear.js';
import { resBlock, type ResBlockParams } from './layers/resBlock.js';
import { videoTransformerBlock, type VideoTransformerBlockParams } from './layers/videoTransformerBlock.js';

export interface UViTConfig {
  inChannels: number;
  /** Default `inChannels` (a v-prediction has the input's shape). */
  outChannels?: number;
  /** Space-to-depth factor at the input (default 1); H and W must be divisible by it·2^levels. */
  patchSize?: number;
  /** Width of each convolutional level; each level halves the resolution after its ResBlocks. */
  channels: readonly number[];
  /** ResBlocks per level on the way down (the way up has as many, each taking a skip). */
  blocksPerLevel: number | readonly number[];
  /** Width of the transformer at the lowest resolution. */
  transformerDim: number;
  transformerBlocks: number;
  heads: number;
  /** MLP hidden width / transformerDim (default 4). */
  mlpRatio?: number;
  /** Sinusoidal features of the logSNR (default 64). */
  fourierDim?: number;
  /** Width of the conditioning vector (default 4 · channels[0], at least 64). */
  condDim?: number;
  /** GroupNorm groups (default 8; must divide every width). */
  groups?: number;
  dropout?: number;
  /** Temporal attention only looks back (default false: the whole window, as rolling diffusion). */
  causal?: boolean;
  /**
   * Recompute each ResBlock and transformer block in the backward pass instead of keeping its
   * intermediates (`checkpoint`, as `jax.checkpoint` / `torch.utils.checkpoint`): the same
   * gradients, the memory of the blocks' inputs only, at the cost of one more forward pass of the
   * blocks (default false).
   */
  checkpointBlocks?: boolean;
}

export interface UViTParams {
  embed: { hidden: LinearParams; out: LinearParams };
  stem: Conv2dParams;
  down: { blocks: ResBlockParams[]; downsample: Conv2dParams }[];
  transformer: VideoTransformerBlockParams[];
  up: { upsample: Conv2dParams; blocks: ResBlockParams[] }[];
  outNorm: GroupNormParams;
  outConv: Conv2dParams;
}

export interface UViT {
  readonly config: Readonly<Required<UViTConfig>>;
  init(key: Key): UViTParams;
  /** v̂ for noisy video `z` [B, T, H, W, C] at per-frame logSNR [B, T]. */
  apply(params: UViTParams, z: Tensor, logSnr: Tensor, options?: RunOptions): Tensor;
}

/**
 * Presets. `tiny` is for CPU training on 32×32×1 clips: 4×4 patches, one convolutional level at 8×8
 * (16 channels), one axial transformer block of width 64 at 4×4. bench/nn.ts measures it (forward,
 * backward and Adam on 8 clips of 8 frames: about 2.5 steps a second of CPU time on the project's
 * machines). Patches of 2 with the convolutional level at 16×16 cost about four times as much per
 * step, which is why the patch is 4. `small` is for BAIR (64×64×3, 16 frames), Table 5's layout
 * (two convolutional levels, axial transformer at 8×8, dropout 0.1) at a fraction of the width.
 */
export const uvitPresets = {
  tiny: {
    inChannels: 1,
    patchSize: 4,
    channels: [16],
    blocksPerLevel: 1,
    transformerDim: 64,
    transformerBlocks: 1,
    heads: 2,
    mlpRatio: 2,
    fourierDim: 32,
    condDim: 64,
    groups: 8,
    dropout: 0,
  },
  small: {
    inChannels: 3,
    patchSize: 2,
    channels: [64, 128],
    blocksPerLevel: 2,
    transformerDim: 256,
    transformerBlocks: 4,
    heads: 4,
    mlpRatio: 4,
    fourierDim: 64,
    condDim: 256,
    groups: 16,
    dropout: 0.1,
  },
} as const satisfies Record<string, UViTConfig>;

function resolve(config: UViTConfig): Required<UViTConfig> {
  const levels = config.channels.length;
  if (levels < 1) throw new Error('uvit: channels needs at least one level');
  const blocks = typeof config.blocksPerLevel === 'number' ? new Array<number>(levels).fill(config.blocksPerLevel) : [...config.blocksPerLevel];
  if (blocks.length !== levels) throw new Error(`uvit: blocksPerLevel has ${blocks.length} entries for ${levels} levels`);
  const groups = config.groups ?? 8;
  for (const c of [...config.channels, config.transformerDim]) {
    positiveInteger('uvit', 'channels', c);
    if (c % groups !== 0) throw new Error(`uvit: ${groups} GroupNorm groups do not divide width ${c}`);
  }
  if (config.transformerDim % config.heads !== 0) throw new Error(`uvit: ${config.heads} heads do not divide transformerDim ${config.transformerDim}`);
  return {
    inChannels: positiveInteger('uvit', 'inChannels', config.inChannels),
    outChannels: config.outChannels ?? config.inChannels,
    patchSize: positiveInteger('uvit', 'patchSize', config.patchSize ?? 1),
    channels: [...config.channels],
    blocksPerLevel: blocks,
    transformerDim: config.transformerDim,
    transformerBlocks: config.transformerBlocks,
    heads: config.heads,
    mlpRatio: config.mlpRatio ?? 4,
    fourierDim: config.fourierDim ?? 64,
    condDim: config.condDim ?? Math.max(64, 4 * config.channels[0]!),
    groups,
    dropout: config.dropout ?? 0,
    causal: config.causal ?? false,
    checkpointBlocks: config.checkpointBlocks ?? false,
  };
}

export function uvit(config: UViTConfig): UViT {
  const c = resolve(config);
  const p = c.patchSize;
  const blocks = c.blocksPerLevel as number[];
  const widths = [...c.channels, c.transformerDim];
  const features = fourierFeatures({ dim: c.fourierDim });
  const embedHidden = linear({ inFeatures: c.fourierDim, outFeatures: c.condDim });
  const embedOut = linear({ inFeatures: c.condDim, outFeatures: c.condDim });
  const stem = conv2d({ inChannels: c.inChannels * p * p, outChannels: widths[0]!, kernelSize: 3 });
  const res = (inChannels: number, outChannels: number) => resBlock({ inChannels, outChannels, condDim: c.condDim, groups: c.groups, dropout: c.dropout });
  const downBlocks = c.channels.map((w, l) => Array.from({ length: blocks[l]! }, () => res(w, w)));
  const downsample = c.channels.map((w, l) => conv2d({ inChannels: w, outChannels: widths[l + 1]!, kernelSize: 1 }));
  const transformer = Array.from({ length: c.transformerBlocks }, () =>
    videoTransformerBlock({ dim: c.transformerDim, heads: c.heads, mlpRatio: c.mlpRatio, condDim: c.condDim, dropout: c.dropout, causal: c.causal }),
  );
  const upsample = c.channels.map((w, l) => conv2d({ inChannels: widths[l + 1]!, outChannels: w, kernelSize: 1 }));
  const upBlocks = c.channels.map((w, l) => Array.from({ length: blocks[l]! }, () => res(2 * w, w)));
  const outNorm = groupNorm({ channels: widths[0]!, groups: c.groups });
  const outConv = conv2d({ inChannels: widths[0]!, outChannels: c.outChannels * p * p, kernelSize: 3, kernelInit: zerosInit });
  const levels = c.channels.length;
  // One wrapper per block object, so each is checkpointed as a whole (its params, input and conditioning).
  const remat = <L extends { apply: (...a: never[]) => Tensor }>(layer: L): L['apply'] => (c.checkpointBlocks ? checkpoint(layer.apply) : layer.apply);
  const downApply = downBlocks.map((bs) => bs.map(remat));
  const transformerApply = transformer.map(remat);
  const upApply = upBlocks.map((bs) => bs.map(remat));

  return scopedLayer({
    config: c,
    init(key: Key): UViTParams {
      // One stream per part and index (folded in), so adding a block leaves the others' draws as they were.
      const k = (...path: number[]) => path.reduce(foldIn, key);
      return tidy(() => ({
        embed: { hidden: embedHidden.init(k(0, 0)), out: embedOut.init(k(0, 1)) },
        stem: stem.init(k(1)),
        down: downBlocks.map((bs, l) => ({
          blocks: bs.map((b, i) => b.init(k(2, l, i))),
          downsample: downsample[l]!.init(k(3, l)),
        })),
        transformer: transformer.map((b, i) => b.init(k(4, i))),
        up: upBlocks.map((bs, l) => ({
          upsample: upsample[l]!.init(k(5, l)),
          blocks: bs.map((b, i) => b.init(k(6, l, i))),
        })),
        outNorm: outNorm.init(k(7)),
        outConv: outConv.init(k(8)),
      }));
    },
    apply(params: UViTParams, z: Tensor, logSnr: Tensor, options: RunOptions = {}): Tensor {
      if (z.rank !== 5) throw new Error(`uvit: expected video [batch, frames, height, width, channels], got [${z.shape}]`);
      const [b, t, height, width, channels] = z.shape as [number, number, number, number, number];
      if (channels !== c.inChannels) throw new Error(`uvit: expected ${c.inChannels} channels, got [${z.shape}]`);
      if (logSnr.rank !== 2 || logSnr.shape[0] !== b || logSnr.shape[1] !== t) throw new Error(`uvit: logSnr must be [batch, frames] = [${b},${t}] (one noise level per frame), got [${logSnr.shape}]`);
      const factor = p * 2 ** levels;
      if (height % factor !== 0 || width % factor !== 0) throw new Error(`uvit: height and width (${height}×${width}) must be divisible by ${factor} (patch ${p} × 2^${levels} levels)`);
      const n = b * t;
      let counter = 0;
      // Every block draws from its own stream, so dropout masks never repeat across blocks.
      const opts = (): RunOptions => (options.key ? { ...options, key: foldIn(options.key, counter++) } : options);

      const emb = silu(embedOut.apply(params.embed.out, silu(embedHidden.apply(params.embed.hidden, features.apply({}, logSnr)))));
      const condPerImage = reshape(emb, [n, c.condDim]);

      let h = stem.apply(params.stem, patchify(reshape(z, [n, height, width, channels]), p));
      const skips: Tensor[] = [];
      for (let l = 0; l < levels; l++) {
        params.down[l]!.blocks.forEach((bp, i) => {
          h = downApply[l]![i]!(bp, h, condPerImage, opts());
          skips.push(h);
        });
        h = downsample[l]!.apply(params.down[l]!.downsample, averagePool2(h));
      }

      const [, lh, lw, dim] = h.shape as [number, number, number, number];
      let v = add(reshape(h, [b, t, lh, lw, dim]), positions(t, lh, lw, dim));
      params.transformer.forEach((tp, i) => {
        v = transformerApply[i]!(tp, v, emb, opts());
      });
      h = reshape(v, [n, lh, lw, dim]);

      for (let l = levels - 1; l >= 0; l--) {
        h = nearestUp2(upsample[l]!.apply(params.up[l]!.upsample, h));
        params.up[l]!.blocks.forEach((bp, i) => {
          h = upApply[l]![i]!(bp, concat([h, skips.pop()!], -1), condPerImage, opts());
        });
      }
      h = outConv.apply(params.outConv, silu(outNorm.apply(params.outNorm, h)));
      return reshape(unpatchify(h, p, c.outChannels), [b, t, height, width, c.outChannels]);
    },
  });
}

/** [N, H, W, C] → [N, H/p, W/p, p·p·C], each p×p patch's pixels stacked as channels. */
export function patchify(x: Tensor, p: number): Tensor {
  if (p === 1) return x;
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const blocks = transpose(reshape(x, [n, h / p, p, w / p, p, c]), [0, 1, 3, 2, 4, 5]);
  return reshape(blocks, [n, h / p, w / p, p * p * c]);
}

/** The inverse of `patchify`. */
export function unpatchify(x: Tensor, p: number, channels: number): Tensor {
  if (p === 1) return x;
  const [n, hp, wp] = x.shape as [number, number, number, number];
  const blocks = transpose(reshape(x, [n, hp, wp, p, p, channels]), [0, 1, 3, 2, 4, 5]);
  return reshape(blocks, [n, hp * p, wp * p, channels]);
}

function averagePool2(x: Tensor): Tensor {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  return mean(reshape(x, [n, h / 2, 2, w / 2, 2, c]), [2, 4]);
}

function nearestUp2(x: Tensor): Tensor {
  return repeat(repeat(x, 2, 1), 2, 2);
}

const positionCache = new Map<string, Float32Array>();

/**
 * Fixed sinusoidal positions (Vaswani et al. 2017): half the width encodes (row, column) as in
 * MAE's 2-D embedding, added to a full-width encoding of the frame index. Host constants, cached by
 * shape; the tensor is made per call so that no cached tensor outlives a `tidy`.
 */
function positions(frames: number, height: number, width: number, dim: number): Tensor {
  const cacheKey = `${frames}x${height}x${width}x${dim}`;
  let data = positionCache.get(cacheKey);
  if (!data) {
    data = new Float32Array(frames * height * width * dim);
    const quarter = Math.floor(dim / 4);
    const half = Math.floor(dim / 2);
    const sincos = (out: Float32Array, at: number, pos: number, count: number) => {
      for (let i = 0; i < count; i++) {
        const angle = pos / 10000 ** (i / count);
        out[at + i] += Math.sin(angle);
        out[at + count + i] += Math.cos(angle);
      }
    };
    for (let f = 0; f < frames; f++) {
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const at = ((f * height + y) * width + x) * dim;
          sincos(data, at, y, quarter);
          sincos(data, at + 2 * quarter, x, quarter);
          sincos(data, at, f, half);
        }
      }
    }
    positionCache.set(cacheKey, data);
  }
  return tensor(data, [1, frames, height, width, dim]);
}

