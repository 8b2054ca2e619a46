// The scheduler's pipelines, declared in one place (after Nomad's scheduler/feasible/stack.go): which feasibility
// checks run, in what order, and which rankers score the survivors with what weight. Every rejection has a named
// reason and every ranker a named score, so that any decision can be explained (explain.ts) and, with its seed,
// replayed exactly.
//
//   selectNodes (region leader)                       selectRegions (entry peer)
//   ─────────────────────────────                     ─────────────────────────
//   unknown area? ── yes ─▶ every node rejected       unknown area? ── yes ─▶ every region rejected
//   node filters (excluded … connectivity)            region filters (runtime … geo)
//   seeded shuffle of the feasible nodes              rank: free capacity (+ proximity to latency areas)
//   for each instance:                                stale regions after every fresh one
//     re-check the node chosen last (it is fuller)
//     rankers score every feasible node; pick the best (first in shuffled order wins a tie)
//
// Performance: selectNodes runs at ≥ 10,000 calls/s with 1,000 nodes, so the per-node work allocates nothing. Each
// filter does its per-call work once in prepare() (sets, trigonometry of targets, landmark sets) and returns a check
// that only reads the node; a filter with nothing to check for this service returns null and costs nothing per node.
import { connectivityFilter } from './filters/connectivity.js'
import { unknownArea } from './filters/common.js'
import { geoFilter, latencyFilter } from './filters/geo.js'
import { regionArch, regionDirect, regionGeo, regionResources, regionRuntime } from './filters/region.js'
import { resourcesFilter } from './filters/resources.js'
import { archFilter, directFilter, excludedFilter, runtimeFilter } from './filters/static.js'
import { mulberry32, shuffle } from './random.js'
import { ldpRanker } from './rankers/ldp.js'
import { regionScore } from './rankers/region.js'
import { romRanker } from './rankers/rom.js'
import { spreadRanker } from './rankers/spread.js'
import type {
  Area, Decision, NodeCandidate, PeerInstance, Policy, RegionCandidate, RegionRanking, RejectReason, SelectNodesInput,
  SelectRegionsInput, ServiceSpec
} from './types.js'

/** Why node (or region) `i` fails, or null when it passes. Runs once per candidate in the hot loop: no allocation. */
export type Check = (i: number) => RejectReason | null

/** A feasibility filter. `prepare` runs once per call; it returns null when it cannot reject anything this call. */
export interface Filter<C> {
  readonly name: string
  prepare: (ctx: C) => Check | null
}

/** A ranker's scorer for one call. Scores are "higher is better"; the stack weighs and sums them. */
export interface Scorer {
  /** Once per instance placed, before score(): the feasible nodes of this pick (indices into ctx.nodes). */
  round: (feasible: Int32Array, count: number) => void
  score: (i: number) => number
}

/**
 * A ranker. `prepare` runs once per call, after the filters, with the feasible nodes in the callers' order (the time
 * to read the node objects sequentially); it returns null when the ranker has nothing to say about this service.
 */
export interface Ranker {
  readonly name: string
  prepare: (ctx: NodeContext, feasible: Int32Array, count: number) => Scorer | null
}

/**
 * Typed arrays reused from call to call, so that a call with a thousand nodes does not allocate (and later collect)
 * a dozen arrays of a thousand entries. selectNodes is synchronous and never re-entered, so one set of buffers
 * serves every call; each NodeContext hands them out in turn, zeroed, for the length of its call only.
 */
const POOL_F64: Float64Array[] = []
const POOL_I32: Int32Array[] = []
const NO_TERMS = new Float64Array(0)

function fromPool<T extends Float64Array | Int32Array> (pool: T[], k: number, n: number, make: (n: number) => T): T {
  let a = pool[k]
  if (a === undefined || a.length < n) {
    // Grow by at least half, so a slowly growing region does not reallocate on every call.
    a = pool[k] = make(Math.max(n, Math.ceil((a?.length ?? 0) * 1.5), 64))
  } else {
    a.fill(0, 0, n)
  }
  return a
}

/** What the node filters and rankers share during one selectNodes call. */
export class NodeContext {
  readonly spec: ServiceSpec
  readonly nodes: readonly NodeCandidate[]
  readonly areas: Record<string, Area>
  readonly connected: readonly PeerInstance[]
  readonly exclude: readonly string[]
  /** Instances of this service this decision has placed on each node so far. */
  readonly placed: Int32Array
  /**
   * Per node, the raw distance terms LDP ranks by (km to a geo target, estimated ms to a latency area or to a connected
   * service), node-major: node i's term k is at i * termCount + k. The filters that measure a distance store it here
   * as they check it, so LDP never measures twice. NaN means "could not be estimated".
   */
  terms: Float64Array = NO_TERMS
  /** Per term, the value that counts as 1 (the constraint's bound), or 0 to normalise by the largest value seen. */
  readonly termScales: number[] = []
  private f64Used = 0
  private i32Used = 0

  constructor (input: SelectNodesInput) {
    this.spec = input.spec
    this.nodes = input.nodes
    this.areas = input.areas
    this.connected = input.connected
    this.exclude = input.exclude ?? []
    this.placed = this.int32(input.nodes.length)
  }

