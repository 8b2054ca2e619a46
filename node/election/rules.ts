// The election rules of one region, as pure functions: Raft's leader election without a log, plus PreVote and leader
// stickiness. The shell around them sends the messages, runs the timers and persists the state; everything that
// decides who may lead lives here so it can be tested table-driven.
//
//                   election timeout,                   votes from
//                   PreVote won                         a majority
//    +----------+ ----------------------> +-----------+ -------------> +--------+
//    | follower |                         | candidate |                | leader |
//    +----------+ <---------------------- +-----------+                +--------+
//      ^            higher term, or a       |       ^                      |
//      |            leader at the same term +-------+                      |
//      |                                    no quorum in time:             |
//      |                                    PreVote again, then term+1     |
//      +-------------------------------------------------------------------+
//                   higher term, or an equal-term leader with a higher peer ID
//
// Why PreVote and stickiness. In plain Raft a peer that drops off the network for a moment times out, raises its
// term and asks for votes. Every peer that sees the higher term adopts it, and the healthy leader, which sees it too,
// steps down: one flaky peer costs the region its leader. Two guards stop that:
//   - PreVote: before raising its term a would-be candidate asks "would you vote for me at term+1?". Answering
//     changes nothing, so a peer that cannot win never raises anybody's term.
//   - Stickiness: a peer that still hears a live leader (or is the leader) refuses both pre-votes and votes, and a
//     refused vote request does not even move its term.
//
// Safety. A peer votes at most once per term and persists that vote before it answers, so within one connected
// region a term has at most one leader. Quorums, though, are counted over the peers each candidate currently sees
// alive, not over a fixed membership: that is what lets each side of a partition keep a leader (edge autonomy), and it
// means that two sides can each elect a leader, possibly in the same term. When the partition heals, the higher term
// wins; leaders in the same term break the tie deterministically, and the higher peer ID (plain string comparison)
// keeps the lead. The shell's reconciler then removes the duplicate instances the two leaders placed. The same rule
// means that a peer cut off on its own elects itself (it is a majority of the one peer it sees) in a higher term,
// and takes the lead when it returns: the price of edge autonomy, paid with one leader change per heal.
import type { Role } from '../wire/schemas.js'

/** What a peer knows about its region's election. `term` and `votedFor` must survive a restart. */
export interface ElectionState {
  /** The highest term this peer has seen. */
  term: number
  /** The candidate this peer voted for in `term`, or null if it has not voted in `term`. */
  votedFor: string | null
  role: Role
  /** The peer this one follows in `term`, itself when it leads, or null when it knows no leader. */
  leader: string | null
}

/** A request for a vote, or for a pre-vote: "would you vote for me if I asked at `term`?". */
export interface VoteRequest {
  kind: 'prevote' | 'vote'
  region: string
  /** For a pre-vote, the term the candidate would campaign in: its current term + 1. */
  term: number
  candidate: string
}

/** What the voter knows beyond its election state when it answers. */
export interface VoterView {
  self: string
  region: string
  /** True if this peer is the leader, or hears a live leader other than the candidate. */
  leaderLive: boolean
}

/** Why a vote was or was not granted, so that a failed election can be explained. */
export type VoteReason = 'granted' | 'wrong-region' | 'stale-term' | 'leader-alive' | 'already-voted'

/** The answer to a VoteRequest, and the state the voter moves to. */
export interface VoteDecision {
  granted: boolean
  reason: VoteReason
  next: ElectionState
  /** `next` must be persisted before the answer is sent, or a restart could let this peer vote twice in a term. */
  persist: boolean
}

/** The result of observing another peer's term and role. */
export interface Observation {
  next: ElectionState
  /** False when `next` is `state` itself. */
  changed: boolean
  /** `next` carries a new term (and so a cleared vote) that must be persisted. */
  persist: boolean
  /** This peer was leader or candidate and is now a follower. */
  steppedDown: boolean
}

/** The state of a peer that has never taken part in an election: term 0, follower, no vote, no leader. */
export function initialState (): ElectionState {
  return { term: 0, votedFor: null, role: 'follower', leader: null }
}

/**
 * Decides whether to grant a pre-vote or a vote.
 *
 * A pre-vote is granted iff the proposed term is above ours and we hear no live leader; it never changes the state.
 * A vote is refused for an older term, or while we hear a live leader (and then the state does not change either, so
 * a flaky peer cannot raise everybody's term). Otherwise a higher term is adopted, and the vote is granted iff we have
 * not voted in that term, or voted for this same candidate (a retried request).
 */
