// Vivaldi network coordinates (Dabek, Cox, Kaashoek, Morris, SIGCOMM 2004), with the height vector from the paper and
// the adjustment window and gravity that HashiCorp serf's coordinate package documents.
//
// Why: the scheduler ranks nodes by latency, and probing every pair costs n² pings. Instead each node pings a few
// peers, places itself in a small synthetic space, and gossips its position; anyone can then estimate the RTT between
// any two nodes from their coordinates alone.
//
// How, in brief. Each observation (remote coordinate, measured RTT) is a spring between us and the remote whose rest
// length is the RTT; we move a fraction of the way towards where that spring is relaxed. The fraction weighs our
// error estimate against the remote's, so a fresh node moves fast and a settled one is not dragged about by a fresh
// one. Refinements on top of the plain spring model:
//
// - Height: every path out of a node pays its access link (last mile, container bridge, loopback stack) and no
//   Euclidean placement can express "far from everyone". A non-negative height is added to every distance instead.
// - Adjustment: real RTTs break the triangle inequality. Each node keeps the mean residual (RTT minus predicted
//   distance) over its last `adjustmentWindow` observations and owns half of it, the remote owns the other half.
// - Gravity: only relative positions carry meaning, so the whole constellation can drift without bound. A weak pull
//   towards the origin, quadratic in the distance, keeps the numbers small without bending short distances.
// - Median filter: RTT samples are heavy-tailed (GC pauses, queueing). A short per-peer median drops a lone spike
//   before it can stretch a spring.
//
// Units are milliseconds throughout; loopback RTTs are often below 0.1 ms, so no threshold here may be coarser than a
// microsecond. Coordinates come from the network: an invalid one is rejected with a RangeError, never absorbed, since a
// single NaN would spread to every node that ever observes us.
import { DIMENSIONS, type Coordinate } from './wire/schemas.js'

/** Tuning of the Vivaldi algorithm. The dimensionality is fixed by {@link DIMENSIONS}, as it is part of the wire format. */
export interface VivaldiConfig {
  /**
   * Upper bound of the relative error estimate, and the error of a fresh coordinate: a new node trusts its own
   * position least of all.
   *
   * @default 1.5
   */
  errorMax?: number
  /**
   * How fast the error estimate follows new observations (c_e in the paper), in (0, 1].
   *
   * @default 0.25
   */
  ce?: number
  /**
   * Fraction of the spring force applied per observation (c_c in the paper), in (0, 1]. Larger converges faster but
   * oscillates more.
   *
   * @default 0.25
   */
  cc?: number
  /**
   * Number of recent residuals averaged into the adjustment term. 0 disables the adjustment.
   *
   * @default 20
   */
  adjustmentWindow?: number
  /**
   * Floor of the height, in ms. A height of zero would let a node sit on its peers and predict zero RTT, which no
   * real path has.
   *
   * @default 0.01
   */
  heightMin?: number
  /**
   * Number of RTT samples per peer whose median is used; 1 disables the filter.
   *
   * @default 3
   */
  latencyFilterSize?: number
  /**
   * Distance from the origin, in ms, at which gravity pulls back by 1 ms per observation. The pull grows with the
   * square of the distance, so it is negligible at LAN scale and only reins in drift.
   *
   * @default 150
   */
  gravityRho?: number
}

type ResolvedConfig = Readonly<Required<VivaldiConfig>>

const DEFAULTS: ResolvedConfig = {
  errorMax: 1.5,
  ce: 0.25,
  cc: 0.25,
  adjustmentWindow: 20,
  heightMin: 0.01,
  latencyFilterSize: 3,
  gravityRho: 150
}

/**
 * Largest magnitude, in ms, any number in a valid coordinate may have (about 17 minutes). No real RTT comes near it,
 * so a larger value is corrupt or hostile; bounding it also keeps every sum of squares far from overflowing.
 */
export const MAX_COORDINATE_VALUE = 1e6

const RANGE_RULE = `must be a finite number within ±${MAX_COORDINATE_VALUE}`

/** Below this (1 ns) a length counts as zero. Far under the smallest loopback RTT, far over rounding noise. */
const ZERO_MS = 1e-6

