// Delegated scheduling, as in Oakestra but without a root:
//
//   entry peer (any)                       region leader                         hosting peer (agent)
//   ─────────────────                      ─────────────                         ────────────────────
//   validate SLA, write app/ svc/
//   rank regions from summaries ──/grove/schedule──▶ select nodes, write own/ place/ ──gossip──▶ run it, write inst/
//   ◀── placed / no capacity (try the next region)
//
// Each leader also runs a reconcile loop over the services its region holds: it places missing instances,
// re-places those on dead peers or that failed repeatedly where they were, removes instances scaled away, adopts
// its region's services after an election, and hands a service to another region when its own cannot hold it.
import { randomBytes } from 'node:crypto'
import type { Libp2p } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { z } from 'zod'
import {
  selectNodes, selectRegions, explainDecision,
  type Area, type Decision, type PeerInstance, type Policy, type RegionRanking, type ServiceSpec
} from '../../scheduler/index.js'
import { SCHEDULE_PROTOCOL } from '../protocols.js'
import { handle, request } from '../wire/rpc.js'
import { Periodic, sleep, type Clock } from '../clock.js'
import type { Timings } from '../config.js'
import type { Membership } from '../membership/membership.js'
import type { Election } from '../election/election.js'
import type { Regions } from '../regions/regions.js'
import { logger, info } from '../log.js'
import type { StateMap } from './state-map.js'
import {
  keys, fence, serviceRecordSchema, NEGATIVE_STATES,
  type ApplicationRecord, type InstanceRecord, type InstanceState, type IpClaim, type OwnerRecord, type PlacementRecord,
  type ScheduleRecord, type ServiceRecord
} from './records.js'
import { nodeCandidate, regionCandidate } from './candidates.js'
import { plannedClaims, claimsOf } from '../../overlay/addresses.js'

const log = logger('deploy')

/** How long a leader avoids a peer where an instance failed repeatedly. */
const FAILED_PEER_MEMORY_MS = 5 * 60_000

export function newId (): string {
  return randomBytes(12).toString('hex')
}

const scheduleRequestSchema = z.object({
  v: z.literal(1),
  /** The service as the entry peer wrote it: gossip may not have brought it here yet. */
  service: serviceRecordSchema,
  /** Take the service even if only some instances fit (the last resort when no region fits them all). */
  partial: z.boolean(),
  /** Peers to avoid. */
  exclude: z.array(z.string().max(80)).max(1024)
})
const scheduleResponseSchema = z.union([
  z.object({
    ok: z.boolean(),
    region: z.string(),
    placed: z.number().int().nonnegative(),
    unplaced: z.number().int().nonnegative(),
    explain: z.string(),
    rejected: z.record(z.string(), z.number().int().nonnegative()),
    notLeader: z.string().nullable().optional()
  }),
  z.object({ error: z.string() })
])
type ScheduleRequest = z.infer<typeof scheduleRequestSchema>
type ScheduleResponse = Extract<z.infer<typeof scheduleResponseSchema>, { ok: boolean }>

export interface DeployerInit {
  libp2p: Libp2p
  state: StateMap
  membership: Membership
  election: Election
  regions: Regions
  clock: Clock
  timings: Timings
  region: string
  areas: Record<string, Area>
  policy: Policy
}

export class Deployer {
  private readonly self: string
  private readonly reconciler: Periodic
  private started = false
  private leaderSince: number | undefined
  private readonly off: Array<() => void> = []
  private seed = 1
  /** Peers where an instance failed repeatedly, with when: the leader avoids them for FAILED_PEER_MEMORY_MS. */
  private readonly failedOn = new Map<string, Map<string, number>>()
  /** Peers that announced they were leaving, with when. */
  private readonly leftAt = new Map<string, number>()

