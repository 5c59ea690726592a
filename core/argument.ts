/**
 * Argument checks for the ops: a value that is not what an op takes is an error naming the op, the
 * argument and what was passed, instead of a NaN, a `TypeError` from deep inside, or the argument
 * handed back unchanged. Each check is one `instanceof` or `typeof` test, cheap enough for the ops
 * that run thousands of times per training step; nothing here walks a tree.
 */
import { DTYPES, type DType } from './dtype.js';
import { describeValue } from './pytree.js';
import { Tensor } from './tensor.js';

function what(x: unknown): string {
  if (Array.isArray(x)) {
    const tensors = x.filter((v) => v instanceof Tensor).length;
    if (tensors === x.length && tensors > 0) return `an array of ${tensors} tensor${tensors > 1 ? 's' : ''}`;
    if (x.every((v) => typeof v === 'number')) return `an array of ${x.length} number${x.length === 1 ? '' : 's'}`;
  }
  return describeValue(x);
}

function hint(x: unknown): string {
  if (Array.isArray(x)) return x.some((v) => v instanceof Tensor) ? '; join them into one tensor with stack or concat first' : '; make it a tensor with tensor([...]) first';
  if (typeof x === 'number') return `; make it a tensor with scalar(${x}) first`;
  if (ArrayBuffer.isView(x)) return '; make it a tensor with tensor(values, shape) first';
  return '';
}

/** The error for a non-tensor where an op needs a tensor. */
export function notATensor(op: string, argument: string, x: unknown): Error {
  return new Error(`${op}: argument ${argument} is ${what(x)}, not a tensor${hint(x)}`);
}

/** `x` must be a tensor. */
export function checkTensor(op: string, argument: string, x: unknown): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw notATensor(op, argument, x);
}

/** `x` must be a tensor or a JS number (booleans are taken as 0/1 for bool tensors). */
export function checkTensorLike(op: string, argument: string, x: unknown): void {
  if (!(x instanceof Tensor) && typeof x !== 'number' && typeof x !== 'boolean') {
    throw new Error(`${op}: argument ${argument} is ${what(x)}, not a tensor or a number${hint(x)}`);
  }
}

/** `d` must be one of the core's dtypes. */
export function checkDType(op: string, d: unknown): asserts d is DType {
  if (d !== 'float32' && d !== 'int32' && d !== 'uint32' && d !== 'bool') {
    throw new Error(`${op}: unknown dtype ${typeof d === 'string' ? `'${d}'` : describeValue(d)}; the dtypes are ${DTYPES.join(', ')}${d === 'float64' || d === 'float16' ? ' (float32 is the only float dtype)' : ''}`);
  }
}

/** `bind`'s check: every input of a primitive is a tensor (one `instanceof` per input). */
export function checkInputs(prim: string, inputs: readonly unknown[]): void {
  for (let i = 0; i < inputs.length; i++) {
    if (!(inputs[i] instanceof Tensor)) throw notATensor(prim, inputs.length === 1 ? 'x' : String(i + 1), inputs[i]);
  }
}
