// The election driver: the shell around rules.ts. It watches the membership for the leader's heartbeat, waits a
// randomised timeout once the leader is gone, runs a pre-vote and then a vote over /grove/vote/1.0.0, persists
// term and vote before every answer, and announces the winner through the status heartbeat.
import type { Connection, Libp2p } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { z } from 'zod'
import { VOTE_PROTOCOL } from '../protocols.js'
import { peerIdString, regionName } from '../wire/schemas.js'
import { handle, request } from '../wire/rpc.js'
import { Periodic, type Clock } from '../clock.js'
import type { Timings } from '../config.js'
import type { Store } from '../store.js'
import type { Membership, MemberEvent } from '../membership/membership.js'
import { logger, info } from '../log.js'
import {
  becomeLeader, decideVote, hasQuorum, initialState, observe, quorumSize, startCandidacy,
  type ElectionState, type VoteRequest
} from './rules.js'

const log = logger('election')

const voteRequestSchema = z.object({
  v: z.literal(1),
  kind: z.enum(['prevote', 'vote']),
  region: regionName,
  term: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  candidate: peerIdString
})
const voteResponseSchema = z.union([
  // leader: who the voter follows, when it refuses because it hears a live leader.
  z.object({ granted: z.boolean(), term: z.number().int().nonnegative(), reason: z.string().max(64), leader: peerIdString.optional() }),
  z.object({ error: z.string().max(1024) })
])

const persistedSchema = z.object({ term: z.number().int().nonnegative(), votedFor: peerIdString.nullable() })

export interface ElectionInit {
  libp2p: Libp2p
  store: Store
  clock: Clock
  timings: Timings
  region: string
  membership: Membership
  /** false with --no-lead: never stand, but still vote. */
  eligible: boolean
  /**
   * The founding peer of a new region skips the initial listening period. A function when that is learned late (the
   * DHT directory has no record of the region this peer joins).
   */
  found?: boolean | (() => boolean)
  /** Extra condition to stand for election (the peer has reached the mesh it was told to join). */
  mayStand?: () => boolean
}

export class Election {
  private state: ElectionState = initialState()
  private readonly self: string
  private readonly loop: Periodic
  private readonly key: string
  private startedAt = 0
  /** Some leader other than ourselves was followed since start: the initial listening period has served. */
  private heardLeader = false
  private deadline: number | undefined
  private campaigning = false
  private started = false
  private unsubscribe: (() => void) | undefined
  private readonly listeners = new Set<(s: ElectionState) => void>()
  /** Elections this peer won, for metrics. */
  wins = 0

  constructor (private readonly init: ElectionInit) {
    this.self = init.libp2p.peerId.toString()
    this.key = `election/${init.region}`
    // The loop only watches for a lost leader; membership events wake it at once (see start()).
    const tick = Math.max(100, init.timings.electionTimeoutMin)
    this.loop = new Periodic({ name: 'election', intervalMs: tick, jitter: 0 }, () => { this.tick() })
  }

  get current (): ElectionState { return { ...this.state } }

