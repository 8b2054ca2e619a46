// The node agent: runs the placements assigned to this peer, through the runtimes, and reports each instance's
// status in inst/<svc>/<n>.
//
//   place/ names this peer                         runtime.start ok
//   ───────────────────▶ NODE_SCHEDULED ─▶ CREATING ───────────────▶ RUNNING ──exit 0, one_shot──▶ COMPLETED
//                                              │ start fails              │ exits (restart policy allows)
//                                              ▼                          ▼  exits, restart policy never ─▶ DEAD
//                                            FAILED ◀──────────────────────┘  ── backoff ──▶ CREATING again
//                                              │ 3 failures within a minute: ask the leader to place it elsewhere
//   placement removed ─▶ stop ─▶ UNDEPLOYED     (placement moved to another peer: stop, and say nothing)
//
// The agent acts only on placements in the replicated state, never on the leader's liveness: a peer cut off from
// its region keeps its instances running and keeps restarting them (offline autonomy). When the state says an
// instance now belongs to another peer (a re-placement, or the winner of a partition's duplicate), it stops its own.
import { createHash } from 'node:crypto'
import type { Endpoint, Runtime, RuntimeInstance, InstanceSpec } from '../runtime/types.js'
import type { StateMap } from '../deploy/state-map.js'
import {
  keys, TERMINAL_STATES, type InstanceRecord, type InstanceState, type PlacementRecord, type ServiceRecord
} from '../deploy/records.js'
import { Periodic, type Clock } from '../clock.js'
import { logger, info } from '../log.js'

const log = logger('agent')

export interface AgentInit {
  state: StateMap
  runtimes: { docker?: Runtime, process?: Runtime }
  self: string
  /** This peer's name, written into the instance records. */
  name: string
  region: string
  clock: Clock
  /** Reconcile at least this often. */
  intervalMs: number
  /** Labelled instances that no placement owns are removed only after this long (the state may still be syncing). */
  graceMs: number
  /** First restart delay; doubles per consecutive failure up to maxBackoffMs. */
  backoffMs: number
  maxBackoffMs: number
  /** Reports a digest of the running instances (rides on the heartbeat). */
  onDigest?: (digest: string) => void
}

interface Tracked {
  svc: string
  n: number
  kind: 'docker' | 'process'
  /** The runtime's handle while an instance exists. */
  id: string | undefined
  state: InstanceState
  restarts: number
  failures: number[]
  /** Monotonic ms before which no restart is attempted. */
  notBefore: number
  busy: boolean
  startedAt: number | null
  endpoints: Endpoint[]
  /**
   * An exit not handled yet: heard while a launch was still reporting, seen in start()'s answer, or found at
   * adoption (it exited while the daemon was down, so no onExit will ever come). The next reconcile handles it.
   */
  exited: { id: string, code: number } | undefined
  /** Found running at start rather than started by this life of the daemon. */
  adopted: boolean
}

const FAILURES_BEFORE_REPLACE = 3
const FAILURE_WINDOW_MS = 60_000
/** instanceRecordSchema's limit on reason: a longer one would be refused by the state, and the report lost. */
const MAX_REASON = 2048

export class Agent {
  private readonly tracked = new Map<string, Tracked>()
  private readonly loop: Periodic
  private readonly off: Array<() => void> = []
  private startedAt = 0
  private started = false
  private lastDigest = ''

  constructor (private readonly init: AgentInit) {
    this.loop = new Periodic({ name: 'agent', intervalMs: init.intervalMs, jitter: 0.1, timeoutMs: 60_000 }, async () => { await this.reconcile() })
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.startedAt = this.init.clock.now()
    for (const [kind, runtime] of this.runtimes()) {
      this.off.push(runtime.onExit((id, code) => { this.background(`handling the exit of ${id}`, this.onExit(kind, id, code)) }))
      // Adopt what a previous life of this daemon started: same labels, same peer.
      try {
        for (const inst of await runtime.list(this.init.self)) this.adopt(kind, inst)
      } catch (err) {
        log.error('listing %s instances failed: %s', kind, (err as Error).message)
      }
    }
    this.off.push(this.init.state.onChange((key) => {
      if (key.startsWith('place/') || key.startsWith('svc/')) this.loop.trigger()
    }))
    this.loop.start()
    this.loop.trigger()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.loop.stop()
    for (const off of this.off.splice(0)) off()
    // Instances keep running: the next life of the daemon adopts them.
  }