  get termCount (): number {
    return this.termScales.length
  }

  /** Reserves one LDP term per node (call from prepare()); returns its index. */
  reserveTerm (scale: number): number {
    this.termScales.push(scale)
    return this.termScales.length - 1
  }

  /** A zeroed scratch array of at least n entries (use [0, n) only), valid until this call returns. */
  float64 (n: number): Float64Array {
    return fromPool(POOL_F64, this.f64Used++, n, m => new Float64Array(m))
  }

  /** A zeroed scratch array of at least n entries (use [0, n) only), valid until this call returns. */
  int32 (n: number): Int32Array {
    return fromPool(POOL_I32, this.i32Used++, n, m => new Int32Array(m))
  }
}

/** What the region filters share during one selectRegions call. */
export interface RegionContext {
  readonly spec: ServiceSpec
  readonly regions: readonly RegionCandidate[]
  readonly areas: Record<string, Area>
}

/**
 * The node feasibility chain, in order. A node is reported under the first check it fails, so the order is also what
 * the explanation says. Cheap and common first:
 *
 * 1. excluded, runtime, arch, direct: a set lookup or a scan of a list of one to three strings, and the reasons an
 *    operator most needs to see ("no node has docker" says more than "no node has memory" when both are true).
 * 2. resources: a few subtractions; the only check whose answer changes within a decision, as instances are placed.
 * 3. geo: one haversine per geo constraint (trigonometry).
 * 4. latency: a scan of the area's landmark coordinates per node, the costliest check, so it sees the fewest nodes.
 * 5. connectivity: a scan of the connected service's instances per node; last, as it depends on where other services
 *    already run rather than on the node itself.
 */
export const NODE_FILTERS: ReadonlyArray<Filter<NodeContext>> = [
  excludedFilter,
  runtimeFilter,
  archFilter,
  directFilter,
  resourcesFilter,
  geoFilter,
  latencyFilter,
  connectivityFilter
]

/**
 * The rankers of each policy, with weights. Every ranker scores in [0, 1] (spread: minus the instance count), so the
 * weights read directly:
 *
 * - ROM: Oakestra's resource-only match (rankers/rom.ts), plus spread.
 * - LDP: the latency and distance cost (rankers/ldp.ts); ROM at 0.01 only breaks near-ties between equally close
 *   nodes. A service with no geo, latency or connectivity terms falls back to the ROM list.
 * - spread at 0.5 per instance already on the node: another replica goes elsewhere unless the alternative has less
 *   than half the resources (ROM) or is more than half a threshold further away (LDP); and since it is a penalty,
 *   never a filter, a node is reused when no other fits.
 */
export const SPREAD_WEIGHT = 0.5
export const ROM_WEIGHT_IN_LDP = 0.01

export const RANKERS: Record<Policy, ReadonlyArray<{ ranker: Ranker, weight: number }>> = {
  ROM: [{ ranker: romRanker, weight: 1 }, { ranker: spreadRanker, weight: SPREAD_WEIGHT }],
  LDP: [{ ranker: ldpRanker, weight: 1 }, { ranker: romRanker, weight: ROM_WEIGHT_IN_LDP }, { ranker: spreadRanker, weight: SPREAD_WEIGHT }]
}

/**
 * The region feasibility chain, in order: capabilities first (runtime, arch), then the operator's direct choice, then
 * the largest free node, then geography. Stale regions are not rejected; they are ranked after every fresh one.
 */
export const REGION_FILTERS: ReadonlyArray<Filter<RegionContext>> = [
  regionRuntime,
  regionArch,
  regionDirect,
  regionResources,
  regionGeo
]

/**
 * The region leader's placement: chooses a node for each of `input.count` instances of `input.spec`, one after
 * another, counting each placement's resources and spread before the next. Pure and deterministic for a given seed.
 */
