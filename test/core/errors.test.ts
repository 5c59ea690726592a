/**
 * Errors say what to do: a shape or dtype mismatch names the op and both shapes, a bad axis names the
 * axis and the rank, and nothing reaches a backend with a shape it cannot hold.
 */
import { expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import { dispose, foldIn, grad, key, randint, setBackend, split, tidy, treeZipMap, valueAndGrad, vjp, type Tensor } from '../../index.js';
import { describeBackends, onesOf, read } from './harness.js';

const f = onesOf;

/** `fn` throws inside a scope (so nothing leaks) with a message matching every pattern. */
function throwsWith(fn: () => unknown, ...patterns: (string | RegExp)[]): void {
  let message = '';
  try {
    tidy(() => {
      fn();
    });
  } catch (e) {
    message = (e as Error).message;
  }
  expect(message, 'expected an error').not.toBe('');
  for (const p of patterns) {
    if (typeof p === 'string') expect(message).toContain(p);
    else expect(message).toMatch(p);
  }
}

describeBackends('errors', (backend) => {
  it('matmul names both shapes: inner dimensions, batch dimensions, rank 0, dtype', () => {
    throwsWith(() => o.matmul(f([2, 3]), f([4, 5])), 'matmul: inner dimensions differ: [2,3] @ [4,5]');
    throwsWith(() => o.matmul(f([3]), f([4])), 'matmul: inner dimensions differ: [3] @ [4]');
    throwsWith(() => o.matmul(f([2, 2, 3]), f([3, 3, 4])), 'matmul', '[2,2,3] @ [3,3,4]', /cannot be broadcast/);
    throwsWith(() => o.matmul(f([]), f([3])), 'matmul: operands must have rank ≥ 1, got [] @ [3]');
    throwsWith(() => o.matmul(f([2, 2], 'int32'), f([2, 2], 'int32')), 'matmul: expects float32, got int32');
    throwsWith(() => o.matmulPrim(f([2, 3]), f([3, 2]), false, false), 'matmul primitive: expects rank-3 operands, got [2,3] and [3,2]');
    throwsWith(() => o.matmulPrim(f([2, 1, 3]), f([3, 3, 2]), false, false), 'matmul: batch dimensions differ: [2,1,3] @ [3,3,2]');
  });

  it('element-wise ops name the op and both shapes when broadcasting fails, and both dtypes when they differ', () => {
    throwsWith(() => o.add(f([2, 3]), f([4])), 'add: shapes cannot be broadcast together: [2,3] and [4]', 'axis 1: 3 vs 4');
    throwsWith(() => o.mul(f([2, 1, 3]), f([5, 2])), 'mul: shapes cannot be broadcast together: [2,1,3] and [5,2]');
    throwsWith(() => o.less(f([3]), f([2])), 'lt: shapes cannot be broadcast together: [3] and [2]');
    throwsWith(() => o.where(f([2], 'bool'), f([3]), f([4])), 'where: shapes cannot be broadcast together: [2] and [3] and [4]');
    throwsWith(() => o.add(f([2]), f([2], 'int32')), 'add: dtypes differ: float32[2] and int32[2]; cast one of them');
    throwsWith(() => o.where(f([2], 'bool'), f([2]), f([2], 'int32')), 'where: dtypes differ');
    throwsWith(() => o.concat([f([2]), f([2], 'int32')]), 'concat: dtypes differ');
  });

  it('dtype misuse says what to do', () => {
    throwsWith(() => o.exp(f([2], 'int32')), 'exp: expects float32, got int32[2]; cast it first');
    throwsWith(() => o.neg(f([2], 'bool')), 'neg: expects float32 or int32, got bool');
    throwsWith(() => o.add(f([2], 'bool'), f([2], 'bool')), 'add: not defined for bool');
    throwsWith(() => o.bitwiseAnd(f([2]), f([2])), 'bitand: not defined for float32');
    throwsWith(() => o.where(f([2]), f([2]), f([2])), 'where: the condition must be bool, got float32; compare first');
    throwsWith(() => o.cumsum(f([2], 'bool')), 'cumsum: cast bool to int32 or float32 first');
    throwsWith(() => o.bitcast(f([2], 'bool'), 'float32'), 'bitcast: only between 32-bit dtypes, got bool → float32');
    throwsWith(() => o.scatterAddPrim(f([2]), f([2]), 0, 3), 'scatterAdd: indices must be int32, got float32');
  });

  it('bad axes name the op, the axis and the rank', () => {
    throwsWith(() => o.sum(f([2, 3]), 2), 'sum: axis 2 is out of range for a tensor of rank 2');
    throwsWith(() => o.mean(f([2, 3]), -3), 'mean: axis -3 is out of range for a tensor of rank 2');
    throwsWith(() => o.max(f([2, 3]), 0.5), 'max: axis 0.5 is out of range');
    throwsWith(() => o.softmax(f([3]), 1), 'softmax: axis 1 is out of range for a tensor of rank 1');
    throwsWith(() => o.logSoftmax(f([3]), -2), 'logSoftmax: axis -2 is out of range for a tensor of rank 1');
    throwsWith(() => o.logSumExp(f([3]), 4), 'logSumExp: axis 4 is out of range');
    throwsWith(() => o.cumsum(f([3]), 1), 'cumsum: axis 1 is out of range');
    throwsWith(() => o.argmax(f([3]), 2), 'argmax: axis 2 is out of range');
    throwsWith(() => o.concat([f([3]), f([3])], 1), 'concat: axis 1 is out of range for a tensor of rank 1');
    throwsWith(() => o.stack([f([3])], 2), 'stack: axis 2 is out of range');
    throwsWith(() => o.expandDims(f([3]), 3), 'expandDims: axis 3 is out of range');
    throwsWith(() => o.take(f([3]), f([1], 'int32'), 1), 'take: axis 1 is out of range');
    throwsWith(() => o.transpose(f([2, 3]), [0, 5]), 'transpose: axis 5 is out of range');
    throwsWith(() => o.transpose(f([2, 3]), [0, 0]), 'transpose: perm [0,0] is not a permutation of the 2 axes of [2,3]');
    throwsWith(() => o.transpose(f([2, 3]), [0]), 'transpose: perm [0] is not a permutation');
    throwsWith(() => o.squeeze(f([2, 1]), 0), 'squeeze: axis 0 of [2,1] has size 2, not 1');
    throwsWith(() => o.argmax(f([2, 0]), 1), 'argmax: axis 1 has size 0');
    throwsWith(() => o.max(f([0]), 0), 'max: axis 0 of [0] is empty');
  });

  it('reshape, broadcastTo and creation reject impossible shapes before any backend sees them', () => {
    throwsWith(() => o.reshape(f([2, 3]), [4]), 'reshape: cannot reshape [2,3] (6 elements) to [4]');
    throwsWith(() => o.reshape(f([2, 3]), [-1, 4]), 'reshape: cannot reshape [2,3] (6 elements) to [-1,4]');
    throwsWith(() => o.reshape(f([2, 3]), [-1, -1]), 'reshape: only one -1 allowed in [-1,-1]');
    throwsWith(() => o.reshape(f([6]), [-2, -3]), 'reshape: invalid shape [-2,-3]: dimensions must be non-negative integers');
    throwsWith(() => o.reshape(f([6]), [2.5, 2.4]), 'reshape: invalid shape [2.5,2.4]');
    throwsWith(() => o.broadcastTo(f([2, 3]), [3]), 'broadcastTo: cannot broadcast [2,3] to [3]');
    throwsWith(() => o.broadcastTo(f([3]), [2, 4]), 'broadcastTo: shapes cannot be broadcast together: [3] and [2,4]');
    throwsWith(() => o.broadcastTo(f([6]), [-1, 6]), 'broadcastTo: invalid shape [-1,6]');
    throwsWith(() => o.tile(f([2]), [-1]), 'invalid shape');
    throwsWith(() => o.tile(f([2]), [1, 2]), 'tile: need 1 repetitions for [2]');
    throwsWith(() => o.repeat(f([2]), -1, 0), 'repeat: n must be a non-negative integer, got -1');
    throwsWith(() => o.full([-1], 1), 'full: invalid shape [-1]: dimensions must be non-negative integers');
    throwsWith(() => o.tensor([1, 2, 3], [2, 2]), 'tensor: 3 values do not fill shape [2,2] (4 elements)');
    throwsWith(() => o.tensor([[1, 2], [3]] as unknown as number[][]), 'tensor: ragged nested array: expected 2 entries at depth 1, got 1');
    throwsWith(() => o.arange(0, 1, 0), 'arange: step must not be 0');
  });

  it('slicing, padding, concatenation and splitting name the shapes involved', () => {
    throwsWith(() => o.slice(f([2, 3]), [0, 2], [2, 2]), 'slice: [0,2] + [2,2] is out of bounds for [2,3] on axis 1');
    throwsWith(() => o.slice(f([2, 3]), [0, 0, 0]), 'slice: 3 begins for a tensor of rank 2 [2,3]');
    throwsWith(() => o.slice(f([3]), [5]), 'slice:', 'out of bounds for [3]');
    throwsWith(() => o.sliceAxis(f([3]), 0, 2, 5), 'sliceAxis: [2, 5) is not a range within axis 0 of [3]');
    throwsWith(() => o.sliceAxis(f([3]), 0, 2, 1), 'sliceAxis: [2, 1) is not a range within axis 0 of [3]');
    throwsWith(() => o.matrixTranspose(f([3])), 'matrixTranspose: needs rank ≥ 2, got [3]');
    throwsWith(() => o.pad(f([2, 3]), [[1, 1]]), 'pad: need 2 [before, after] pairs for [2,3], got 1');
    throwsWith(() => o.pad(f([2]), [[-1, 0]]), 'pad: paddings must be non-negative integers, got [-1] [0]');
    throwsWith(() => o.concat([f([2, 3]), f([2, 4])], 0), 'concat: shapes differ off axis 0: [2,3], [2,4]');
    throwsWith(() => o.concat([f([2, 3]), f([2])], 1), 'concat: shapes differ off axis 1: [2,3], [2]');
    throwsWith(() => o.concat([]), 'concat: needs at least one tensor');
    throwsWith(() => o.stack([f([2]), f([3])]), 'stack: shapes differ: [2], [3]');
    throwsWith(() => o.split(f([5]), 2), 'split: axis 0 of size 5 does not divide into 2 pieces');
    throwsWith(() => o.split(f([5]), [2, 2]), 'split: sizes [2,2] do not add up to 5');
    throwsWith(() => o.split(f([5]), [-1, 6]), 'split: sizes [-1,6] must be non-negative integers');
    throwsWith(() => o.split(f([4]), -2), 'split: the number of pieces must be a positive integer, got -2');
    throwsWith(() => o.scatterAdd(f([2, 3]), f([4], 'int32'), 3, 0), 'scatterAdd: updates [2,3] must have the indices\' shape [4] at axis 0');
    throwsWith(() => o.clip(f([2]), 1, 0), 'clip: lower bound 1 exceeds upper bound 0');
  });

  it('conv2d names both shapes and what does not fit', () => {
    throwsWith(() => o.conv2d(f([3, 3, 1]), f([1, 1, 1, 1])), 'conv2d: input must be NHWC (rank 4), got [3,3,1]');
    throwsWith(() => o.conv2d(f([1, 3, 3, 1]), f([1, 1, 1])), 'conv2d: weights must be HWIO (rank 4), got [1,1,1]');
    throwsWith(() => o.conv2d(f([1, 3, 3, 2]), f([1, 1, 3, 4])), 'conv2d: input has 2 channels but the weights expect 3: [1,3,3,2] * [1,1,3,4]');
    throwsWith(() => o.conv2d(f([1, 2, 2, 1]), f([3, 3, 1, 1])), 'conv2d: kernel 3×3 does not fit input 2×2');
    throwsWith(() => o.conv2d(f([1, 3, 3, 1]), f([1, 1, 1, 1]), { stride: 0 }), 'conv2d: stride must be a positive integer, got 0');
    throwsWith(() => o.conv2d(f([1, 3, 3, 1]), f([1, 1, 1, 1]), { dilation: [1, 1.5] }), 'conv2d: dilation must be a positive integer, got 1.5');
  });

  it('the transformations say what the function must return, and vjp checks its cotangents', () => {
    throwsWith(() => grad((x: Tensor) => o.mul(x, 2))(f([3])), 'must return a scalar, got shape [3]; reduce it with sum or mean');
    throwsWith(() => grad((x: Tensor) => o.cast(o.sum(x), 'int32'))(f([3])), 'must return a float32 scalar, got int32');
    throwsWith(() => grad((_x: Tensor) => 3 as unknown as Tensor)(f([3])), 'must return a scalar tensor (or [loss, aux] with hasAux)');
    throwsWith(() => valueAndGrad((x: Tensor) => o.sum(x), { hasAux: true })(f([3])), 'must return a scalar tensor (or [loss, aux] with hasAux)');
    throwsWith(() => {
      const [, pb] = vjp((x: Tensor) => o.mul(x, 2), f([3]));
      pb(f([2]));
    }, 'vjp: cotangent 0 is float32[2] but the output is float32[3]');
    throwsWith(() => {
      const [, pb] = vjp((x: Tensor) => [o.mul(x, 2), x], f([3]));
      pb([f([3])] as unknown as Tensor[]);
    }, 'vjp: the cotangent has 1 tensors but the output has 2');
    throwsWith(() => treeZipMap([{ a: f([1]) }, { b: f([1]) }] as { a: Tensor }[], ([x]) => x!), "treeZipMap: tree 1 has no key 'a'");
  });

  it('an op on tensors of two backends names both', async () => {
    const other = backend === 'cpu' ? 'wasm' : 'cpu';
    try {
      await setBackend(other);
    } catch {
      return; // that backend cannot start here; nothing to mix
    }
    const there = f([2]);
    await setBackend(backend);
    const here = f([2]);
    expect(() => o.add(here, there)).toThrow(new RegExp(`add: inputs live on different backends \\(${backend} and ${other}\\); move them with toBackend\\(\\)`));
    const moved = await o.toBackend(there, backend);
    const sum = o.add(here, moved);
    expect(await read(sum)).toEqual([2, 2]);
    dispose([there, here, moved, sum]);
  });

  it('keys and backends reject bad arguments', async () => {
    expect(() => key(-1)).toThrow('key: the seed must be a non-negative safe integer, got -1');
    expect(() => key(1.5)).toThrow('key: the seed must be a non-negative safe integer');
    expect(() => split(key(0), 0)).toThrow('split: n must be a positive integer, got 0');
    expect(() => foldIn(key(0), 0.5)).toThrow('foldIn: data must be an integer, got 0.5');
    throwsWith(() => randint(key(0), [2], 3, 3), 'randint: need integers lo < hi, got [3, 3)');
    expect(() => setBackend('no-such-backend')).toThrow(/setBackend: unknown backend 'no-such-backend'; registered: .*cpu/);
  });
});