  private runtimes (): Array<['docker' | 'process', Runtime]> {
    const out: Array<['docker' | 'process', Runtime]> = []
    if (this.init.runtimes.docker !== undefined) out.push(['docker', this.init.runtimes.docker])
    if (this.init.runtimes.process !== undefined) out.push(['process', this.init.runtimes.process])
    return out
  }

  private adopt (kind: 'docker' | 'process', inst: RuntimeInstance): void {
    const key = `${inst.service}/${inst.instance}`
    const existing = this.tracked.get(key)
    if (existing?.id !== undefined && existing.state === 'RUNNING') {
      // Two instances for one (svc, n): keep the one we track, drop the other.
      void this.runtimeOf(kind)?.stop(inst.id).catch(() => {})
      return
    }
    this.tracked.set(key, {
      svc: inst.service,
      n: inst.instance,
      kind,
      id: inst.id,
      state: inst.state === 'running' ? 'RUNNING' : 'FAILED',
      restarts: 0,
      failures: [],
      notBefore: 0,
      busy: false,
      startedAt: inst.startedAt,
      endpoints: inst.endpoints,
      exited: inst.state === 'running' ? undefined : { id: inst.id, code: inst.exitCode ?? -1 },
      adopted: true
    })
    log('adopted %s instance %s (%s)', kind, key, inst.state)
  }

  private runtimeOf (kind: 'docker' | 'process'): Runtime | undefined {
    return this.init.runtimes[kind]
  }

  /** The placements this peer should run, with their services. */
  private desired (): Map<string, { placement: PlacementRecord, svc: ServiceRecord }> {
    const out = new Map<string, { placement: PlacementRecord, svc: ServiceRecord }>()
    for (const [, p] of this.init.state.entries<PlacementRecord>('place/')) {
      if (p.peerId !== this.init.self) continue
      const svc = this.init.state.get<ServiceRecord>(keys.svc(p.svc))
      if (svc === undefined || !svc.deployed || !svc.instances.includes(p.n)) continue
      out.set(`${p.svc}/${p.n}`, { placement: p, svc })
    }
    return out
  }

  async reconcile (): Promise<void> {
    if (!this.started) return
    const desired = this.desired()
    const now = this.init.clock.now()
    for (const [key, { placement, svc }] of desired) {
      let t = this.tracked.get(key)
      if (t === undefined) {
        t = { svc: svc.id, n: placement.n, kind: svc.spec.virtualization === 'container' ? 'docker' : 'process', id: undefined, state: 'NODE_SCHEDULED', restarts: 0, failures: [], notBefore: 0, busy: false, startedAt: null, endpoints: [], exited: undefined, adopted: false }
        this.tracked.set(key, t)
        await this.report(t, svc, { status: 'NODE_SCHEDULED' })
      }
      // DEAD is final for the agent too (restart policy never), though not for the leader, which may re-place it.
      if (t.busy || TERMINAL_STATES.has(t.state) || t.state === 'DEAD') continue
      if (t.exited !== undefined) {
        const { id, code } = t.exited
        t.exited = undefined
        if (t.id === id) this.background(`handling the exit of ${key}`, this.onExit(t.kind, id, code))
        continue
      }
      if (t.state === 'RUNNING') {
        const current = this.init.state.get<InstanceRecord>(keys.inst(t.svc, t.n))
        // Adopted after a restart, or our report lost to an older writer's: say again that it runs here.
        if (current?.status !== 'RUNNING' || current.peerId !== this.init.self) await this.report(t, svc, { status: 'RUNNING' })
        continue
      }
      if (t.id === undefined && now >= t.notBefore) this.background(`starting ${key}`, this.launch(t, svc))
    }
    for (const [key, t] of [...this.tracked]) {
      if (desired.has(key) || t.busy) continue
      // An adopted instance with no placement may just be waiting for the state to sync; one we started ourselves
      // and whose placement was removed is undeployed at once.
      const adoptedLeftover = t.adopted && now - this.startedAt < this.init.graceMs && this.init.state.get(keys.place(t.svc, t.n)) === undefined
      if (adoptedLeftover) continue
      void this.remove(key, t)
    }
    this.publishDigest()
  }

