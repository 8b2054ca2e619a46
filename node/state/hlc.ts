// Hybrid logical clock (Kulkarni, Demirbas et al., "Logical Physical Clocks", 2014). A timestamp is the largest
// wall-clock time this peer has seen (its own or a peer's), plus a counter that orders events within one
// millisecond, plus the peer ID as the final tie-breaker. Timestamps stay close to real time, never go backwards on
// one peer, and an event that has seen another is always timestamped after it.
//
// Pure: the wall clock is passed in.

export interface Hlc {
  /** Milliseconds since the epoch: the largest wall time known when the event happened. */
  wall: number
  /** Orders events that share `wall`. */
  counter: number
  /** The peer that made the event: total order between peers that agree on wall and counter. */
  peer: string
}

/** Negative when a < b, positive when a > b; zero only for the very same timestamp. */
export function compareHlc (a: Hlc, b: Hlc): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1
  if (a.peer !== b.peer) return a.peer < b.peer ? -1 : 1
  return 0
}

/** The smallest timestamp of `peer` that is greater than `after`. */
export function successor (after: Hlc, peer: string): Hlc {
  return peer > after.peer
    ? { wall: after.wall, counter: after.counter, peer }
    : { wall: after.wall, counter: after.counter + 1, peer }
}

/**
 * How far ahead of our own wall clock a peer's timestamp may be and still be adopted.
 *
 * HLC's guarantee is that a timestamp is never more than the largest clock skew in the mesh ahead of real time. One
 * peer whose clock is wrong by a year would, by the textbook rules, drag every peer's clock a year ahead for good:
 * every later write would carry that future time, and nothing written with a correct clock could win for a year.
 * So a remote timestamp more than this ahead of our wall clock is not adopted. The entry that carried it still
 * merges like any other (convergence needs every peer to judge an entry the same way), and `put` still writes a
 * version above the entry it replaces, so causally later local writes win; only our clock is not moved.
 */
export const DEFAULT_MAX_DRIFT_MS = 60_000

export interface HybridClockOptions {
  /** @default DEFAULT_MAX_DRIFT_MS */
  maxDriftMs?: number
}

export class HybridClock {
  private wallMs = 0
  private counter = 0
  private readonly maxDriftMs: number

  constructor (private readonly peer: string, private readonly wall: () => number, opts: HybridClockOptions = {}) {
    this.maxDriftMs = opts.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS
  }

  /** The last timestamp issued or adopted, without ticking. */
  get last (): Hlc {
    return { wall: this.wallMs, counter: this.counter, peer: this.peer }
  }

  /** A timestamp for a local event (a send): greater than every timestamp issued or adopted before. */
  now (): Hlc {
    const pt = this.physical()
    if (pt > this.wallMs) {
      this.wallMs = pt
      this.counter = 0
    } else {
      this.counter++
    }
    return this.last
  }

  /**
   * Merges a received timestamp, so the next `now()` is after it. Returns false, and changes nothing, when the
   * timestamp is more than maxDriftMs ahead of our wall clock (see DEFAULT_MAX_DRIFT_MS).
   */
  observe (remote: Hlc): boolean {
    const pt = this.physical()
    if (!Number.isFinite(remote.wall) || !Number.isFinite(remote.counter) || remote.wall - pt > this.maxDriftMs) return false
    const previous = this.wallMs
    const wall = Math.max(previous, remote.wall, pt)
    if (wall === previous && wall === remote.wall) this.counter = Math.max(this.counter, remote.counter) + 1
    else if (wall === previous) this.counter++
    else if (wall === remote.wall) this.counter = remote.counter + 1
    else this.counter = 0
    this.wallMs = wall
    return true
  }

  private physical (): number {
    return Math.floor(this.wall())
  }
}