/** A coordinate at the origin with the largest error, so its first observations move it quickly. */
export function newCoordinate (cfg?: VivaldiConfig): Coordinate {
  const { errorMax, heightMin } = resolveConfig(cfg)
  return { vec: new Array<number>(DIMENSIONS).fill(0), error: errorMax, adjustment: 0, height: heightMin }
}

/**
 * Whether `c` is safe to compute with: `vec` has {@link DIMENSIONS} entries, every number is finite and within
 * ±{@link MAX_COORDINATE_VALUE}, and `error` and `height` are not negative.
 */
export function isValidCoordinate (c: Coordinate): boolean {
  return coordinateProblem(c) === undefined
}

/**
 * Estimated RTT in ms between the nodes at `a` and `b`: the Euclidean distance of their vectors plus both heights,
 * plus both adjustments unless that would make the estimate zero or negative. Symmetric. Both coordinates must be
 * valid ({@link isValidCoordinate}); the result is meaningless otherwise.
 */
export function distance (a: Coordinate, b: Coordinate): number {
  const raw = rawDistance(a, b)
  const adjusted = raw + a.adjustment + b.adjustment
  return adjusted > 0 ? adjusted : raw
}

/**
 * One Vivaldi step: where `local` should move after measuring `rttMs` to the node at `remote`. Pure: returns a new
 * coordinate and leaves its inputs untouched. The adjustment is carried over unchanged, as it is a property of the
 * observation history ({@link VivaldiClient} maintains it).
 *
 * @param rand - source of uniform numbers in [0, 1), used only to pick a direction when the two vectors coincide
 * @throws RangeError if `rttMs` is not a finite, non-negative number, or either coordinate is invalid
 */
export function update (local: Coordinate, remote: Coordinate, rttMs: number, cfg?: VivaldiConfig, rand: () => number = Math.random): Coordinate {
  const config = resolveConfig(cfg)
  checkObservation(local, remote, rttMs)
  return vivaldiStep(local, remote, rttMs, config, rand)
}

/**
 * A node's own coordinate and the per-peer state the algorithm needs across observations: the latency filters and the
 * adjustment window. Not safe to share between nodes.
 */
export class VivaldiClient {
  private readonly config: ResolvedConfig
  private readonly rand: () => number
  private coord: Coordinate
  /** Recent RTT samples per peer, oldest first. Callers bound it by calling {@link forget} when a peer leaves. */
  private readonly filters = new Map<string, number[]>()
  private readonly residuals: number[]
  private residualIndex = 0

  /**
   * @param rand - source of uniform numbers in [0, 1); inject a seeded one to replay a run
   * @throws RangeError if a config value is out of range
   */
  constructor (cfg?: VivaldiConfig, rand: () => number = Math.random) {
    this.config = resolveConfig(cfg)
    this.rand = rand
    this.coord = newCoordinate(this.config)
    this.residuals = new Array<number>(this.config.adjustmentWindow).fill(0)
  }

  /** A copy of the current coordinate, safe to publish. */
  get coordinate (): Coordinate {
    return copy(this.coord)
  }

  /**
   * Folds one RTT measurement to `peerId`, whose advertised coordinate is `remote`, into our coordinate.
   *
   * @returns a copy of the new coordinate
   * @throws RangeError if `rttMs` is not a finite, non-negative number or `remote` is invalid; the state is then
   * unchanged, so a bad sample cannot linger in the filter either
   */
  observe (peerId: string, remote: Coordinate, rttMs: number): Coordinate {
    checkObservation(this.coord, remote, rttMs)
    const rtt = this.filter(peerId, rttMs)
    let next = vivaldiStep(this.coord, remote, rtt, this.config, this.rand)
    // Gravity before the residual, so the adjustment corrects the coordinate we actually publish.
    next = gravity(next, this.config)
    next = this.adjust(next, remote, rtt)
    if (!isValidCoordinate(next)) {
      // The residuals that led here are suspect too; start over rather than spread garbage.
      next = newCoordinate(this.config)
      this.residuals.fill(0)
    }
    this.coord = next
    return copy(next)
  }

  /** Drops the filter state of a peer that left, so the map does not grow with churn. */
  forget (peerId: string): void {
    this.filters.delete(peerId)
  }