  constructor (private readonly init: DeployerInit) {
    this.self = init.libp2p.peerId.toString()
    this.reconciler = new Periodic({ name: 'reconcile', intervalMs: Math.max(250, init.timings.statusInterval * 2), jitter: 0.1, timeoutMs: 30_000 }, async () => { await this.reconcile() })
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await handle(this.init.libp2p, SCHEDULE_PROTOCOL, scheduleRequestSchema, async (req) => await this.onSchedule(req), { maxBytes: 256 * 1024, timeoutMs: 10_000 })
    this.off.push(this.init.election.onChange(s => {
      if (s.role === 'leader' && this.leaderSince === undefined) {
        this.leaderSince = this.init.clock.now()
        this.reconciler.trigger()
      } else if (s.role !== 'leader') {
        this.leaderSince = undefined
      }
    }))
    this.off.push(this.init.membership.onEvent(e => {
      if (e.type === 'left') {
        this.leftAt.set(e.member.peerId, this.init.clock.now())
        // Look again once the grace is over: if it has not come back by then, its instances move.
        setTimeout(() => { this.reconciler.trigger() }, this.restartGrace() + 50).unref()
      } else if (e.type === 'alive') {
        this.leftAt.delete(e.member.peerId)
      }
      if (e.type === 'dead' && this.isLeader()) this.reconciler.trigger()
    }))
    this.off.push(this.init.state.onChange((key, value) => {
      if (!this.isLeader()) return
      if (key.startsWith('svc/') || key.startsWith('own/')) this.reconciler.trigger()
      else if (key.startsWith('inst/') && (value as InstanceRecord | undefined)?.replace === true) this.reconciler.trigger()
    }))
    this.reconciler.start()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.reconciler.stop()
    for (const off of this.off.splice(0)) off()
    await this.init.libp2p.unhandle(SCHEDULE_PROTOCOL)
  }

  private isLeader (): boolean {
    return this.init.election.current.role === 'leader'
  }

  // ----- entry peer ---------------------------------------------------------------------------------------------

  /**
   * Claims the overlay addresses a service still lacks: its round-robin and closest IPs and one IP per instance.
   * Every peer computes the same candidates for the same service, so the entry peer and a leader repairing the
   * claims agree; two services that raced for one address end with one winner under LWW, and the loser gets a new
   * address the next time this runs (the leader's reconcile loop runs it for every service it holds).
   */
  async claimAddresses (svc: ServiceRecord): Promise<void> {
    const claims = this.init.state.entries<IpClaim>('sip/').map(([, c]) => c)
    const { claims: needed } = plannedClaims(svc, claims, { by: this.self, at: this.init.clock.wall() })
    for (const c of needed) await this.init.state.put(keys.sip(c.ip), c)
  }

  /** Releases a service's addresses: all of them, or only the instance IPs of instances no longer wanted. */
  async releaseAddresses (svcId: string, keepInstances?: number[]): Promise<void> {
    for (const [key, c] of this.init.state.entries<IpClaim>('sip/')) {
      if (c.svc !== svcId) continue
      if (keepInstances !== undefined && (c.kind !== 'instance' || keepInstances.includes(c.n ?? -1))) continue
      await this.init.state.del(key)
    }
  }

  /** The addresses a service holds now. */
  addresses (svcId: string): ReturnType<typeof claimsOf> {
    return claimsOf(svcId, this.init.state.entries<IpClaim>('sip/').map(([, c]) => c))
  }

  /** Registers applications (already validated) and, when `deploy`, schedules every service. */
  async register (apps: Array<{ app: ApplicationRecord, services: ServiceRecord[] }>, deploy: boolean): Promise<void> {
    const now = this.init.clock.wall()
    for (const { app, services } of apps) {
      for (const svc of services) {
        await this.init.state.put(keys.svc(svc.id), { ...svc, deployed: deploy })
        await this.claimAddresses(svc)
        if (deploy) {
          for (const n of svc.instances) await this.writeInstance(svc.id, n, { status: 'REQUESTED', peerId: null, region: null, reason: null }, now)
        }
      }
      await this.init.state.put(keys.app(app.id), app)
    }
    if (deploy) {
      for (const { services } of apps) {
        for (const svc of services) void this.schedule(svc.id).catch(err => { log.error('scheduling %s failed: %s', svc.id, (err as Error).message) })
      }
    }
  }

  private async writeInstance (svc: string, n: number, patch: Partial<InstanceRecord> & { status: InstanceState }, now = this.init.clock.wall()): Promise<void> {
    const current = this.init.state.get<InstanceRecord>(keys.inst(svc, n))
    const next: InstanceRecord = {
      svc,
      n,
      peerId: null,
      region: null,
      reason: null,
      startedAt: null,
      restarts: current?.restarts ?? 0,
      endpoints: [],
      replace: false,
      ...patch,
      updatedAt: now
    }
    await this.init.state.put(keys.inst(svc, n), next)
  }