  private spec (t: Tracked, svc: ServiceRecord): InstanceSpec {
    const s = svc.spec
    return {
      service: svc.id,
      instance: t.n,
      peer: this.init.self,
      image: s.image,
      cmd: s.cmd,
      env: [...s.environment, `GROVE_SERVICE=${svc.name}`, `GROVE_INSTANCE=${t.n}`],
      memoryMiB: s.memory,
      vcpus: s.vcpus,
      ports: s.ports
    }
  }

  private async launch (t: Tracked, svc: ServiceRecord): Promise<void> {
    const runtime = this.runtimeOf(t.kind)
    t.busy = true
    try {
      if (runtime === undefined) {
        await this.fail(t, svc, `this peer has no ${t.kind} runtime`)
        return
      }
      await this.report(t, svc, { status: 'CREATING' })
      const inst = await runtime.start(this.spec(t, svc))
      t.id = inst.id
      t.state = 'RUNNING'
      t.startedAt = inst.startedAt
      t.endpoints = inst.endpoints
      // Exited before start() answered: its onExit found no instance with this id, so no other report will come.
      if (inst.state !== 'running') t.exited = { id: inst.id, code: inst.exitCode ?? -1 }
      await this.report(t, svc, { status: 'RUNNING' })
      log('%s/%d running (%s)', svc.name, t.n, inst.id)
    } catch (err) {
      await this.fail(t, svc, (err as Error).message)
    } finally {
      t.busy = false
      if (t.exited !== undefined) this.loop.trigger()
    }
  }

  private async fail (t: Tracked, svc: ServiceRecord, reason: string): Promise<void> {
    const now = this.init.clock.now()
    t.id = undefined
    t.endpoints = []
    t.state = 'FAILED'
    t.failures = [...t.failures.filter(f => now - f < FAILURE_WINDOW_MS), now]
    const delay = Math.min(this.init.maxBackoffMs, this.init.backoffMs * 2 ** Math.min(16, t.failures.length - 1))
    t.notBefore = now + delay
    const replace = t.failures.length >= FAILURES_BEFORE_REPLACE
    await this.report(t, svc, { status: 'FAILED', reason, replace })
    info(`instance ${svc.name}/${t.n} failed: ${reason}; retrying in ${Math.round(delay)} ms${replace ? ' (asked the leader to place it elsewhere)' : ''}`)
    setTimeout(() => { this.loop.trigger() }, delay).unref()
  }

  private async onExit (kind: 'docker' | 'process', id: string, code: number): Promise<void> {
    const t = [...this.tracked.values()].find(x => x.kind === kind && x.id === id)
    if (t === undefined) return
    if (t.busy) {
      // Mid-launch (its RUNNING report still being written) or mid-removal: handled once the agent is free.
      // Dropped, it would leave a dead instance marked RUNNING for good.
      t.exited = { id, code }
      return
    }
    const svc = this.init.state.get<ServiceRecord>(keys.svc(t.svc))
    if (svc === undefined) return
    const policy = svc.spec.restart
    t.id = undefined
    // The runtime keeps an exited instance around; clear it before deciding.
    await this.runtimeOf(kind)?.stop(id).catch(() => {})
    if (code === 0 && (svc.spec.oneShot || policy !== 'always')) {
      t.state = 'COMPLETED'
      await this.report(t, svc, { status: 'COMPLETED', reason: 'exited with code 0' })
      return
    }
    if (policy === 'never') {
      t.state = 'DEAD'
      await this.report(t, svc, { status: 'DEAD', reason: `exited with code ${code}; restart policy is never` })
      return
    }
    t.restarts++
    await this.fail(t, svc, `exited with code ${code}`)
  }