export function selectNodes (input: SelectNodesInput): Decision {
  const count = Math.max(0, Math.floor(input.count))
  const nodes = input.nodes
  const n = nodes.length
  const decision: Decision = { chosen: [], unplaced: 0, rejected: {}, scores: [] }

  if (unknownArea(input.spec, input.areas) !== null) {
    if (n > 0) decision.rejected['unknown-area'] = n
    decision.unplaced = count
    return decision
  }

  const ctx = new NodeContext(input)
  const checks: Check[] = []
  for (const f of NODE_FILTERS) {
    const c = f.prepare(ctx)
    if (c !== null) checks.push(c)
  }
  ctx.terms = ctx.float64(n * ctx.termCount)
  const nChecks = checks.length

  // Filter in the callers' order (memory order, kind to the cache), count rejections in an array indexed by reason,
  // let the rankers read the survivors in that order too, then shuffle them from the seed: the order the rankers
  // score in, and so which node wins a tie.
  const counts = ctx.int32(REASONS.length)
  const feasible = ctx.int32(n)
  let nFeasible = 0
  for (let i = 0; i < n; i++) {
    let reason: RejectReason | null = null
    for (let c = 0; c < nChecks && reason === null; c++) reason = checks[c](i)
    if (reason === null) feasible[nFeasible++] = i
    else counts[REASON_INDEX[reason]]++
  }

  let chain = RANKERS[input.policy] ?? RANKERS.ROM
  let scorers = prepareRankers(chain, ctx, feasible, nFeasible)
  if (input.policy === 'LDP' && scorers.every(s => s.name !== ldpRanker.name)) {
    chain = RANKERS.ROM
    scorers = prepareRankers(chain, ctx, feasible, nFeasible)
  }
  shuffle(feasible, nFeasible, mulberry32(input.seed))
  const nScorers = scorers.length

  let last = -1
  let lastAt = -1
  for (let pick = 0; pick < count; pick++) {
    if (last >= 0) {
      // Only the node chosen last has changed: it may now be too full for another instance.
      let reason: RejectReason | null = null
      for (let c = 0; c < nChecks && reason === null; c++) reason = checks[c](last)
      if (reason !== null) {
        counts[REASON_INDEX[reason]]++
        // Shift rather than swap, so the survivors keep their seeded order.
        feasible.copyWithin(lastAt, lastAt + 1, nFeasible)
        nFeasible--
      }
    }
    if (nFeasible === 0) {
      decision.unplaced = count - pick
      break
    }

    for (let s = 0; s < nScorers; s++) scorers[s].scorer.round(feasible, nFeasible)
    let best = -1
    let bestAt = -1
    let bestTotal = -Infinity
    for (let k = 0; k < nFeasible; k++) {
      const i = feasible[k]
      let total = 0
      for (let s = 0; s < nScorers; s++) total += scorers[s].weight * scorers[s].scorer.score(i)
      // Strictly greater: among equals the first in the seeded order wins, which is what makes ties replayable.
      if (total > bestTotal) {
        bestTotal = total
        best = i
        bestAt = k
      }
    }

    const scores: Record<string, number> = {}
    for (const s of scorers) scores[s.name] = s.scorer.score(best)
    decision.chosen.push(nodes[best].peerId)
    decision.scores.push({ peerId: nodes[best].peerId, scores, total: bestTotal })
    ctx.placed[best]++
    last = best
    lastAt = bestAt
  }
  for (let r = 0; r < REASONS.length; r++) if (counts[r] > 0) decision.rejected[REASONS[r]] = counts[r]
  return decision
}

/** Every reason, for counting in an array; the order does not matter. */
const REASONS: readonly RejectReason[] = [
  'excluded', 'runtime', 'arch', 'direct-cluster', 'direct-node', 'cpu', 'memory', 'gpu', 'disk', 'geo', 'latency',
  'connectivity', 'stale', 'unknown-area'
]
const REASON_INDEX = Object.fromEntries(REASONS.map((r, k) => [r, k])) as Record<RejectReason, number>

function prepareRankers (
  chain: ReadonlyArray<{ ranker: Ranker, weight: number }>, ctx: NodeContext, feasible: Int32Array, count: number
): Array<{ name: string, weight: number, scorer: Scorer }> {
  const out: Array<{ name: string, weight: number, scorer: Scorer }> = []
  for (const { ranker, weight } of chain) {
    const scorer = ranker.prepare(ctx, feasible, count)
    if (scorer !== null) out.push({ name: ranker.name, weight, scorer })
  }
  return out
}

/**
 * The entry peer's choice of region: every region that might hold one instance, best first. A region passes on its
 * summary's largest free node, so passing here is necessary, not sufficient; the region's leader has the last word
 * (and the entry peer tries the next region when it says no).
 */
export function selectRegions (input: SelectRegionsInput): RegionRanking {
  const { regions } = input
  const ranking: RegionRanking = { ranked: [], rejected: [] }

  if (unknownArea(input.spec, input.areas) !== null) {
    for (const r of regions) ranking.rejected.push({ region: r.region, reason: 'unknown-area' })
    return ranking
  }

  const ctx: RegionContext = { spec: input.spec, regions, areas: input.areas }
  const checks: Check[] = []
  for (const f of REGION_FILTERS) {
    const c = f.prepare(ctx)
    if (c !== null) checks.push(c)
  }
  const feasible: number[] = []
  regions.forEach((r, i) => {
    let reason: RejectReason | null = null
    for (let c = 0; c < checks.length && reason === null; c++) reason = checks[c](i)
    if (reason === null) feasible.push(i)
    else ranking.rejected.push({ region: r.region, reason })
  })

  const scored = regionScore(ctx, feasible)
  ranking.ranked = feasible
    .map((i, k) => ({ i, score: scored[k] }))
    .sort((a, b) => {
      const ra = regions[a.i]
      const rb = regions[b.i]
      if (ra.stale !== rb.stale) return ra.stale ? 1 : -1
      if (a.score !== b.score) return b.score - a.score
      return ra.region < rb.region ? -1 : ra.region > rb.region ? 1 : 0
    })
    .map(({ i, score }) => ({ region: regions[i].region, leader: regions[i].leader, score }))
  return ranking
}