  /**
   * Estimated RTT in ms from this node to the node at `remote`.
   *
   * @throws RangeError if `remote` is invalid, rather than return NaN into someone's ranking
   */
  estimateRtt (remote: Coordinate): number {
    const problem = coordinateProblem(remote)
    if (problem !== undefined) throw new RangeError(`Vivaldi: remote coordinate ${problem}`)
    return distance(this.coord, remote)
  }

  private filter (peerId: string, rttMs: number): number {
    const samples = this.filters.get(peerId) ?? []
    samples.push(rttMs)
    if (samples.length > this.config.latencyFilterSize) samples.shift()
    this.filters.set(peerId, samples)
    const sorted = [...samples].sort((x, y) => x - y)
    return sorted[Math.floor(sorted.length / 2)]
  }

  private adjust (c: Coordinate, remote: Coordinate, rttMs: number): Coordinate {
    const window = this.residuals.length
    if (window === 0) return c
    this.residuals[this.residualIndex] = rttMs - rawDistance(c, remote)
    this.residualIndex = (this.residualIndex + 1) % window
    const sum = this.residuals.reduce((s, r) => s + r, 0)
    // Half, because the remote's own adjustment accounts for the other half of the same residuals. Dividing by the
    // full window (unfilled slots are zero) keeps the first few samples from swinging the term.
    return { ...c, adjustment: sum / (2 * window) }
  }
}

function vivaldiStep (local: Coordinate, remote: Coordinate, rttMs: number, config: ResolvedConfig, rand: () => number): Coordinate {
  // A zero RTT would divide by zero below; it only means "too small to measure".
  const rtt = Math.max(rttMs, ZERO_MS)
  const dist = distance(local, remote)
  const wrongness = Math.abs(dist - rtt) / rtt
  // Trust the side that is more certain: with our error high and theirs low we move most.
  const weight = local.error / Math.max(local.error + remote.error, ZERO_MS)
  const error = Math.min(config.ce * weight * wrongness + local.error * (1 - config.ce * weight), config.errorMax)
  const force = config.cc * weight * (rtt - dist)
  const moved = applyForce({ ...local, error }, remote, force, config.heightMin, rand)
  // Reachable only with absurd but finite input (an RTT of hours); resetting beats publishing it.
  return isValidCoordinate(moved) ? moved : newCoordinate(config)
}

/**
 * Moves `c` by `force` ms away from `other` (towards it if negative). Following the paper's height-vector model the
 * direction is (vec difference, sum of heights) over their combined length, so the predicted distance changes by
 * `force` and the height takes its share of the movement.
 */
function applyForce (c: Coordinate, other: Coordinate, force: number, heightMin: number, rand: () => number): Coordinate {
  const diff = c.vec.map((x, i) => x - other.vec[i])
  const span = norm(diff)
  if (span <= ZERO_MS) {
    // Coincident vectors (every fresh node sits at the origin) have no direction to push along: pick one at random,
    // else they could never separate. The heights stay, as the push is entirely sideways.
    const unit = randomUnit(rand)
    return { ...c, vec: c.vec.map((x, i) => x + unit[i] * force) }
  }
  const length = span + c.height + other.height
  return {
    ...c,
    vec: c.vec.map((x, i) => x + diff[i] / length * force),
    height: Math.max(c.height + (c.height + other.height) / length * force, heightMin)
  }
}

/** Pulls the vector towards the origin. Heights are left alone: drift is a translation, which never moves them. */
function gravity (c: Coordinate, config: ResolvedConfig): Coordinate {
  const span = norm(c.vec)
  if (span <= ZERO_MS) return c
  // Never past the origin, or a far-flung coordinate would be flung to the other side.
  const pull = Math.min((span / config.gravityRho) ** 2, span)
  return { ...c, vec: c.vec.map(x => x - x / span * pull) }
}

function randomUnit (rand: () => number): number[] {
  const v = Array.from({ length: DIMENSIONS }, () => rand() - 0.5)
  const n = norm(v)
  if (Number.isFinite(n) && n > ZERO_MS) return v.map(x => x / n)
  // A degenerate generator (constant 0.5, say) still has to yield some direction.
  const axis = new Array<number>(DIMENSIONS).fill(0)
  axis[0] = 1
  return axis
}