  /** Ranks regions from their summaries and asks their leaders, best first, to take the service. */
  async schedule (svcId: string, exclude: string[] = []): Promise<ScheduleRecord> {
    const svc = this.init.state.get<ServiceRecord>(keys.svc(svcId))
    if (svc === undefined) throw new Error(`service ${svcId} does not exist`)
    // A peer that just started may not have heard any region summary yet (its own region may still be electing):
    // wait for one rather than fail the deployment.
    let known = this.init.regions.list()
    const waitUntil = this.init.clock.now() + Math.max(5000, this.init.timings.suspectAfter * 2 + this.init.timings.summaryInterval * 2)
    while (known.length === 0 && this.started && this.init.clock.now() < waitUntil) {
      await sleep(200)
      known = this.init.regions.list()
    }
    const ranking: RegionRanking = selectRegions({
      spec: svc.spec as ServiceSpec,
      regions: known.map(k => regionCandidate(k.summary, k.stale)),
      areas: this.init.areas
    })
    const record: ScheduleRecord = {
      svc: svcId,
      at: this.init.clock.wall(),
      by: this.self,
      regions: { ranked: ranking.ranked.map(r => ({ region: r.region, score: r.score })), rejected: ranking.rejected.map(r => ({ region: r.region, reason: r.reason })) },
      attempts: [],
      outcome: ''
    }
    for (const candidate of ranking.ranked) {
      const res = await this.ask(candidate.region, candidate.leader, { v: 1, service: svc, partial: false, exclude })
      record.attempts.push({ region: candidate.region, ok: res.ok, placed: res.placed, unplaced: res.unplaced, explain: res.explain, rejected: res.rejected })
      if (res.ok) {
        record.outcome = `placed ${res.placed} instance(s) in region ${candidate.region}`
        await this.init.state.put(keys.sched(svcId), record)
        return record
      }
    }
    // No region takes all of it: the best region places what it can, and keeps trying as capacity frees up. When
    // every region was turned away for capacity alone, the largest one is asked anyway, so its leader's node-level
    // reasons (NO_WORKER_CAPACITY: "3 × insufficient memory") explain the failure.
    const capacityOnly = ranking.rejected.filter(r => ['cpu', 'memory', 'gpu', 'disk'].includes(r.reason))
    const largest = capacityOnly
      .map(r => known.find(k => k.summary.region === r.region)!)
      .filter(k => k !== undefined && !k.stale)
      .sort((a, b) => b.summary.nodes - a.summary.nodes)[0]
    const best = ranking.ranked[0] ?? (largest === undefined ? undefined : { region: largest.summary.region, leader: largest.summary.leader, score: 0 })
    if (best !== undefined) {
      const res = await this.ask(best.region, best.leader, { v: 1, service: svc, partial: true, exclude })
      record.attempts.push({ region: best.region, ok: res.ok, placed: res.placed, unplaced: res.unplaced, explain: res.explain, rejected: res.rejected })
      record.outcome = res.placed > 0
        ? `region ${best.region} placed ${res.placed} of ${svc.instances.length}; the rest wait for capacity (NO_WORKER_CAPACITY)`
        : `no node in any region can hold an instance (NO_WORKER_CAPACITY): ${res.explain}`
      if (res.placed === 0) {
        for (const n of svc.instances) await this.writeInstance(svcId, n, { status: 'NO_WORKER_CAPACITY', reason: record.outcome })
      }
    } else {
      const direct = (svc.spec.constraints as ServiceSpec['constraints']).find(c => c.type === 'direct' && c.cluster !== undefined)
      const unknownTarget = direct !== undefined && direct.type === 'direct' && !known.some(k => k.summary.region === direct.cluster)
      const status: InstanceState = unknownTarget ? 'TargetClusterNotFound' : 'NoActiveClusterWithCapacity'
      const reasons = ranking.rejected.map(r => `${r.region}: ${r.reason}`).join('; ')
      record.outcome = unknownTarget
        ? `region ${direct.type === 'direct' ? direct.cluster : ''} named by a direct constraint is not known (${status})`
        : known.length === 0 ? `no region summary is known yet (${status})` : `no region can hold the service (${status}): ${reasons}`
      for (const n of svc.instances) await this.writeInstance(svcId, n, { status, reason: record.outcome })
    }
    await this.init.state.put(keys.sched(svcId), record)
    info(`service ${svc.name} (${svcId}): ${record.outcome}`)
    return record
  }

