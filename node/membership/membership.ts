// Membership of one region: heartbeats on the region's gossip topic, a Lifeguard-style failure detector with
// direct and indirect probes, leave announcements, incarnations, and anti-entropy pulls over /grove/sync.
//
//   heard (status, beat, probe ack, fresh sync entry)
//        │
//        ▼          silence > suspectAfter·h, or         suspicion lasted
//    ┌───────┐      connection lost + direct probe fails  suspicionTimeout·h   ┌──────┐
//    │ alive │ ───────────────────────────────────────▶ suspect ──────────────▶│ dead │
//    └───────┘ ◀─────────── heard after the suspicion began ─────────────────── └──────┘
//        │ leave message (same or newer incarnation)                              │ reapDeadAfter
//        ▼                                                                        ▼
//     removed (a tombstone keeps its incarnation, so late messages cannot revive it)   forgotten
//
// h is the local-health multiplier (awareness + 1): while this peer's own event loop lags or its probes go
// unanswered by everyone, it trusts its own timing less and waits longer before blaming others.
import type { Libp2p } from '@libp2p/interface'
import { TopicValidatorResult, type GossipSub, type Message, type SubscriptionChangeData } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import { regionTopic, SYNC_PROTOCOL } from '../protocols.js'
import {
  nodeStatusSchema, regionMessageSchema, regionName, peerIdString,
  type Beat, type NodeInfo, type NodeStatus, type RegionMessage
} from '../wire/schemas.js'
import { decode, encode, WireError } from '../wire/codec.js'
import { handle, request } from '../wire/rpc.js'
import { Periodic, type Clock } from '../clock.js'
import type { Timings } from '../config.js'
import { logger, info } from '../log.js'
import { VivaldiClient } from '../coordinates.js'
import {
  awarenessAfterLag, awarenessAfterProbe, DEFAULT_AWARENESS, heard, judge, scaled, stalled,
  type MemberClock, type MemberState
} from './detector.js'
import { probeService, type ProbeService } from './probe.js'

const log = logger('membership')

/** Regions up to this many peers use the profile's timings as they are (see sizeFactor). */
const REGION_SCALE_FROM = 8

/** Gossip messages above this are rejected outright. */
const MAX_GOSSIP_BYTES = 64 * 1024
/** A sync answer may list a whole region. */
const MAX_SYNC_BYTES = 4 * 1024 * 1024

export interface Member {
  peerId: string
  status: NodeStatus
  clock: MemberClock
  /** Wall-clock ms of the last time this peer heard from it. */
  lastSeen: number
  /** Latest clean probe RTT, ms. */
  rttMs: number | null
  /** Monotonic ms when it was declared dead. */
  deadAt: number | null
  /**
   * Whether the status came from the peer itself (its signed gossip, or a pull from it), rather than second-hand
   * through another peer's sync answer. Second-hand news never overrides first-hand knowledge, and first-hand news
   * always replaces second-hand: a peer cannot plant a forged status (say, with a huge incarnation) that would
   * shut the real peer's messages out.
   */
  firsthand: boolean
}

export type MemberEvent = { type: 'alive' | 'suspect' | 'dead' | 'left' | 'update', member: Member }

export interface MembershipInit {
  libp2p: Libp2p<{ pubsub: GossipSub }>
  clock: Clock
  timings: Timings
  region: string
  incarnation: number
  /** This peer's info; beats come from `beat()`. */
  info: NodeInfo
  /** Extra sections for sync answers (region summaries, later the state digest). */
  syncExtras?: () => Record<string, unknown>
  onSyncExtras?: (extras: Record<string, unknown>) => void
}

const syncRequestSchema = z.object({
  v: z.literal(1),
  region: regionName,
  /** Only these peers' statuses, when set (pulling one peer's new info after a beat showed a newer revision). */
  peers: z.array(peerIdString).max(1024).optional()
})
const syncMemberSchema = z.object({ status: nodeStatusSchema, ageMs: z.number().nonnegative().finite(), state: z.enum(['alive', 'suspect', 'dead']) })
const syncResponseSchema = z.object({
  v: z.literal(1),
  region: regionName,
  members: z.array(syncMemberSchema).max(4096),
  extras: z.record(z.string(), z.unknown()).optional()
})
export type SyncResponse = z.infer<typeof syncResponseSchema>

