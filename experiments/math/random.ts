/**
 * Seeded random numbers for the data generators (moving shapes, Moving MNIST, the Kolmogorov flow's
 * initial fields and parameters): plain JavaScript numbers on the host, independent of the tensor
 * core's Threefry keys, so a clip depends on its seed alone and never on a backend. Its own module so
 * that the generators do not take their numbers from the fluid solver.
 */

/**
 * A seeded uniform generator on [0, 1): mulberry32 (Tommy Ettinger), 32 bits of state, period 2³². The seed
 * first goes through MurmurHash3's 32-bit finaliser, because mulberry32 started from adjacent states gives
 * visibly correlated early draws (seeds 0 and 1 both give a second draw below 0.003).
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  state = Math.imul(state ^ (state >>> 16), 0x85ebca6b);
  state = Math.imul(state ^ (state >>> 13), 0xc2b2ae35);
  state = (state ^ (state >>> 16)) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw from a uniform generator (Box-Muller; 1 − u keeps the logarithm finite). */
export function gaussian(rng: () => number): number {
  const u1 = 1 - rng();
  const u2 = rng();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}