  private async ask (region: string, leader: string, req: ScheduleRequest): Promise<ScheduleResponse> {
    const fail = (explain: string): ScheduleResponse => ({ ok: false, region, placed: 0, unplaced: req.service.instances.length, explain, rejected: {} })
    if (leader === this.self) return await this.onSchedule(req)
    try {
      const res = await request(this.init.libp2p, peerIdFromString(leader), SCHEDULE_PROTOCOL, req, scheduleResponseSchema, { maxBytes: 256 * 1024, timeoutMs: 10_000 })
      if ('error' in res) return fail(`leader ${leader} refused the request: ${res.error}`)
      return res
    } catch (err) {
      return fail(`leader of ${region} unreachable: ${(err as Error).message}`)
    }
  }

  // ----- region leader ------------------------------------------------------------------------------------------

  private async onSchedule (req: ScheduleRequest): Promise<ScheduleResponse> {
    const region = this.init.region
    const e = this.init.election.current
    if (e.role !== 'leader') {
      return { ok: false, region, placed: 0, unplaced: req.service.instances.length, explain: `not the leader of ${region}`, rejected: {}, notLeader: e.leader }
    }
    const svc = req.service
    const own = this.init.state.get<OwnerRecord>(keys.own(svc.id))
    const epoch = own === undefined ? 0 : own.region === region ? own.epoch : own.epoch + 1
    const wanted = svc.instances.filter(n => {
      const p = this.init.state.get<PlacementRecord>(keys.place(svc.id, n))
      return p === undefined || p.region !== region || p.epoch < epoch || this.peerGone(p.peerId)
    })
    const decision = this.decide(svc, wanted.length, req.exclude)
    const explain = explainDecision(decision, wanted.length)
    const rejected = decision.rejected as Record<string, number>
    if (decision.unplaced > 0 && !req.partial) {
      return { ok: false, region, placed: 0, unplaced: decision.unplaced, explain, rejected }
    }
    if (decision.chosen.length === 0 && wanted.length > 0) {
      return { ok: false, region, placed: 0, unplaced: decision.unplaced, explain, rejected }
    }
    // The service's record may not have reached us by gossip yet; write it so the reconcile loop sees it.
    if (this.init.state.get(keys.svc(svc.id)) === undefined) await this.init.state.put(keys.svc(svc.id), svc)
    await this.init.state.put(keys.own(svc.id), { region, leader: this.self, term: e.term, epoch })
    await this.writePlacements(svc, wanted, decision, e.term, epoch)
    info(`placed ${decision.chosen.length} of ${wanted.length} instance(s) of ${svc.name} in region ${region}`)
    return { ok: decision.unplaced === 0, region, placed: decision.chosen.length, unplaced: decision.unplaced, explain, rejected }
  }

  /** Runs the node-level scheduler over this region's live peers. */
  private decide (svc: ServiceRecord, count: number, exclude: string[]): Decision {
    const { membership } = this.init
    const statuses = [membership.localStatus, ...[...membership.members.values()].filter(m => m.clock.state === 'alive').map(m => m.status)]
    const services = new Map(this.init.state.entries<ServiceRecord>('svc/').map(([, s]) => [s.id, s]))
    const placements = this.init.state.entries<PlacementRecord>('place/').map(([, p]) => p)
    const nodes = statuses.map(s => nodeCandidate(s, placements, services, svc.id))
    const connected: PeerInstance[] = []
    const spec = svc.spec as ServiceSpec
    if (spec.connectivity.length > 0) {
      const byName = new Map([...services.values()].filter(s => s.app === svc.app).map(s => [s.name, s]))
      for (const link of spec.connectivity) {
        const target = byName.get(link.target)
        if (target === undefined) continue
        for (const p of placements.filter(pl => pl.svc === target.id)) {
          const st = statuses.find(s => s.peerId === p.peerId)
          connected.push({ service: link.target, peerId: p.peerId, coordinate: st?.coordinate ?? null, location: st?.location ?? null })
        }
      }
    }
    this.seed = (this.seed * 1103515245 + 12345) >>> 0
    return selectNodes({ spec, nodes, count, policy: this.init.policy, seed: this.seed, areas: this.init.areas, connected, exclude })
  }