  private async remove (key: string, t: Tracked): Promise<void> {
    t.busy = true
    try {
      if (t.id !== undefined) await this.runtimeOf(t.kind)?.stop(t.id)
      this.tracked.delete(key)
      const placement = this.init.state.get<PlacementRecord>(keys.place(t.svc, t.n))
      const current = this.init.state.get<InstanceRecord>(keys.inst(t.svc, t.n))
      // Report only if the instance was not moved to another peer: that peer reports from now on.
      if (placement === undefined && current !== undefined && current.peerId === this.init.self && current.status !== 'UNDEPLOYED') {
        await this.init.state.put(keys.inst(t.svc, t.n), { ...current, status: 'UNDEPLOYED', endpoints: [], updatedAt: this.init.clock.wall() })
      }
      log('stopped %s (%s)', key, placement === undefined ? 'undeployed' : `moved to ${placement.peerId}`)
    } catch (err) {
      log.error('stopping %s failed: %s', key, (err as Error).message)
    } finally {
      t.busy = false
    }
  }

  private async report (t: Tracked, svc: ServiceRecord, patch: Partial<InstanceRecord> & { status: InstanceState }): Promise<void> {
    const placement = this.init.state.get<PlacementRecord>(keys.place(t.svc, t.n))
    if (placement?.peerId !== this.init.self) return
    t.state = patch.status
    const record: InstanceRecord = {
      svc: svc.id,
      n: t.n,
      peerId: this.init.self,
      peerName: this.init.name,
      region: this.init.region,
      reason: null,
      startedAt: t.startedAt,
      restarts: t.restarts,
      endpoints: patch.status === 'RUNNING' ? t.endpoints : [],
      replace: false,
      ...patch,
      updatedAt: this.init.clock.wall()
    }
    if (record.reason !== null && record.reason.length > MAX_REASON) record.reason = `${record.reason.slice(0, MAX_REASON - 1)}…`
    await this.init.state.put(keys.inst(t.svc, t.n), record)
  }

  /** Work started from a loop or a listener: a failure (a refused state write, say) is logged, never unhandled. */
  private background (what: string, work: Promise<void>): void {
    work.catch(err => { log.error('%s failed: %s', what, (err as Error).message) })
  }

  private publishDigest (): void {
    const running = [...this.tracked.values()].filter(t => t.state === 'RUNNING').map(t => `${t.svc}/${t.n}`).sort()
    const digest = running.length === 0 ? '' : createHash('sha256').update(running.join(',')).digest('hex').slice(0, 16)
    if (digest !== this.lastDigest) {
      this.lastDigest = digest
      this.init.onDigest?.(digest)
    }
  }

  /** What this agent tracks, for the API and tests. */
  list (): Array<{ svc: string, n: number, state: InstanceState, id: string | undefined, restarts: number }> {
    return [...this.tracked.values()].map(t => ({ svc: t.svc, n: t.n, state: t.state, id: t.id, restarts: t.restarts }))
  }

  /** The runtime handle of a local instance, for logs. */
  handle (svc: string, n: number): { runtime: Runtime, id: string } | undefined {
    const t = this.tracked.get(`${svc}/${n}`)
    const runtime = t === undefined ? undefined : this.runtimeOf(t.kind)
    return t?.id === undefined || runtime === undefined ? undefined : { runtime, id: t.id }
  }
}