  onChange (listener: (s: ElectionState) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async start (): Promise<void> {
    if (this.started) return
    const saved = persistedSchema.safeParse(await this.init.store.get(this.key))
    // A restarted peer keeps its term and vote, but never its old role: it must hear the region first.
    if (saved.success) this.state = { ...initialState(), term: saved.data.term, votedFor: saved.data.votedFor }
    this.started = true
    this.startedAt = this.init.clock.now()
    await handle(this.init.libp2p, VOTE_PROTOCOL, voteRequestSchema, async (req, connection) => await this.answer(req, connection), { timeoutMs: 5000 })
    this.unsubscribe = this.init.membership.onEvent(e => {
      if (e.type === 'dead' || e.type === 'left') this.loop.trigger()
      void this.onMember(e)
    })
    // Members the membership learned before we listened (its start pulls the region's view) send no event again
    // while nothing changes: a leader's unchanged beats emit none. Without this a restarted follower could stay
    // without a leader for good, its pre-votes refused because everyone else hears one.
    for (const member of this.init.membership.members.values()) {
      if (member.clock.state === 'alive') await this.onMember({ type: 'alive', member })
    }
    this.publish()
    this.loop.start()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.loop.stop()
    this.unsubscribe?.()
    await this.init.libp2p.unhandle(VOTE_PROTOCOL)
  }

  /** Whether this peer hears a live leader (or is one). */
  leaderLive (): boolean {
    const { leader, role } = this.state
    if (role === 'leader') return true
    if (leader === null || leader === this.self) return false
    const s = this.init.membership.state(leader)
    if (s !== 'alive' && s !== 'suspect') return false
    // Alive, but no longer leading by its own account: it restarted (a new life starts as a follower) or stepped
    // down. Following it still left the region without a leader for good: everyone refused to vote while "their
    // leader" lived, and the restarted peer itself could not win.
    return this.init.membership.members.get(leader)?.status.role === 'leader'
  }

  private async persist (): Promise<void> {
    await this.init.store.put(this.key, { term: this.state.term, votedFor: this.state.votedFor })
  }

  private async setState (next: ElectionState, persist: boolean): Promise<void> {
    const before = this.state
    this.state = next
    if (next.leader !== null && next.leader !== this.self) this.heardLeader = true
    if (persist) await this.persist()
    if (before.role !== next.role || before.term !== next.term || before.leader !== next.leader) {
      if (before.leader !== next.leader && next.leader !== null && next.leader !== this.self && next.role === 'follower') {
        const name = this.init.membership.members.get(next.leader)?.status.name ?? next.leader
        info(`following leader ${name} of region ${this.init.region} (term ${next.term})`)
      }
      if (before.role === 'leader' && next.role !== 'leader') info(`stepped down as leader of region ${this.init.region} (term ${next.term})`)
      this.publish()
    }
  }

  private publish (): void {
    this.init.membership.setRole(this.state.role, this.state.term, this.state.leader)
    for (const l of this.listeners) {
      try { l(this.current) } catch (err) { log.error('listener failed: %s', (err as Error).message) }
    }
  }

  private async onMember (e: MemberEvent): Promise<void> {
    if (e.type === 'left' || e.type === 'dead' || e.type === 'suspect') return
    const { peerId, term, role } = e.member.status
    const o = observe(this.state, { peerId, term, role }, this.self)
    if (o.changed) await this.setState(o.next, o.persist)
  }

  private tick (): void {
    if (!this.started || this.campaigning || !this.init.eligible) return
    if (this.init.mayStand !== undefined && !this.init.mayStand()) return
    if (this.leaderLive()) {
      this.deadline = undefined
      return
    }
    // A live leader the membership knows of, whatever events were missed, is followed rather than challenged.
    for (const member of this.init.membership.members.values()) {
      if (member.clock.state !== 'alive' || member.status.role !== 'leader' || member.status.term < this.state.term) continue
      void this.onMember({ type: 'alive', member })
      return
    }
    const now = this.init.clock.now()
    // A (re)started peer first listens for the region's leader for one silence threshold; once it has heard one,
    // that leader's death is handled like any other (peers restarted just before the leader died otherwise all sat
    // out the rest of their listening period, and a failover took 27 s).
    const founding = typeof this.init.found === 'function' ? this.init.found() : this.init.found === true
    if (!founding && !this.heardLeader && now - this.startedAt < this.init.timings.suspectAfter) return
    if (this.deadline === undefined) {
      const wait = this.randomTimeout()
      this.deadline = now + wait
      setTimeout(() => { this.loop.trigger() }, wait + 1).unref()
      return
    }
    if (now < this.deadline) return
    this.campaigning = true
    void this.campaign().finally(() => {
      this.campaigning = false
      this.deadline = undefined
    })
  }

  private randomTimeout (): number {
    const { electionTimeoutMin: min, electionTimeoutMax: max } = this.init.timings
    return min + Math.random() * (max - min)
  }

  /**
   * Asks every live region peer; resolves with the number of grants (our own vote included). A voter that refuses
   * because it follows a live leader names it: we pull that leader's status from the leader itself, and if it does
   * lead, the membership's update makes us follow it. A peer whose gossip never carried that leader's beats (a split
   * gossip mesh) otherwise kept campaigning, refused by everyone, and never learned who leads.
   */
  private async poll (kind: 'prevote' | 'vote', term: number, voters: string[]): Promise<number> {
    const timeoutMs = Math.max(300, this.init.timings.probeTimeout * 2)
    const named = new Set<string>()
    const answers = await Promise.all(voters.map(async (peer) => {
      try {
        const res = await request(this.init.libp2p, peerIdFromString(peer), VOTE_PROTOCOL,
          { v: 1, kind, region: this.init.region, term, candidate: this.self }, voteResponseSchema, { timeoutMs })
        if ('error' in res) return false
        if (!res.granted) log('%s %s denied: %s (their term %d)', kind, peer, res.reason, res.term)
        if (!res.granted && res.leader !== undefined && res.leader !== this.self) named.add(res.leader)
        return res.granted
      } catch (err) {
        log('%s request to %s failed: %s', kind, peer, (err as Error).message)
        return false
      }
    }))
    for (const leader of [...named].slice(0, 3)) void this.init.membership.refresh(leader)
    return 1 + answers.filter(Boolean).length
  }

  private async campaign (): Promise<void> {
    const voters = this.init.membership.liveMembers().map(m => m.peerId)
    const alive = voters.length + 1
    const needed = quorumSize(alive)
    // PreVote: ask before raising the term, so a peer that cannot win never disturbs the others' terms.
    const preGrants = await this.poll('prevote', this.state.term + 1, voters)
    if (!this.started || this.leaderLive()) return
    if (!hasQuorum(preGrants, alive)) {
      log('pre-vote for term %d lost: %d of %d needed', this.state.term + 1, preGrants, needed)
      return
    }
    await this.setState(startCandidacy(this.state, this.self), true)
    const term = this.state.term
    log('standing for term %d with %d live peers', term, alive)
    const grants = await this.poll('vote', term, voters)
    if (!this.started) return
    if (this.state.term !== term || this.state.role !== 'candidate') return
    if (hasQuorum(grants, alive)) {
      await this.setState(becomeLeader(this.state, this.self), false)
      this.wins++
      info(`elected leader of region ${this.init.region} in term ${term} (${grants} of ${alive} votes)`)
    } else {
      log('election for term %d lost: %d of %d needed', term, grants, needed)
      await this.setState({ ...this.state, role: 'follower', leader: null }, false)
    }
  }

  private async answer (req: z.infer<typeof voteRequestSchema>, connection: Connection): Promise<unknown> {
    if (req.candidate !== connection.remotePeer.toString()) {
      return { granted: false, term: this.state.term, reason: 'candidate-mismatch' }
    }
    const view = { self: this.self, region: this.init.region, leaderLive: this.leaderLive() }
    const decision = decideVote(this.state, req as VoteRequest, view)
    // The vote is on disk before the candidate hears about it: a restart cannot make this peer vote twice.
    if (decision.next !== this.state) await this.setState(decision.next, decision.persist)
    else if (decision.persist) await this.persist()
    const leader = decision.reason === 'leader-alive' && this.state.leader !== null ? { leader: this.state.leader } : {}
    return { granted: decision.granted, term: this.state.term, reason: decision.reason, ...leader }
  }
}
