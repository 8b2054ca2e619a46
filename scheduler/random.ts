// The scheduler's only source of randomness: a PRNG seeded by the caller, so a placement can be replayed exactly from
// its inputs and its seed (the way Nomad shuffles its node list). Never Math.random here.

/**
 * mulberry32: a 32-bit state PRNG, tiny and fast, with output good enough for shuffling candidates (not for
 * cryptography). Returns uniform numbers in [0, 1). Any number is a valid seed; it is taken modulo 2³².
 */
export function mulberry32 (seed: number): () => number {
  let a = (Number.isFinite(seed) ? Math.trunc(seed) : 0) >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Shuffles xs[0..n) in place, uniformly (Fisher-Yates), drawing from `rand`. In place so that the hot path allocates
 * nothing.
 */
export function shuffle (xs: Int32Array, n: number, rand: () => number): void {
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    const t = xs[i]
    xs[i] = xs[j]
    xs[j] = t
  }
}