  private async writePlacements (svc: ServiceRecord, instances: number[], decision: Decision, term: number, epoch: number): Promise<void> {
    const region = this.init.region
    for (const [i, n] of instances.entries()) {
      const peerId = decision.chosen[i]
      if (peerId === undefined) {
        await this.writeInstance(svc.id, n, { status: 'NO_WORKER_CAPACITY', region, reason: explainDecision(decision, instances.length) })
        continue
      }
      const placement: PlacementRecord = { svc: svc.id, n, peerId, region, term, epoch }
      await this.init.state.put(keys.place(svc.id, n), placement, { term: fence(epoch, term) })
      const current = this.init.state.get<InstanceRecord>(keys.inst(svc.id, n))
      // The hosting agent may already have reported progress; never move its status backwards.
      if (current === undefined || current.peerId !== peerId || NEGATIVE_STATES.has(current.status) || current.status === 'REQUESTED' || current.status === 'FAILED' || current.status === 'DEAD') {
        await this.writeInstance(svc.id, n, { status: 'CLUSTER_SCHEDULED', peerId, region, reason: null, restarts: current?.restarts ?? 0 })
      }
    }
  }

  /**
   * How long a peer that left cleanly keeps its instances: a daemon restart (an upgrade, `grove testnet restart`)
   * leaves and comes back within seconds, and its next life adopts what runs. A peer killed outright is dead, not
   * left, and loses its instances at once.
   */
  private restartGrace (): number {
    return Math.max(5000, this.init.timings.suspectAfter * 3)
  }

  /** Whether a peer should no longer hold instances: dead, or gone from the region for longer than a grace. */
  private peerGone (peerId: string): boolean {
    if (peerId === this.self) return false
    const state = this.init.membership.state(peerId)
    if (state === 'dead') return true
    if (state !== undefined) return false
    const left = this.leftAt.get(peerId)
    if (left !== undefined) return this.init.clock.now() - left > this.restartGrace()
    // Unknown: left, reaped, or not heard yet by a leader that just started. Give a new leader time to hear everyone.
    const since = this.leaderSince ?? this.init.clock.now()
    return this.init.clock.now() - since > this.init.timings.suspectAfter * 2
  }

  /** The leader's loop over the services its region holds. */
  async reconcile (): Promise<void> {
    if (!this.isLeader()) return
    const region = this.init.region
    const { term } = this.init.election.current
    for (const [key, own] of this.init.state.entries<OwnerRecord>('own/')) {
      if (own.region !== region) continue
      const svcId = key.slice('own/'.length)
      const svc = this.init.state.get<ServiceRecord>(keys.svc(svcId))
      const placements = this.init.state.entries<PlacementRecord>(`place/${svcId}/`).map(([, p]) => p)
      if (svc === undefined || !svc.deployed) {
        for (const p of placements) await this.init.state.del(keys.place(svcId, p.n), { term: fence(own.epoch, term) })
        continue
      }
      if (own.leader !== this.self || own.term < term) {
        await this.init.state.put(keys.own(svcId), { ...own, leader: this.self, term })
      }
      // Repairs addresses lost to a concurrent claim (or never claimed, if the entry peer died mid-way).
      await this.claimAddresses(svc)
      const desired = new Set(svc.instances)
      for (const p of placements) {
        if (!desired.has(p.n)) await this.init.state.del(keys.place(svcId, p.n), { term: fence(own.epoch, term) })
      }
      const toPlace: number[] = []
      const exclude = new Set<string>()
      for (const n of svc.instances) {
        const p = placements.find(x => x.n === n)
        const inst = this.init.state.get<InstanceRecord>(keys.inst(svcId, n))
        if (inst?.status === 'COMPLETED') continue
        if (p === undefined || p.epoch < own.epoch) { toPlace.push(n); continue }
        if (this.peerGone(p.peerId)) {
          exclude.add(p.peerId)
          toPlace.push(n)
          info(`re-placing ${svc.name}/${n}: its peer ${p.peerId} is gone`)
          continue
        }
        if (inst?.replace === true && inst.peerId === p.peerId) {
          const failed = this.failedOn.get(`${svcId}/${n}`) ?? new Map<string, number>()
          failed.set(p.peerId, this.init.clock.now())
          this.failedOn.set(`${svcId}/${n}`, failed)
          for (const [peer, at] of failed) {
            if (this.init.clock.now() - at < FAILED_PEER_MEMORY_MS) exclude.add(peer)
            else failed.delete(peer)
          }
          toPlace.push(n)
          info(`re-placing ${svc.name}/${n}: it failed repeatedly on ${p.peerId}`)
        }
      }
      if (toPlace.length === 0) continue
      const decision = this.decide(svc, toPlace.length, [...exclude])
      if (decision.chosen.length > 0) await this.writePlacements(svc, toPlace.slice(0, decision.chosen.length), decision, term, own.epoch)
      if (decision.unplaced > 0) await this.handOff(svc, toPlace.slice(decision.chosen.length), decision, [...exclude])
    }
  }

