// Ranking the feasible regions. The entry peer knows regions only by their summaries, so the score is coarse:
//
//   score = totalFree.cpu / max  +  totalFree.memoryMiB / max                         ∈ [0, 2]
//         + 4 × mean over latency constraints of  exp(−d / reach)                    ∈ [0, 4]
//
// The first line is ROM at region level (Oakestra's root scheduler also picks the cluster with the most CPU and
// memory): the maxima are over the feasible regions, so the region with the most of both scores 2.
//
// The second line serves latency constraints: d is the km from the region's geo centroid to the area's centre, and
// reach = thresholdMs × 100 km/ms is how far fibre gets within the bound. Proximity decays by e per reach, smoothly
// (the summary cannot tell which node the leader would use, so there is no cliff at the threshold), and its weight
// lets closeness come first: a region half a reach nearer outweighs any difference in capacity (4 × (1 − e^−½) ≈ 1.6
// against at most 2, and more whenever the nearer one is also roomy), since a roomy region too far away cannot meet
// the bound at all. A region with no located nodes gets 0 there: nothing says it is near.
import { FIBRE_KM_PER_RTT_MS, GeoTarget } from '../geo.js'
import type { RegionContext } from '../stack.js'

export const PROXIMITY_WEIGHT = 4

/** The score of each region `feasible[k]`, in the same order. */
export function regionScore (ctx: RegionContext, feasible: readonly number[]): number[] {
  const { regions } = ctx
  let maxCpu = 0
  let maxMem = 0
  for (const i of feasible) {
    maxCpu = Math.max(maxCpu, regions[i].totalFree.cpu)
    maxMem = Math.max(maxMem, regions[i].totalFree.memoryMiB)
  }
  const areas: Array<{ center: GeoTarget, reachKm: number }> = []
  for (const c of ctx.spec.constraints) {
    if (c.type === 'latency') areas.push({ center: new GeoTarget(ctx.areas[c.area].center), reachKm: Math.max(c.thresholdMs, 0) * FIBRE_KM_PER_RTT_MS })
  }

  return feasible.map(i => {
    const r = regions[i]
    let score = (maxCpu > 0 ? Math.max(0, r.totalFree.cpu) / maxCpu : 0) + (maxMem > 0 ? Math.max(0, r.totalFree.memoryMiB) / maxMem : 0)
    if (areas.length > 0 && r.geo !== null) {
      let proximity = 0
      for (const a of areas) {
        const d = a.center.distanceKm(r.geo.centroid)
        proximity += a.reachKm > 0 ? Math.exp(-d / a.reachKm) : (d === 0 ? 1 : 0)
      }
      score += PROXIMITY_WEIGHT * proximity / areas.length
    }
    return score
  })
}
