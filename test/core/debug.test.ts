/**
 * The debug-NaN mode (JAX's `jax_debug_nans`): the first op that turns finite inputs into NaN or ±Inf
 * throws, naming the op and its input shapes; off, nothing is checked.
 */
import { afterEach, expect, it } from 'vitest';
import * as o from '../../core/ops.js';
import { debugNans, getBackend, grad, setDebugNans, tensor, tidy, type Tensor } from '../../index.js';
import { describeBackends, errorMessage, read } from './harness.js';

describeBackends('debug nans', () => {
  afterEach(() => setDebugNans(false));

  it('off (the default): NaN flows through silently, as in every framework', async () => {
    expect(debugNans.on).toBe(false);
    const y = tidy(() => o.mul(o.log(tensor([1, 0])), 0));
    expect((await read(y))[1]).toBeNaN();
    y.dispose();
  });

  it('on a backend without synchronous reads the mode says so at the first op', (ctx) => {
    if (getBackend().readSync) return ctx.skip();
    setDebugNans(true);
    expect(errorMessage(() => o.exp(tensor([1])))).toMatch(/^debug-nans: the \w+ backend cannot read values synchronously; find NaNs on the cpu or wasm backend/);
  });

  it('on: the first op producing NaN or Inf throws naming the op, the value and its input shapes', (ctx) => {
    if (!getBackend().readSync) return ctx.skip();
    setDebugNans(true);
    expect(errorMessage(() => o.mul(o.log(o.reshape(tensor([1, 0, 2, 3]), [2, 2])), 0))).toBe(
      'debug-nans: log produced -Infinity at index 1 of its float32[2,2] output from finite inputs float32[2,2]; the stack below shows which line called it',
    );
    expect(errorMessage(() => o.div(tensor([0, 1]), tensor([0, 1])))).toMatch(/^debug-nans: div produced NaN at index 0 of its float32\[2\] output from finite inputs float32\[2\], float32\[2\]/);
    expect(errorMessage(() => o.sqrt(o.sub(tensor([1]), 2)))).toMatch(/^debug-nans: sqrt produced NaN/);
  });

  it('on: finite computations, integer ops and values that came in non-finite do not throw', async (ctx) => {
    if (!getBackend().readSync) return ctx.skip();
    setDebugNans(true);
    const y = tidy(() => o.add(o.mul(tensor([1, 2]), 3), o.exp(tensor([0, 1]))));
    expect(await read(y)).toEqual([4, Math.fround(Math.fround(6) + Math.fround(Math.E))]);
    const bits = tidy(() => o.bitcast(tensor([NaN]), 'uint32'));
    expect(bits.dtype).toBe('uint32');
    const passed = tidy(() => o.add(tensor([NaN]), 1));
    for (const t of [y, bits, passed]) t.dispose();
  });

  it('on: a NaN made in the backward pass is caught too', (ctx) => {
    if (!getBackend().readSync) return ctx.skip();
    setDebugNans(true);
    // d/dx sqrt(x) at 0 is 1 / (2·0) = Inf: the forward pass is finite, the backward pass is not.
    const msg = errorMessage(() => grad((x: Tensor) => o.sum(o.sqrt(x)))(tensor([0, 1])));
    expect(msg).toMatch(/^debug-nans: (div|mul) produced Infinity/);
  });
});
