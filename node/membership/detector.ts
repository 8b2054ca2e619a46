// The failure detector's maths, as pure functions. It follows the ideas of Lifeguard (Dadgar, Phillips and Currey,
// "Lifeguard: Local Health Awareness for More Accurate Failure Detection", 2018), which extends SWIM:
//   - Local health awareness: an observer whose own event loop lags, or whose probes go unanswered even by helpers,
//     is likely the one in trouble. It raises an awareness score, and every timeout it uses is multiplied by
//     (score + 1), so an overloaded observer waits longer before it accuses healthy peers.
//   - Dynamic suspicion: a suspicion starts long and shrinks as other peers independently confirm it, so a real
//     failure is declared quickly while a lone, possibly mistaken suspicion has time to be refuted.
// The membership shell owns the clocks, the timers and the probes; it feeds times in and acts on the verdicts.
//
//   +-------+  silent for scaled(suspectAfter)   +---------+  suspicion timeout, scaled   +------+
//   | alive | ---------------------------------> | suspect | ---------------------------> | dead |
//   +-------+        (start a probe)              +---------+                              +------+
//       ^                                              |                                      |
//       +----------------------------------------------+--------------------------------------+
//                        heard from again (the caller resets the clock)

/** Detector timeouts in milliseconds, before the local-health multiplier. */
export interface DetectorTimings {
  /** Silence after which a peer becomes suspect. */
  suspectAfter: number
  /** The shortest suspicion, reached once the expected number of peers confirm it. */
  suspicionMin: number
  /** The longest suspicion, used while nobody confirms it. */
  suspicionMax: number
  /** How long a direct or indirect probe waits for its answer; scale it with `scaled()` as well. */
  probeTimeout: number
}

/**
 * How long a suspect may stay suspect before it is declared dead.
 *
 * Starts at `max` with no confirmations and falls logarithmically to `min` as `confirmations` reach `expected`: the
 * first few independent confirmations (peers that also failed to reach the suspect) count the most. The result is
 * clamped to [min, max]; with `expected` ≤ 0 no confirmation can come, so the suspicion is just `min`.
 */
export function suspicionTimeout (confirmations: number, expected: number, min: number, max: number): number {
  if (expected <= 0) return min
  const fraction = Math.log(Math.max(0, confirmations) + 1) / Math.log(expected + 1)
  return clamp(max - (max - min) * fraction, min, max)
}

/** Applies the local-health multiplier: `ms` × (awareness + 1). A healthy observer (awareness 0) uses `ms` as is. */
export function scaled (ms: number, awareness: number): number {
  return ms * (Math.max(0, awareness) + 1)
}

/** Bounds of the local-health (awareness) score. */
export interface AwarenessConfig {
  /**
   * The highest score, so timeouts stretch at most (max + 1)-fold.
   * @default 8
   */
  max: number
  /**
   * Event-loop lag above which this peer considers itself unhealthy.
   * @default 100
   */
  lagThresholdMs: number
}

/** The default AwarenessConfig. */
export const DEFAULT_AWARENESS: Readonly<AwarenessConfig> = { max: 8, lagThresholdMs: 100 }

/**
 * The awareness score after measuring this peer's event-loop lag. Lag above the threshold raises the score by 1, or
 * by 2 above four times the threshold; lag under half the threshold lowers it by 1. Lag in between keeps it, so the
 * score does not flap around the threshold.
 */
export function awarenessAfterLag (score: number, lagMs: number, cfg: AwarenessConfig = DEFAULT_AWARENESS): number {
  const threshold = cfg.lagThresholdMs
  let delta = 0
  if (lagMs > 4 * threshold) delta = 2
  else if (lagMs > threshold) delta = 1
  else if (lagMs < threshold / 2) delta = -1
  return clamp(score + delta, 0, cfg.max)
}

/**
 * How a probe ended: `'ack'` the target answered; `'nack'` it did not, but the helpers asked to probe it indirectly
 * answered that they could not reach it either; `'silent'` neither the target nor any helper answered in time.
 */