export class Membership {
  readonly members = new Map<string, Member>()
  readonly vivaldi = new VivaldiClient()
  readonly self: string
  private info: NodeInfo
  private beatState: Beat
  private readonly tombstones = new Map<string, number>()
  private readonly listeners = new Set<(e: MemberEvent) => void>()
  private readonly probes: ProbeService
  private readonly topic: string
  private readonly heartbeat: Periodic
  private readonly detector: Periodic
  private readonly prober: Periodic
  private readonly syncer: Periodic
  private awareness = 0
  private lastTick: number | undefined
  private pendingFull = true
  private coordinatePublishedAt = 0
  private readonly pulling = new Set<string>()
  private started = false
  /** Fault injection (tests and drills): drop every region gossip message in and out. */
  gossipCut = false
  private readonly messageHandler = (evt: CustomEvent<Message>): void => { this.onMessage(evt.detail) }
  private readonly disconnectHandler = (evt: CustomEvent<{ toString(): string }>): void => { this.onDisconnect(evt.detail.toString()) }
  private readonly connectHandler = (): void => { if (this.members.size === 0) this.syncer.trigger() }
  /**
   * A peer that subscribes to our region's topic is a new (or returning) member: pull its status from it at once
   * rather than wait for its first heartbeat to find its way through the mesh. It does the same with us, so nothing
   * is published: this fires on every new connection between region peers, and when it also published our full
   * status to the whole region, a wave of N joiners cost O(N³) deliveries (a 50-peer testnet never settled).
   */
  private readonly subscriptionHandler = (evt: CustomEvent<SubscriptionChangeData>): void => {
    const joined = evt.detail.subscriptions.some(s => s.topic === this.topic && s.subscribe)
    if (!joined) return
    const peer = evt.detail.peerId.toString()
    const known = this.members.get(peer)
    if (known === undefined || known.clock.state !== 'alive' || !known.firsthand) void this.pull(peer)
  }

  constructor (private readonly init: MembershipInit) {
    this.self = init.libp2p.peerId.toString()
    this.info = { ...init.info, coordinate: this.vivaldi.coordinate }
    this.beatState = { incarnation: init.incarnation, seq: 0, rev: 1, role: 'follower', term: 0, leader: null, instances: '' }
    this.topic = regionTopic(init.region)
    const t = init.timings
    this.probes = probeService({
      libp2p: init.libp2p,
      coordinate: () => this.vivaldi.coordinate,
      allowHelper: (peer) => this.members.has(peer)
    })
    this.heartbeat = new Periodic({ name: 'heartbeat', intervalMs: () => t.statusInterval * this.sizeFactor(), jitter: 0.1 }, () => this.publishHeartbeat())
    this.detector = new Periodic({ name: 'detector', intervalMs: Math.max(50, Math.min(500, t.statusInterval / 2)), jitter: 0 }, () => { this.tick() })
    this.prober = new Periodic({ name: 'prober', intervalMs: t.probeInterval, jitter: 0.2 }, async (signal) => {
      await Promise.all([this.probeRandom(signal), this.probeDead(signal)])
    })
    this.syncer = new Periodic({ name: 'sync', intervalMs: t.syncInterval, jitter: 0.2, timeoutMs: 10_000 }, async (signal) => { await this.syncOnce(signal) })
  }

  get pubsub (): GossipSub { return this.init.libp2p.services.pubsub }

  /**
   * Every peer of a region hears every other peer's heartbeat, so a region's gossip grows with the square of its
   * size. Past REGION_SCALE_FROM peers the heartbeat interval and every failure timeout stretch in proportion, so
   * the messages each peer handles per second stay roughly constant (and detection slows gracefully). A lost
   * connection is still probed at once, so a crash on a LAN is found as fast as before.
   */
  sizeFactor (): number {
    return Math.max(1, (this.members.size + 1) / REGION_SCALE_FROM)
  }

  /** The profile's timings, stretched for the size of the region. */
  private timings (): Timings {
    const f = this.sizeFactor()
    const t = this.init.timings
    if (f === 1) return t
    return { ...t, suspectAfter: t.suspectAfter * f, suspicionMin: t.suspicionMin * f, suspicionMax: t.suspicionMax * f }
  }
  get localAwareness (): number { return this.awareness }

