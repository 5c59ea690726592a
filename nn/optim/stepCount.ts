/** The step counter every stateful transformation keeps: an int32 scalar tensor. */
import { add, cast, scalar, type Tensor } from '../../core/index.js';

export const zeroStep = (): Tensor => scalar(0, 'int32');
export const nextStep = (step: Tensor): Tensor => add(step, scalar(1, 'int32'));
export const stepAsFloat = (step: Tensor): Tensor => cast(step, 'float32');