  /** This region cannot hold these instances: ask the other regions, best first, to take the whole service. */
  private async handOff (svc: ServiceRecord, unplaced: number[], decision: Decision, exclude: string[]): Promise<void> {
    const ranking = selectRegions({
      spec: svc.spec as ServiceSpec,
      regions: this.init.regions.list().filter(k => k.summary.region !== this.init.region).map(k => regionCandidate(k.summary, k.stale)),
      areas: this.init.areas
    })
    for (const candidate of ranking.ranked) {
      const res = await this.ask(candidate.region, candidate.leader, { v: 1, service: svc, partial: false, exclude })
      if (res.ok) {
        info(`handed ${svc.name} to region ${candidate.region}: ${this.init.region} cannot hold it`)
        return
      }
    }
    for (const n of unplaced) {
      const current = this.init.state.get<InstanceRecord>(keys.inst(svc.id, n))
      if (current?.status === 'FAILED' && current.replace) {
        // It failed on every peer that could take it: keep the failure (and its reason) visible, not a capacity error.
        if (!(current.reason ?? '').startsWith('failed on every eligible peer')) {
          await this.writeInstance(svc.id, n, { status: 'FAILED', peerId: current.peerId, region: this.init.region, reason: `failed on every eligible peer; last: ${current.reason ?? 'unknown'}`, replace: false })
        }
      } else if (current?.status !== 'NO_WORKER_CAPACITY') {
        await this.writeInstance(svc.id, n, { status: 'NO_WORKER_CAPACITY', region: this.init.region, reason: explainDecision(decision, unplaced.length) })
      }
    }
  }

  // ----- changes from the API -----------------------------------------------------------------------------------

  /** Sets the desired instance numbers of a service (scale, add, remove) and gets them placed. */
  async setInstances (svcId: string, instances: number[]): Promise<ServiceRecord> {
    const svc = this.init.state.get<ServiceRecord>(keys.svc(svcId))
    if (svc === undefined) throw new Error(`service ${svcId} does not exist`)
    const next: ServiceRecord = { ...svc, instances: [...new Set(instances)].sort((a, b) => a - b), deployed: true }
    await this.init.state.put(keys.svc(svcId), next)
    await this.claimAddresses(next)
    await this.releaseAddresses(svcId, next.instances)
    const added = next.instances.filter(n => !svc.instances.includes(n) || !svc.deployed)
    for (const n of added) await this.writeInstance(svcId, n, { status: 'REQUESTED' })
    for (const n of svc.instances.filter(n => !next.instances.includes(n))) await this.writeInstance(svcId, n, { status: 'UNDEPLOYED' })
    const own = this.init.state.get<OwnerRecord>(keys.own(svcId))
    if (own === undefined || this.init.regions.get(own.region) === undefined) {
      void this.schedule(svcId).catch(err => { log.error('scheduling %s failed: %s', svcId, (err as Error).message) })
    }
    return next
  }

  /** Undeploys a service: its owner's leader removes the placements, the agents stop the instances. */
  async undeployService (svcId: string): Promise<void> {
    const svc = this.init.state.get<ServiceRecord>(keys.svc(svcId))
    if (svc === undefined) return
    await this.init.state.put(keys.svc(svcId), { ...svc, deployed: false, instances: [] })
    await this.releaseAddresses(svcId, [])
    for (const n of svc.instances) await this.writeInstance(svcId, n, { status: 'UNDEPLOYED' })
  }

  /** Removes an application and everything of it. */
  async deleteApp (appId: string): Promise<void> {
    const app = this.init.state.get<ApplicationRecord>(keys.app(appId))
    if (app === undefined) return
    for (const svcId of app.services) {
      await this.undeployService(svcId)
      await this.releaseAddresses(svcId)
      await this.init.state.del(keys.svc(svcId))
      await this.init.state.del(keys.sched(svcId))
    }
    await this.init.state.del(keys.app(appId))
  }
}
