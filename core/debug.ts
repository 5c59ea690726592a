/**
 * The debug-NaN mode, as JAX's `jax_debug_nans`: while it is on, every primitive's float32 output is
 * read back and the first op that turns finite inputs into NaN or ±Infinity throws, naming the op,
 * where the first bad value is, and the shapes of its inputs; the stack trace then points at the line
 * of the model that called it. Off (the default) it costs `bind` one boolean test. On, it reads every
 * output synchronously, so it needs a backend whose memory is on the host (cpu, wasm) and is slow:
 * turn it on to find a NaN, not to train.
 */
import type { Tensor } from './tensor.js';

/** Read by `bind` on every op; change it with `setDebugNans`. */
export const debugNans = { on: false };

/** Turn the debug-NaN mode on or off (`rolling … --debug-nans` turns it on). */
export function setDebugNans(on: boolean): void {
  debugNans.on = on;
}

function firstNonFinite(t: Tensor, op: string): number {
  if (t.dtype !== 'float32' || t.size === 0) return -1;
  const s = t.live(op);
  if (!s.backend.readSync) {
    throw new Error(`debug-nans: the ${s.backend.name} backend cannot read values synchronously; find NaNs on the cpu or wasm backend`);
  }
  const v = s.backend.readSync(s.buffer, t.dtype, t.size);
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return i;
  return -1;
}

/** @internal `bind`'s hook: throws when `out` holds NaN/±Inf and no float input did. */
export function checkFinite(prim: string, inputs: readonly Tensor[], out: Tensor): void {
  if (prim === 'reshape') return; // relabels its input's values; makes none
  const at = firstNonFinite(out, prim);
  if (at < 0) return;
  for (const t of inputs) if (firstNonFinite(t, prim) >= 0) return; // it came in; the op that made it has thrown (or it came from the host)
  const s = out.live(prim);
  const value = s.backend.readSync!(s.buffer, out.dtype, out.size)[at]!;
  const shapes = inputs.map((t) => `${t.dtype}[${t.shape.join(',')}]`).join(', ');
  throw new Error(`debug-nans: ${prim} produced ${value} at index ${at} of its float32[${out.shape.join(',')}] output from finite inputs ${shapes || '(none)'}; the stack below shows which line called it`);
}
