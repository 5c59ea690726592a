/**
 * A 2-D convolution layer on channels-last images (NHWC input, HWIO kernel, as Flax's `Conv`).
 * Inputs with more leading axes ([batch, frames, H, W, C]) are folded into the batch, so the same
 * layer applies a per-frame convolution to video.
 */
import { add, conv2d as convOp, reshape, split, type Key, type Padding, type Tensor } from '../../core/index.js';
import { lecunNormal, zerosInit, type Initializer } from './init.js';
import { pair, positiveInteger, type Layer, scopedLayer } from './layer.js';

export interface Conv2dConfig {
  inChannels: number;
  outChannels: number;
  kernelSize: number | readonly [number, number];
  stride?: number | readonly [number, number];
  /** Default 'same' (Flax's default; PyTorch's is 0, i.e. 'valid'). */
  padding?: Padding;
  bias?: boolean;
  kernelInit?: Initializer;
  biasInit?: Initializer;
}

export interface Conv2dParams {
  weight: Tensor;
  bias?: Tensor;
}

export function conv2d(config: Conv2dConfig): Layer<Conv2dParams> {
  const inC = positiveInteger('conv2d', 'inChannels', config.inChannels);
  const outC = positiveInteger('conv2d', 'outChannels', config.outChannels);
  const [kh, kw] = pair(config.kernelSize);
  positiveInteger('conv2d', 'kernelSize', kh);
  positiveInteger('conv2d', 'kernelSize', kw);
  const stride = config.stride ?? 1;
  const padding = config.padding ?? 'same';
  const useBias = config.bias ?? true;
  const kernelInit = config.kernelInit ?? lecunNormal();
  const biasInit = config.biasInit ?? zerosInit;
  return scopedLayer({
    init(key: Key): Conv2dParams {
      const [kWeight, kBias] = split(key, 2);
      const weight = kernelInit(kWeight!, [kh, kw, inC, outC]);
      return useBias ? { weight, bias: biasInit(kBias!, [outC]) } : { weight };
    },
    apply(params: Conv2dParams, x: Tensor): Tensor {
      if (x.rank < 4) throw new Error(`conv2d: expected [..., height, width, channels] with at least one batch axis, got [${x.shape}]`);
      if (x.shape[x.rank - 1] !== inC) throw new Error(`conv2d: expected ${inC} input channels, got shape [${x.shape}]`);
      const lead = x.shape.slice(0, -3);
      const x4 = x.rank === 4 ? x : reshape(x, [-1, ...x.shape.slice(-3)]);
      let y = convOp(x4, params.weight, { stride, padding });
      if (params.bias) y = add(y, params.bias);
      return x.rank === 4 ? y : reshape(y, [...lead, ...y.shape.slice(1)]);
    },
  });
}
