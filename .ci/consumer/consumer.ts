// A TypeScript consumer, type-checked with moduleResolution NodeNext, strict, exactOptionalPropertyTypes and
// no skipLibCheck (tsconfig.json here): every entry's declarations, used the way the README shows.
import { grad, key, matmul, mean, normal, square, sub, tensor, tidy, type Key, type Tensor } from 'rolling-diffusion';
import { adam, linear, minimizeStep, type LinearParams, type MinimizeState, type AdamState } from 'rolling-diffusion/nn';
import { cosineSchedule, linearLocalTimes, frameCategories, type RollingConfig } from 'rolling-diffusion/diffusion';
import { movingShapes, fsd } from 'rolling-diffusion/experiments';

const k: Key = key(0);
const layer = linear({ inFeatures: 3, outFeatures: 1 });
const x: Tensor = normal(k, [8, 3]);
const y = matmul(x, tensor([[1], [2], [3]]));
const lossFn = (p: LinearParams): Tensor => mean(square(sub(layer.apply(p, x), y)));
const optimizer = adam({ learningRate: 0.1 });
const params = layer.init(k);
let state: MinimizeState<LinearParams, AdamState> = { params, opt: optimizer.init(params) };
state = minimizeStep(lossFn, optimizer, state);
const g: LinearParams = tidy(() => grad(lossFn)(state.params));
const schedule = cosineSchedule();
const config: RollingConfig = { window: 4, cleanFrames: 1, schedule };
const times: number[] = linearLocalTimes(config)(0.5);
const categories: { clean: number[]; noise: number[]; window: number[] } = frameCategories([0, 0, 0, 0], times);
const clip: Float32Array = movingShapes({ frames: 2, size: 8 });
const distance: Promise<number> = fsd(normal(k, [4, 2, 2]), normal(k, [4, 2, 2]));
console.log(g.weight.shape, schedule.alpha(0.5), categories.window, clip.length, await distance);
