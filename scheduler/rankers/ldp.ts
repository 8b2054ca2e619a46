// LDP, latency- and distance-aware placement (Oakestra's paper, USENIX ATC '23): among the nodes that meet every
// constraint, prefer the one closest to the users (S2U) and to the services it talks to (S2S).
//
// The terms are the distances the filters measured (filters/geo.ts, filters/connectivity.ts): km to each geo target,
// estimated ms to each latency area, estimated ms to the nearest instance of each connected service. Each is divided
// by its bound (the geo threshold plus the area radius, the latency threshold, the connection's latencyMs), so a node
// that just meets a constraint has 1 on it; an unbounded connection is divided by the largest value among this
// pick's candidates instead. The cost is the mean of the terms, and the score 1 − cost ∈ [0, 1], higher is better.
// An unknown distance (no coordinate to measure with) counts as the worst, 1.
//
// A service with no terms has nothing for LDP to say: prepare() returns null and the stack falls back on ROM.
import type { NodeContext, Ranker } from '../stack.js'

export const ldpRanker: Ranker = {
  name: 'ldp',
  prepare (ctx: NodeContext) {
    const t = ctx.termCount
    if (t === 0) return null
    // Per term, what divides it this pick: the bound, or the largest value among the feasible nodes.
    const divisors = ctx.float64(t)
    const scales = ctx.termScales
    return {
      round (feasible, count) {
        const terms = ctx.terms
        for (let k = 0; k < t; k++) {
          if (scales[k] > 0) {
            divisors[k] = scales[k]
            continue
          }
          let max = 0
          for (let f = 0; f < count; f++) {
            const v = terms[feasible[f] * t + k]
            if (v > max) max = v
          }
          divisors[k] = max
        }
      },
      score (i) {
        const terms = ctx.terms
        const base = i * t
        let cost = 0
        for (let k = 0; k < t; k++) {
          const v = terms[base + k]
          if (Number.isNaN(v)) cost += 1
          else if (divisors[k] > 0) cost += v / divisors[k]
        }
        return 1 - cost / t
      }
    }
  }
}
