/**
 * A custom layer: a value with `init(key) -> params` and `apply(params, x) -> y`, nothing more.
 * This one is a gated residual block, y = x + linear_out(silu(linear_a(norm(x))) * sigmoid(linear_b(norm(x)))),
 * built from the library's layers; it composes with `sequential`, `grad` and any optimizer like a
 * built-in layer, because its parameters are a plain pytree.
 *
 *   npx tsx examples/custom-layer.ts
 */
import { add, foldIn, key, matmul, mean, mul, normal, sigmoid, silu, split, square, sub, tensor, type Key, type Tensor } from 'rolling-diffusion';
import {
  adamw,
  countParameters,
  layerNorm,
  linear,
  minimizeStep,
  sequential,
  type Layer,
  type LayerNormParams,
  type LinearParams,
  type MinimizeState,
} from 'rolling-diffusion/nn';

/** A one-element tensor's value. */
const scalar = async (t: Tensor): Promise<number> => (await t.toArray())[0]!;

interface GatedBlockParams {
  norm: LayerNormParams;
  value: LinearParams;
  gate: LinearParams;
  out: LinearParams;
}

function gatedBlock({ features, hidden }: { features: number; hidden: number }): Layer<GatedBlockParams> {
  const norm = layerNorm({ features });
  const value = linear({ inFeatures: features, outFeatures: hidden });
  const gate = linear({ inFeatures: features, outFeatures: hidden });
  const out = linear({ inFeatures: hidden, outFeatures: features });
  return {
    init(k: Key): GatedBlockParams {
      const [k1, k2, k3, k4] = split(k, 4) as [Key, Key, Key, Key];
      return { norm: norm.init(k1), value: value.init(k2), gate: gate.init(k3), out: out.init(k4) };
    },
    apply(p: GatedBlockParams, x: Tensor): Tensor {
      const h = norm.apply(p.norm, x);
      return add(x, out.apply(p.out, mul(silu(value.apply(p.value, h)), sigmoid(gate.apply(p.gate, h)))));
    },
  };
}

// Two custom blocks between an input and an output projection: a regression from 4 to 2 features.
const model = sequential(
  linear({ inFeatures: 4, outFeatures: 16 }),
  gatedBlock({ features: 16, hidden: 32 }),
  gatedBlock({ features: 16, hidden: 32 }),
  linear({ inFeatures: 16, outFeatures: 2 }),
);
type Params = ReturnType<typeof model.init>;

const x = normal(foldIn(key(1), 0), [128, 4]);
const w = tensor([[1, -1], [0.5, 2], [-2, 0], [0, 1]]);
// A smooth nonlinear target, (x·w)² / 10, that no linear model fits.
const y = mul(square(matmul(x, w)), 0.1);

const lossFn = (p: Params): Tensor => mean(square(sub(model.apply(p, x), y)));
const optimizer = adamw({ learningRate: 0.01, weightDecay: 1e-4 });
const params = model.init(key(0));
console.log(`parameters: ${countParameters(params)}`);
let state: MinimizeState<Params, ReturnType<typeof optimizer.init>> = { params, opt: optimizer.init(params) };
let firstLoss = Number.NaN;
for (let step = 1; step <= 200; step++) {
  state = minimizeStep(lossFn, optimizer, state);
  if (step === 1) firstLoss = await scalar(state.loss!);
}
const lastLoss = await scalar(state.loss!);
console.log(`loss ${firstLoss.toFixed(4)} -> ${lastLoss.toFixed(4)}`);
if (!(lastLoss < firstLoss / 5)) throw new Error(`the model with custom layers did not learn: ${firstLoss} -> ${lastLoss}`);