function rawDistance (a: Coordinate, b: Coordinate): number {
  return norm(a.vec.map((x, i) => x - b.vec[i])) + a.height + b.height
}

function norm (v: readonly number[]): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0))
}

function copy (c: Coordinate): Coordinate {
  return { ...c, vec: [...c.vec] }
}

function checkObservation (local: Coordinate, remote: Coordinate, rttMs: number): void {
  if (typeof rttMs !== 'number' || !Number.isFinite(rttMs) || rttMs < 0) {
    throw new RangeError(`Vivaldi: rttMs must be a finite, non-negative number of milliseconds (got ${String(rttMs)})`)
  }
  const remoteProblem = coordinateProblem(remote)
  if (remoteProblem !== undefined) throw new RangeError(`Vivaldi: remote coordinate ${remoteProblem}`)
  const localProblem = coordinateProblem(local)
  if (localProblem !== undefined) throw new RangeError(`Vivaldi: local coordinate ${localProblem}`)
}

/** The first reason `c` is unusable, phrased to follow "coordinate", or undefined if it is valid. */
function coordinateProblem (c: Coordinate): string | undefined {
  if (typeof c !== 'object' || c === null) return 'must be an object'
  if (!Array.isArray(c.vec) || c.vec.length !== DIMENSIONS) {
    return `vec must have ${DIMENSIONS} entries (got ${Array.isArray(c.vec) ? c.vec.length : typeof c.vec})`
  }
  for (let i = 0; i < DIMENSIONS; i++) {
    if (!inRange(c.vec[i])) return `vec[${i}] ${RANGE_RULE} (got ${String(c.vec[i])})`
  }
  if (!inRange(c.adjustment)) return `adjustment ${RANGE_RULE} (got ${String(c.adjustment)})`
  if (!inRange(c.error) || c.error < 0) return `error ${RANGE_RULE} and not negative (got ${String(c.error)})`
  if (!inRange(c.height) || c.height < 0) return `height ${RANGE_RULE} and not negative (got ${String(c.height)})`
  return undefined
}

function inRange (x: unknown): boolean {
  return typeof x === 'number' && Number.isFinite(x) && Math.abs(x) <= MAX_COORDINATE_VALUE
}

function resolveConfig (cfg: VivaldiConfig = {}): ResolvedConfig {
  const config: ResolvedConfig = {
    errorMax: cfg.errorMax ?? DEFAULTS.errorMax,
    ce: cfg.ce ?? DEFAULTS.ce,
    cc: cfg.cc ?? DEFAULTS.cc,
    adjustmentWindow: cfg.adjustmentWindow ?? DEFAULTS.adjustmentWindow,
    heightMin: cfg.heightMin ?? DEFAULTS.heightMin,
    latencyFilterSize: cfg.latencyFilterSize ?? DEFAULTS.latencyFilterSize,
    gravityRho: cfg.gravityRho ?? DEFAULTS.gravityRho
  }
  const rules: Array<[keyof VivaldiConfig, boolean, string]> = [
    ['errorMax', config.errorMax > 0 && config.errorMax <= MAX_COORDINATE_VALUE, 'a positive number'],
    ['ce', config.ce > 0 && config.ce <= 1, 'in (0, 1]'],
    ['cc', config.cc > 0 && config.cc <= 1, 'in (0, 1]'],
    ['adjustmentWindow', Number.isSafeInteger(config.adjustmentWindow) && config.adjustmentWindow >= 0, 'a non-negative integer'],
    ['heightMin', config.heightMin >= 0 && config.heightMin <= MAX_COORDINATE_VALUE, 'a non-negative number of ms'],
    ['latencyFilterSize', Number.isSafeInteger(config.latencyFilterSize) && config.latencyFilterSize >= 1, 'a positive integer'],
    ['gravityRho', config.gravityRho > 0 && Number.isFinite(config.gravityRho), 'a positive number of ms']
  ]
  for (const [key, ok, rule] of rules) {
    // `ok` is false for NaN too, as every comparison with NaN is.
    if (!ok) throw new RangeError(`VivaldiConfig.${key} must be ${rule} (got ${String(config[key])})`)
  }
  return config
}