  /** This peer's full status as it would publish it now. */
  get localStatus (): NodeStatus {
    return { ...this.info, ...this.beatState }
  }

  onEvent (listener: (e: MemberEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    const { libp2p } = this.init
    await this.probes.start()
    await handle(libp2p, SYNC_PROTOCOL, syncRequestSchema, async (req) => this.answerSync(req), { maxBytes: MAX_SYNC_BYTES, timeoutMs: 10_000 })
    this.pubsub.topicValidators.set(this.topic, (peer, msg) => this.validate(peer.toString(), msg))
    this.pubsub.addEventListener('message', this.messageHandler)
    this.pubsub.addEventListener('subscription-change', this.subscriptionHandler)
    libp2p.addEventListener('peer:disconnect', this.disconnectHandler)
    libp2p.addEventListener('peer:connect', this.connectHandler)
    this.pubsub.subscribe(this.topic)
    this.heartbeat.start()
    this.detector.start()
    this.prober.start()
    this.syncer.start()
  }

  /** Announces that this peer is leaving, so the others remove it at once instead of timing it out. */
  async leave (): Promise<void> {
    if (!this.started) return
    this.beatState = { ...this.beatState, seq: this.beatState.seq + 1 }
    const msg: RegionMessage = { v: 1, t: 'leave', incarnation: this.beatState.incarnation, seq: this.beatState.seq }
    try {
      await this.pubsub.publish(this.topic, encode(msg))
    } catch (err) {
      log('leave publish failed: %s', (err as Error).message)
    }
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    for (const p of [this.heartbeat, this.detector, this.prober, this.syncer]) p.stop()
    const { libp2p } = this.init
    this.pubsub.removeEventListener('message', this.messageHandler)
    this.pubsub.removeEventListener('subscription-change', this.subscriptionHandler)
    libp2p.removeEventListener('peer:disconnect', this.disconnectHandler)
    libp2p.removeEventListener('peer:connect', this.connectHandler)
    this.pubsub.topicValidators.delete(this.topic)
    try { this.pubsub.unsubscribe(this.topic) } catch {}
    await this.probes.stop()
    await libp2p.unhandle(SYNC_PROTOCOL)
  }

  // ----- the local status ---------------------------------------------------------------------------------------

  /** Updates this peer's info; a material change bumps the revision and goes out with the next heartbeat. */
  setInfo (patch: Partial<NodeInfo>): void {
    const next = { ...this.info, ...patch }
    if (JSON.stringify(next) === JSON.stringify(this.info)) return
    this.info = next
    this.beatState = { ...this.beatState, rev: this.beatState.rev + 1 }
    this.pendingFull = true
    this.heartbeat.trigger()
  }

  /** Role, term and leader changes are announced at once: that is how a new leader becomes known. */
  setRole (role: Beat['role'], term: number, leader: string | null): void {
    const b = this.beatState
    if (b.role === role && b.term === term && b.leader === leader) return
    this.beatState = { ...b, role, term, leader }
    this.heartbeat.trigger()
  }

  setInstancesDigest (digest: string): void {
    if (this.beatState.instances === digest) return
    this.beatState = { ...this.beatState, instances: digest }
    this.heartbeat.trigger()
  }

  private async publishHeartbeat (): Promise<void> {
    // Coordinates move a little with every probe; publishing each move would make every heartbeat a full status.
    const coordinateAge = this.init.clock.now() - this.coordinatePublishedAt
    if (coordinateAge > this.init.timings.statusInterval * 30 || this.coordinatePublishedAt === 0) {
      const coordinate = this.vivaldi.coordinate
      if (JSON.stringify(coordinate) !== JSON.stringify(this.info.coordinate)) {
        this.info = { ...this.info, coordinate }
        this.beatState = { ...this.beatState, rev: this.beatState.rev + 1 }
        this.pendingFull = true
      }
      this.coordinatePublishedAt = this.init.clock.now()
    }
    this.beatState = { ...this.beatState, seq: this.beatState.seq + 1 }
    const msg: RegionMessage = this.pendingFull
      ? { v: 1, t: 'status', status: this.localStatus }
      : { v: 1, t: 'beat', beat: this.beatState }
    const subscribers = this.pubsub.getSubscribers(this.topic).length
    if (this.gossipCut) return
    try {
      await this.pubsub.publish(this.topic, encode(msg))
      // Keep sending the full status until somebody could have received it.
      if (subscribers > 0) this.pendingFull = false
    } catch (err) {
      log('heartbeat publish failed: %s', (err as Error).message)
    }
  }

  // ----- receiving ----------------------------------------------------------------------------------------------

  /** Decoded messages, so the validator and the handler parse each message once. */
  private readonly parsed = new WeakMap<Uint8Array, RegionMessage>()

  private parse (msg: Message): RegionMessage {
    const cached = this.parsed.get(msg.data)
    if (cached !== undefined) return cached
    const value = decode(msg.data, regionMessageSchema, MAX_GOSSIP_BYTES)
    this.parsed.set(msg.data, value)
    return value
  }

  private validate (from: string, msg: Message): TopicValidatorResult {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject
    let parsed: RegionMessage
    try {
      parsed = this.parse(msg)
    } catch (err) {
      log('rejected a region message from %s: %s', from, (err as Error).message)
      return TopicValidatorResult.Reject
    }
    const author = msg.from.toString()
    if (parsed.t === 'status' && (parsed.status.peerId !== author || parsed.status.region !== this.init.region)) {
      log('rejected a status from %s that claims to be %s of region %s', author, parsed.status.peerId, parsed.status.region)
      return TopicValidatorResult.Reject
    }
    if (author === this.self || this.gossipCut) return TopicValidatorResult.Ignore
    return TopicValidatorResult.Accept
  }

  private onMessage (msg: Message): void {
    if (msg.topic !== this.topic || msg.type !== 'signed') return
    let parsed: RegionMessage
    try {
      parsed = this.parse(msg)
    } catch {
      return
    }
    const author = msg.from.toString()
    if (author === this.self) return
    if (parsed.t === 'status') this.applyStatus(parsed.status, 0, true)
    else if (parsed.t === 'beat') this.applyBeat(author, parsed.beat)
    else this.applyLeave(author, parsed.incarnation)
  }

  /** Whether (incarnation, seq) is newer than what we hold for this peer, given where the news came from. */
  private isNewer (peerId: string, incarnation: number, seq: number, firsthand: boolean): boolean {
    const tomb = this.tombstones.get(peerId)
    if (tomb !== undefined && (incarnation <= tomb || !firsthand)) return false
    const m = this.members.get(peerId)
    if (m === undefined) return true
    if (m.firsthand !== firsthand) return firsthand
    return incarnation > m.status.incarnation || (incarnation === m.status.incarnation && seq > m.status.seq)
  }

  /** Applies a full status; `ageMs` > 0 when it was relayed through sync. */
  private applyStatus (status: NodeStatus, ageMs: number, firsthand: boolean): void {
    if (status.peerId === this.self || status.region !== this.init.region) return
    if (!this.isNewer(status.peerId, status.incarnation, status.seq, firsthand)) {
      // Same message seen again, or older: it still proves nothing new about liveness. But newer news second-hand
      // of a peer we hold dead (or suspect) says others hear it: ask it ourselves. Only first-hand evidence may revive
      // it, and its gossip may not reach us (a low-degree gossip mesh can split), so without this it stayed dead.
      if (!firsthand) this.recheck(status)
      return
    }
    this.tombstones.delete(status.peerId)
    const now = this.init.clock.now()
    const existing = this.members.get(status.peerId)
    if (existing === undefined || JSON.stringify(existing.status.addrs) !== JSON.stringify(status.addrs)) this.learnAddrs(status)
    const heardAt = now - ageMs
    if (existing === undefined) {
      const member: Member = { peerId: status.peerId, status, clock: heard(heardAt), lastSeen: this.init.clock.wall() - ageMs, rttMs: null, deadAt: null, firsthand }
      if (ageMs > scaled(this.init.timings.suspectAfter, this.awareness)) {
        // Learned second-hand and already stale: do not count it alive until it is heard from.
        member.clock = { ...member.clock, state: 'suspect', suspectSince: now }
      }
      this.members.set(status.peerId, member)
      log('new member %s (%s)', status.name, status.peerId)
      // Learned second-hand (a sync answer): hear it from itself too. The pull dials it, and a region's peers are
      // meant to be connected to each other; without this, a peer whose gossip did not reach us (the degree-2
      // gossip mesh over a partial set of connections can split) stayed unknown until the next sync, minutes later.
      if (!firsthand) void this.pull(status.peerId)
      this.emit(member.clock.state === 'alive' ? 'alive' : 'suspect', member)
      return
    }
    const restarted = status.incarnation > existing.status.incarnation
    existing.status = status
    existing.firsthand = firsthand
    this.markHeard(existing, heardAt)
    if (restarted) {
      log('%s restarted (incarnation %d)', status.name, status.incarnation)
      this.vivaldi.forget(status.peerId)
    }
    this.emit('update', existing)
  }

  /**
   * Puts a member's announced addresses in the peer store. A peer that only listens on a relay address is dialed
   * by nobody and never identified by most of its region: without this, dialing it by peer ID found no address.
   * A wrong address costs a failed dial at most: the handshake proves who answers.
   */
  private learnAddrs (status: NodeStatus): void {
    let addrs
    try {
      addrs = status.addrs.map(a => multiaddr(a))
    } catch {
      return
    }
    if (addrs.length === 0) return
    this.init.libp2p.peerStore.merge(peerIdFromString(status.peerId), { multiaddrs: addrs })
      .catch((err: Error) => { log('cannot store the addresses of %s: %s', status.name, err.message) })
  }

  /** When each peer was last re-checked on second-hand news; at most one pull per peer per probeInterval. */
  private readonly rechecked = new Map<string, number>()

  private recheck (status: NodeStatus): void {
    const m = this.members.get(status.peerId)
    if (m === undefined || m.clock.state === 'alive' || !this.started) return
    if (status.incarnation < m.status.incarnation || (status.incarnation === m.status.incarnation && status.seq <= m.status.seq)) return
    const now = this.init.clock.now()
    if (now - (this.rechecked.get(status.peerId) ?? -Infinity) < this.init.timings.probeInterval) return
    this.rechecked.set(status.peerId, now)
    for (const [peer, at] of this.rechecked) if (now - at > this.init.timings.probeInterval) this.rechecked.delete(peer)
    log('%s is %s here but newer second-hand: pulling its status from it', m.status.name, m.clock.state)
    void this.pull(status.peerId)
  }

  private applyBeat (author: string, beat: Beat): void {
    const existing = this.members.get(author)
    if (existing === undefined || !existing.firsthand || beat.incarnation > existing.status.incarnation) {
      // We do not know this peer (or this life of it, or only second-hand): fetch its full status from itself.
      if (this.isNewer(author, beat.incarnation, beat.seq, true)) void this.pull(author)
      return
    }
    if (!this.isNewer(author, beat.incarnation, beat.seq, true)) return
    const changed = beat.role !== existing.status.role || beat.term !== existing.status.term || beat.leader !== existing.status.leader
    const needInfo = beat.rev > existing.status.rev
    existing.status = { ...existing.status, ...beat, rev: existing.status.rev }
    this.markHeard(existing, this.init.clock.now())
    if (needInfo) void this.pull(author)
    if (changed) this.emit('update', existing)
  }

  private applyLeave (author: string, incarnation: number): void {
    const existing = this.members.get(author)
    if (existing !== undefined && incarnation < existing.status.incarnation) return
    this.tombstones.set(author, incarnation)
    if (existing === undefined) return
    this.members.delete(author)
    this.vivaldi.forget(author)
    info(`peer ${existing.status.name} (${author}) left the region`)
    this.emit('left', existing)
  }

  private markHeard (m: Member, at: number): void {
    if (at <= m.clock.lastHeard && m.clock.state === 'alive') return
    const wasState = m.clock.state
    if (at > m.clock.lastHeard) {
      m.clock = { ...m.clock, lastHeard: at }
      m.lastSeen = this.init.clock.wall() - (this.init.clock.now() - at)
    }
    const since = m.clock.suspectSince
    if (wasState !== 'alive' && (since === null || at > since)) {
      m.clock = heard(m.clock.lastHeard)
      m.deadAt = null
      if (wasState === 'dead') info(`peer ${m.status.name} (${m.peerId}) is alive again`)
      this.emit('alive', m)
    }
  }

  // ----- failure detection --------------------------------------------------------------------------------------

  private tick (): void {
    const now = this.init.clock.now()
    const interval = Math.max(50, Math.min(500, this.init.timings.statusInterval / 2))
    const previous = this.lastTick
    this.lastTick = now
    // The detector's own tick measures this peer's event-loop lag (no separate timer waking the process): a tick
    // that comes late says the loop was busy, and the local-health score follows.
    if (previous !== undefined) this.awareness = awarenessAfterLag(this.awareness, Math.max(0, now - previous - interval), DEFAULT_AWARENESS)
    if (previous !== undefined && stalled(interval, now - previous)) {
      // After a stall, timers fire before the network messages that queued up meanwhile: judge on the next tick.
      this.awareness = Math.min(DEFAULT_AWARENESS.max, this.awareness + 1)
      log('detector tick %d ms late; skipping it', Math.round(now - previous - interval))
      return
    }
    const t = this.timings()
    const helpers = Math.min(t.indirectProbes, this.liveMembers().length - 1)
    for (const m of [...this.members.values()]) {
      if (m.clock.state === 'dead') {
        if (m.deadAt !== null && now - m.deadAt > this.init.timings.reapDeadAfter) {
          this.members.delete(m.peerId)
          this.vivaldi.forget(m.peerId)
        }
        continue
      }
      const verdict = judge(m.clock, now, t, this.awareness, Math.max(0, helpers))
      if (verdict.state === m.clock.state) continue
      if (verdict.state === 'suspect') {
        m.clock = { ...m.clock, state: 'suspect', suspectSince: now, confirmations: 0 }
        log('%s is suspect (silent %d ms)', m.status.name, Math.round(now - m.clock.lastHeard))
        this.emit('suspect', m)
        if (verdict.probe) void this.investigate(m.peerId)
      } else if (verdict.state === 'dead') {
        m.clock = { ...m.clock, state: 'dead' }
        m.deadAt = now
        info(`peer ${m.status.name} (${m.peerId}) is dead`)
        this.emit('dead', m)
      } else {
        m.clock = heard(m.clock.lastHeard)
        this.emit('alive', m)
      }
    }
  }

  /**
   * Probes a suspect directly and, if that fails, through helpers. Any ack clears the suspicion; helpers that
   * could not reach it either confirm it and shorten it; silence from everyone means we are the problem.
   */
  private async investigate (peerId: string): Promise<void> {
    const t = this.init.timings
    const timeout = scaled(t.probeTimeout, this.awareness)
    const direct = await this.probes.direct(peerId, timeout)
    const m = this.members.get(peerId)
    if (m === undefined || !this.started) return
    if (direct.ok) {
      this.onProbeAck(m, direct.rttMs, direct.coordinate)
      return
    }
    const helpers = this.liveMembers().filter(h => h.peerId !== peerId).sort(() => Math.random() - 0.5).slice(0, t.indirectProbes)
    if (helpers.length === 0) return
    const outcomes = await Promise.all(helpers.map(async h => await this.probes.indirect(h.peerId, peerId, timeout * 2)))
    const current = this.members.get(peerId)
    if (current === undefined || !this.started) return
    if (outcomes.includes('ack')) {
      this.markHeard(current, this.init.clock.now())
      this.awareness = awarenessAfterProbe(this.awareness, 'ack')
      return
    }
    const nacks = outcomes.filter(o => o === 'nack').length
    this.awareness = awarenessAfterProbe(this.awareness, nacks > 0 ? 'nack' : 'silent')
    if (current.clock.state === 'suspect') current.clock = { ...current.clock, confirmations: current.clock.confirmations + nacks }
  }

  private onProbeAck (m: Member, rttMs: number | undefined, coordinate: NodeStatus['coordinate'] | null | undefined): void {
    this.markHeard(m, this.init.clock.now())
    this.awareness = awarenessAfterProbe(this.awareness, 'ack')
    if (rttMs === undefined) return
    m.rttMs = rttMs
    if (coordinate != null) {
      try {
        this.vivaldi.observe(m.peerId, coordinate, rttMs)
      } catch (err) {
        log('ignored a bad coordinate sample from %s: %s', m.peerId, (err as Error).message)
      }
    }
  }

  /**
   * A lost connection is strong evidence on a LAN (kill -9 closes the sockets at once): probe right away, and if
   * the peer cannot be reached, suspect it now instead of after the silence threshold.
   */
  private onDisconnect (peerId: string): void {
    const m = this.members.get(peerId)
    if (m === undefined || m.clock.state !== 'alive' || !this.started) return
    void (async () => {
      const result = await this.probes.direct(peerId, scaled(this.init.timings.probeTimeout, this.awareness))
      const current = this.members.get(peerId)
      if (current === undefined || !this.started) return
      if (result.ok) {
        this.onProbeAck(current, result.rttMs, result.coordinate)
        return
      }
      if (current.clock.state !== 'alive') return
      const now = this.init.clock.now()
      current.clock = { ...current.clock, state: 'suspect', suspectSince: now, confirmations: 0 }
      log('%s is suspect: connection lost and direct probe failed', current.status.name)
      this.emit('suspect', current)
      await this.investigateIndirect(peerId)
    })()
  }

  private async investigateIndirect (peerId: string): Promise<void> {
    const t = this.init.timings
    const timeout = scaled(t.probeTimeout, this.awareness)
    const helpers = this.liveMembers().filter(h => h.peerId !== peerId).sort(() => Math.random() - 0.5).slice(0, t.indirectProbes)
    if (helpers.length === 0) return
    const outcomes = await Promise.all(helpers.map(async h => await this.probes.indirect(h.peerId, peerId, timeout * 2)))
    const current = this.members.get(peerId)
    if (current === undefined) return
    if (outcomes.includes('ack')) {
      this.markHeard(current, this.init.clock.now())
      return
    }
    const nacks = outcomes.filter(o => o === 'nack').length
    if (current.clock.state === 'suspect') current.clock = { ...current.clock, confirmations: current.clock.confirmations + nacks }
  }

  /**
   * Each probe round also tries one random member held dead (until it is reaped), directly: an ack is first-hand
   * proof that it lives, and revives it. Without this a peer declared dead while its gossip did not reach us (a
   * low-degree gossip mesh can split; a loaded host misses deadlines) stayed dead here while everyone else saw it
   * alive. A peer that is really gone costs one refused dial per round, and nothing once it is reaped.
   */
  private async probeDead (signal: AbortSignal): Promise<void> {
    const dead = [...this.members.values()].filter(m => m.clock.state === 'dead')
    if (dead.length === 0) return
    const target = dead[Math.floor(Math.random() * dead.length)]
    const result = await this.probes.direct(target.peerId, scaled(this.init.timings.probeTimeout, this.awareness), signal)
    const m = this.members.get(target.peerId)
    if (m === undefined || !this.started || !result.ok) return
    log('%s, held dead, answered a probe', m.status.name)
    this.onProbeAck(m, result.rttMs, result.coordinate)
  }

  /**
   * One routine probe of a random live member (SWIM's probe round): keeps RTTs and coordinates fresh, and finds a
   * peer that went silent without closing its connections sooner than the heartbeat's silence threshold would. A
   * failed direct probe is retried through helpers; only if none of them reaches it either does it become suspect.
   */
  private async probeRandom (signal: AbortSignal): Promise<void> {
    const candidates = this.liveMembers().filter(m => m.clock.state === 'alive')
    if (candidates.length === 0) return
    const target = candidates[Math.floor(Math.random() * candidates.length)]
    const result = await this.probes.direct(target.peerId, scaled(this.init.timings.probeTimeout, this.awareness), signal)
    const m = this.members.get(target.peerId)
    if (m === undefined || !this.started) return
    if (result.ok) {
      this.onProbeAck(m, result.rttMs, result.coordinate)
      return
    }
    const t = this.init.timings
    const helpers = this.liveMembers().filter(h => h.peerId !== target.peerId && h.clock.state === 'alive').sort(() => Math.random() - 0.5).slice(0, t.indirectProbes)
    if (helpers.length === 0) return
    const timeout = scaled(t.probeTimeout, this.awareness)
    const outcomes = await Promise.all(helpers.map(async h => await this.probes.indirect(h.peerId, target.peerId, timeout * 2)))
    const current = this.members.get(target.peerId)
    if (current === undefined || !this.started) return
    if (outcomes.includes('ack')) {
      this.markHeard(current, this.init.clock.now())
      return
    }
    const nacks = outcomes.filter(o => o === 'nack').length
    this.awareness = awarenessAfterProbe(this.awareness, nacks > 0 ? 'nack' : 'silent')
    // Silence from every helper too means our own network is the likelier culprit: do not blame the target.
    if (nacks === 0 || current.clock.state !== 'alive') return
    current.clock = { ...current.clock, state: 'suspect', suspectSince: this.init.clock.now(), confirmations: nacks }
    log('%s is suspect: a routine probe and %d helpers failed to reach it', current.status.name, nacks)
    this.emit('suspect', current)
  }

  // ----- anti-entropy -------------------------------------------------------------------------------------------

  private answerSync (req: z.infer<typeof syncRequestSchema>): SyncResponse {
    const now = this.init.clock.now()
    const members: SyncResponse['members'] = []
    if (req.region === this.init.region) {
      const wanted = req.peers === undefined ? undefined : new Set(req.peers)
      if (wanted === undefined || wanted.has(this.self)) members.push({ status: this.localStatus, ageMs: 0, state: 'alive' })
      for (const m of this.members.values()) {
        if (wanted !== undefined && !wanted.has(m.peerId)) continue
        members.push({ status: m.status, ageMs: Math.max(0, now - m.clock.lastHeard), state: m.clock.state })
      }
    }
    return { v: 1, region: this.init.region, members, extras: req.peers === undefined ? this.init.syncExtras?.() : undefined }
  }

  /** Pulls a view from `peer`: the whole region, or just the listed peers. */
  async fetchView (peer: string, region: string, peers?: string[], signal?: AbortSignal): Promise<SyncResponse> {
    const res = await request(this.init.libp2p, peerIdFromString(peer), SYNC_PROTOCOL, { v: 1, region, peers }, syncResponseSchema, { maxBytes: MAX_SYNC_BYTES, timeoutMs: 5000, signal })
    if ('error' in res) throw new WireError(String((res as { error: unknown }).error))
    return res
  }

  /** Merges a sync answer from `from`: its own entry is first-hand, the rest second-hand. */
  private merge (res: SyncResponse, from: string, only?: string): void {
    if (res.region !== this.init.region) return
    for (const entry of res.members) {
      if (only !== undefined && entry.status.peerId !== only) continue
      // A dead entry's status is old news; its age decides whether it counts as alive here.
      this.applyStatus(entry.status, entry.ageMs, entry.status.peerId === from)
    }
    if (res.extras !== undefined) this.init.onSyncExtras?.(res.extras)
  }

  private async pull (peer: string): Promise<void> {
    if (this.pulling.has(peer) || !this.started) return
    this.pulling.add(peer)
    try {
      this.merge(await this.fetchView(peer, this.init.region, [peer]), peer, peer)
    } catch (err) {
      log('pulling the status of %s failed: %s', peer, (err as Error).message)
    } finally {
      this.pulling.delete(peer)
    }
  }

  /** Pulls a member's status from the member itself (first-hand), e.g. to check a claim that it leads. */
  async refresh (peerId: string): Promise<void> {
    if (peerId === this.self) return
    await this.pull(peerId)
  }

  /** Pulls the full view from a random live member, or from any connected peer while we know no member yet. */
  async syncOnce (signal?: AbortSignal): Promise<void> {
    const live = this.liveMembers()
    let target: string | undefined
    if (live.length > 0) {
      target = live[Math.floor(Math.random() * live.length)].peerId
    } else {
      const region = this.pubsub.getSubscribers(this.topic).map(p => p.toString())
      const connected = this.init.libp2p.getPeers().map(p => p.toString())
      const pool = region.length > 0 ? region : connected
      if (pool.length === 0) return
      target = pool[Math.floor(Math.random() * pool.length)]
    }
    try {
      this.merge(await this.fetchView(target, this.init.region, undefined, signal), target)
    } catch (err) {
      log('sync with %s failed: %s', target, (err as Error).message)
    }
  }

  // ----- views --------------------------------------------------------------------------------------------------

  /** Members that are alive or suspect: the peers an election counts. */
  liveMembers (): Member[] {
    return [...this.members.values()].filter(m => m.clock.state !== 'dead')
  }

  state (peerId: string): MemberState | undefined {
    if (peerId === this.self) return 'alive'
    return this.members.get(peerId)?.clock.state
  }

  private emit (type: MemberEvent['type'], member: Member): void {
    for (const l of this.listeners) {
      try {
        l({ type, member })
      } catch (err) {
        log.error('member listener failed: %s', (err as Error).message)
      }
    }
  }
}