export function decideVote (state: ElectionState, req: VoteRequest, view: VoterView): VoteDecision {
  if (req.region !== view.region) return deny(state, 'wrong-region')

  if (req.kind === 'prevote') {
    // A pre-vote proposes the candidate's term + 1; one not above ours comes from a peer that is behind us.
    if (req.term <= state.term) return deny(state, 'stale-term')
    if (view.leaderLive) return deny(state, 'leader-alive')
    return { granted: true, reason: 'granted', next: state, persist: false }
  }

  if (req.term < state.term) return deny(state, 'stale-term')
  // Checked before the term is adopted: a request we refuse for this reason must leave no trace.
  if (view.leaderLive) return deny(state, 'leader-alive')

  if (req.term === state.term && state.votedFor !== null && state.votedFor !== req.candidate) {
    return deny(state, 'already-voted')
  }
  // A higher term is adopted with no vote cast in it yet, so the vote is ours to give.
  const current: ElectionState = req.term > state.term
    ? { term: req.term, votedFor: null, role: 'follower', leader: null }
    : state
  return { granted: true, reason: 'granted', next: { ...current, votedFor: req.candidate }, persist: true }
}

function deny (state: ElectionState, reason: VoteReason): VoteDecision {
  return { granted: false, reason, next: state, persist: false }
}

/**
 * The state in which this peer campaigns: the next term, with its own vote. The caller persists it before sending
 * any vote request, for the same reason a voter persists its vote.
 */
export function startCandidacy (state: ElectionState, self: string): ElectionState {
  return { term: state.term + 1, votedFor: self, role: 'candidate', leader: null }
}

/**
 * The votes a candidate needs: a majority of the region peers it sees alive (alive or suspect), counting itself.
 * `alive` below 1 is taken as 1, since the candidate always sees itself.
 */
export function quorumSize (alive: number): number {
  return Math.floor(Math.max(1, alive) / 2) + 1
}

/** Whether `votes` (the candidate's own included) are a majority of the `alive` peers it sees. */
export function hasQuorum (votes: number, alive: number): boolean {
  return votes >= quorumSize(alive)
}

/**
 * The state of a candidate that won its term. Anything but a candidate that voted for itself is returned unchanged:
 * a candidate that stepped down while votes were in flight must not take the lead with them. The caller also checks
 * that the votes were cast for `state.term`.
 */
export function becomeLeader (state: ElectionState, self: string): ElectionState {
  if (state.role !== 'candidate' || state.votedFor !== self) return state
  return { ...state, role: 'leader', leader: self }
}

/**
 * Applies the term and role another peer announced in a heartbeat or status.
 *
 * A higher term always wins: we follow in it, with no vote cast yet, and a leader or candidate steps down at once.
 * At an equal term a leader's announcement is adopted by a follower and ends a candidacy; two leaders in one term
 * (only possible after a partition) keep the one with the higher peer ID. Lower terms and our own messages are
 * ignored.
 */
export function observe (
  state: ElectionState,
  msg: { peerId: string, term: number, role: Role },
  self: string
): Observation {
  if (msg.peerId === self || msg.term < state.term) return unchanged(state)

  if (msg.term > state.term) {
    return {
      next: { term: msg.term, votedFor: null, role: 'follower', leader: msg.role === 'leader' ? msg.peerId : null },
      changed: true,
      persist: true,
      steppedDown: state.role !== 'follower'
    }
  }

  if (msg.role !== 'leader') return unchanged(state)

  switch (state.role) {
    case 'follower':
      // A follower simply takes the latest leader it hears: after a partition heals it may flip between the two
      // equal-term leaders until the loser hears the winner and steps down, which takes one heartbeat.
      if (state.leader === msg.peerId) return unchanged(state)
      return { next: { ...state, leader: msg.peerId }, changed: true, persist: false, steppedDown: false }
    case 'candidate':
      // Someone already won this term. Our vote stays with ourselves, so we cannot vote again in it.
      return follow(state, msg.peerId)
    case 'leader':
      return msg.peerId > self ? follow(state, msg.peerId) : unchanged(state)
  }
}

function follow (state: ElectionState, leader: string): Observation {
  return { next: { ...state, role: 'follower', leader }, changed: true, persist: false, steppedDown: true }
}

function unchanged (state: ElectionState): Observation {
  return { next: state, changed: false, persist: false, steppedDown: false }
}