export type ProbeOutcome = 'ack' | 'nack' | 'silent'

/**
 * The awareness score after a probe. An ack lowers it by 1. A nack keeps it: the helpers reached us, so the target is
 * the problem, not us. Silence raises it by 1: when not even the helpers answer, our own network or event loop is the
 * likely culprit.
 */
export function awarenessAfterProbe (score: number, outcome: ProbeOutcome, cfg: AwarenessConfig = DEFAULT_AWARENESS): number {
  const delta = outcome === 'ack' ? -1 : outcome === 'silent' ? 1 : 0
  return clamp(score + delta, 0, cfg.max)
}

export type MemberState = 'alive' | 'suspect' | 'dead'

/** What this peer tracks about one other member, in milliseconds of the injected clock. */
export interface MemberClock {
  /** When we last heard from the member, directly or through a probe. */
  lastHeard: number
  /** When the member became suspect: set by the caller when `judge` first returns 'suspect', and kept once dead. */
  suspectSince: number | null
  /** Independent confirmations of the suspicion received so far. */
  confirmations: number
  state: MemberState
}

/** The state `judge` assigns to a member, and whether the caller should start probing it now. */
export interface Verdict {
  state: MemberState
  probe: boolean
}

/** The clock of a member just heard from: alive, with no suspicion pending. */
export function heard (now: number): MemberClock {
  return { lastHeard: now, suspectSince: null, confirmations: 0, state: 'alive' }
}

/**
 * Judges a member at `now`.
 *
 * It is alive while its silence is within scaled(suspectAfter). Past that it becomes suspect, and the transition from
 * alive asks for a probe. A suspect dies once its suspicion has lasted the scaled suspicionTimeout(). A dead member
 * stays dead until it is heard from after its suspicion began (the caller normally resets the clock with `heard()`).
 */
export function judge (
  m: MemberClock,
  now: number,
  t: DetectorTimings,
  awareness: number,
  expectedConfirmations: number
): Verdict {
  // Dead is sticky: only news from the member newer than the suspicion that killed it brings it back.
  const revived = m.state === 'dead' && m.suspectSince !== null && m.lastHeard > m.suspectSince
  if (m.state === 'dead' && !revived) return { state: 'dead', probe: false }

  // A suspicion raised on evidence (the connection dropped and a direct probe failed) can start before the silence
  // threshold; it ends only when the member is heard from after it began, not merely because little time passed.
  const suspicionPending = m.state === 'suspect' && m.suspectSince !== null && m.lastHeard <= m.suspectSince
  if (!suspicionPending && now - m.lastHeard <= scaled(t.suspectAfter, awareness)) return { state: 'alive', probe: false }

  if (m.state !== 'suspect') return { state: 'suspect', probe: true }

  // A suspect without a start time is treated as suspect from now on, never as long overdue.
  const since = m.suspectSince ?? now
  const timeout = suspicionTimeout(m.confirmations, expectedConfirmations, t.suspicionMin, t.suspicionMax)
  return { state: now - since >= scaled(timeout, awareness) ? 'dead' : 'suspect', probe: false }
}

/** Slack added to a tick's expected interval before it counts as stalled, so that short intervals tolerate GC jitter. */
export const STALL_SLACK_MS = 250

/**
 * Whether a periodic tick came so late that the event loop must have stalled: the interval since the previous tick
 * exceeded max(2 × expected, expected + 250 ms).
 *
 * The caller skips judging on such a tick. After a long stall, timers run before the network messages that queued
 * up meanwhile are processed, so every peer would look silent and healthy peers would be declared dead.
 */
export function stalled (expectedIntervalMs: number, actualIntervalMs: number): boolean {
  return actualIntervalMs > Math.max(2 * expectedIntervalMs, expectedIntervalMs + STALL_SLACK_MS)
}

function clamp (n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, n))
}
