// Peer: one Grove daemon. It owns the start and stop order:
//   store → identity → resources → libp2p → membership → election → regions → API
// and stops in reverse, announcing its departure first. A failed start undoes whatever had started.
import './polyfill.js'
import { join } from 'node:path'
import { loadOrCreateSelfKey } from '@libp2p/config'
import { multiaddr } from '@multiformats/multiaddr'
import type { PrivateKey } from '@libp2p/interface'
import { DataStore } from './store.js'
import { createHost, type GroveLibp2p } from './libp2p.js'
import { Membership } from './membership/membership.js'
import { Election } from './election/election.js'
import { Regions } from './regions/regions.js'
import { ResourceMonitor, dockerProbe, type DockerProbe } from './resources.js'
import { systemClock, Periodic, type Clock } from './clock.js'
import { ensureToken, nextIncarnation } from './identity.js'
import { rememberRegion, type DaemonConfig } from './config.js'
import { VERSION } from './version.js'
import { ApiServer } from './api/server.js'
import { Metrics } from './metrics.js'
import { parseDelaySpec } from './emulate-delay.js'
import { ReplicatedState } from './state/index.js'
import { Deployer } from './deploy/deployer.js'
import { validateRecord } from './deploy/records.js'
import { fetchLogs, serveLogs } from './deploy/logs.js'
import { Agent } from './agent/agent.js'
import { ProcessRuntime, DockerRuntime, type Runtime } from './runtime/index.js'
import { LOGS_PROTOCOL } from './protocols.js'
import { Overlay } from '../overlay/index.js'
import type { InstanceRecord } from './deploy/records.js'
import { logger, info } from './log.js'
import type { Resources } from './wire/schemas.js'

const log = logger('peer')
/** A joining peer that knows no peer of its region stands for election after this many silence thresholds. */
const LONELY_STAND_AFTER = 3

export interface PeerInit {
  config: DaemonConfig
  clock?: Clock
  /** Defaults to a probe of the local Docker engine. */
  docker?: DockerProbe
  /** The mesh's swarm key (pnet file format), when the mesh is private. */
  swarmKey?: Uint8Array
  /** This peer founds its region: it leads at once instead of first listening for an existing leader. */
  found?: boolean
  /**
   * This peer was asked to found its region in an existing mesh (`grove region bootstrap NAME --ticket T`): it leads
   * at once if the DHT directory has no record of the region. Plain joiners never conclude that: under load a
   * lookup can come back empty for a region that exists, and a late joiner of a 50-peer testnet took the lead.
   */
  foundIfUnlisted?: boolean
}

/**
 * Resources change a little on every sample, and a loaded host's CPU use swings from one sample to the next. Only a
 * change that matters to a scheduler republishes the node's info (a full status, about four times a beat's size):
 * a different shape (cores, architecture, GPUs, runtimes), or a move of at least a quarter of the CPU, a tenth of
 * the memory or a twentieth of the disk away from what was last published. Measuring against the published value,
 * not against fixed steps, keeps a value that hovers at a step boundary from flapping.
 */
export function materiallyChanged (published: Resources, now: Resources): boolean {
  const shape = (r: Resources): string => JSON.stringify([r.cpuCores, r.arch, r.gpus.map(g => [g.name, g.memTotal]), r.runtimes, r.memTotal])
  if (shape(published) !== shape(now)) return true
  if (Math.abs(now.cpuUsage - published.cpuUsage) >= 0.25) return true
  if (Math.abs(now.memFree - published.memFree) >= 0.1 * Math.max(1, now.memTotal)) return true
  return Math.abs(now.diskFree - published.diskFree) >= 0.05 * Math.max(1, now.diskTotal)
}

export class Peer {
  readonly config: DaemonConfig
  readonly clock: Clock
  readonly startedAt: number
  token = ''
  libp2p!: GroveLibp2p
  membership!: Membership
  election!: Election
  regions!: Regions
  api!: ApiServer
  metrics!: Metrics
  private readonly data: DataStore
  private resources!: ResourceMonitor
  private privateKey!: PrivateKey
  private joiner: Periodic | undefined
  /** Whether this peer has ever been connected to another peer of the mesh. */
  private heardMesh = false
  /** The DHT directory was asked and has no record of our region: we are founding it. */
  private regionUnlisted = false
  private readonly stops: Array<() => Promise<void> | void> = []
  private phase: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new'
  state!: ReplicatedState
  deployer!: Deployer
  agent!: Agent
  runtimes: { docker?: Runtime, process?: Runtime } = {}
  overlay: Overlay | undefined

  constructor (private readonly init: PeerInit) {
    this.config = init.config
    this.clock = init.clock ?? systemClock
    this.startedAt = this.clock.wall()
    this.data = new DataStore(join(this.config.dataDir, 'db'))
  }

  get peerId (): string { return this.libp2p.peerId.toString() }

  async start (): Promise<void> {
    if (this.phase !== 'new') return
    this.phase = 'starting'
    try {
      await this.startAll()
      this.phase = 'running'
    } catch (err) {
      await this.unwind()
      this.phase = 'stopped'
      throw err
    }
  }

  private async startAll (): Promise<void> {
    const { config } = this
    await this.data.open()
    this.stops.push(async () => { await this.data.close() })
    await rememberRegion(config.dataDir, config.region, config.join)
    this.token = await ensureToken(config.dataDir)
    this.privateKey = await loadOrCreateSelfKey(this.data.datastore)
    const incarnation = await nextIncarnation(this.data.store)

    this.resources = new ResourceMonitor({ dataDir: config.dataDir, intervalMs: config.timings.resourceInterval, docker: this.init.docker ?? dockerProbe() })
    await this.resources.start()
    this.stops.push(() => { this.resources.stop() })

    this.libp2p = await createHost({
      privateKey: this.privateKey,
      datastore: this.data.datastore,
      listen: config.listen,
      bootstrap: config.join,
      gossipHeartbeatMs: config.timings.gossipHeartbeat,
      dialTimeoutMs: config.timings.dialTimeout,
      swarmKey: this.init.swarmKey,
      delay: process.env.GROVE_EMULATE_DELAY === undefined ? undefined : parseDelaySpec(process.env.GROVE_EMULATE_DELAY),
      dialOnly: process.env.GROVE_DIAL_ONLY === undefined ? undefined : process.env.GROVE_DIAL_ONLY.split(',').map(x => x.trim()).filter(x => x !== '')
    })
    await this.libp2p.start()
    this.stops.push(async () => { await this.libp2p.stop() })

    // A runtime is advertised only if this peer offers it (--runtimes) and it works now (docker: the engine answers).
    const offered = (r: Resources): Resources => ({ ...r, runtimes: r.runtimes.filter(x => config.runtimes.includes(x)) })
    this.membership = new Membership({
      libp2p: this.libp2p,
      clock: this.clock,
      timings: config.timings,
      region: config.region,
      incarnation,
      info: {
        peerId: this.peerId,
        region: config.region,
        name: config.name,
        addrs: this.addrs(),
        eligible: config.lead,
        resources: offered(this.resources.current),
        labels: config.labels,
        location: config.location,
        coordinate: { vec: new Array(8).fill(0), error: 1.5, adjustment: 0, height: 0.01 },
        version: VERSION
      },
      syncExtras: () => this.regions.syncExtras(),
      onSyncExtras: (extras) => { this.regions.onSyncExtras(extras) }
    })
    let published = offered(this.resources.current)
    const offResources = this.resources.onChange(measured => {
      const r = offered(measured)
      if (!materiallyChanged(published, r)) return
      published = r
      this.membership.setInfo({ resources: r })
    })
    this.stops.push(offResources)
    const onAddrs = (): void => { this.membership.setInfo({ addrs: this.addrs() }) }
    this.libp2p.addEventListener('self:peer:update', onAddrs)
    this.stops.push(() => { this.libp2p.removeEventListener('self:peer:update', onAddrs) })

    this.heardMesh = this.libp2p.getPeers().length > 0
    const onConnect = (): void => { this.heardMesh = true }
    this.libp2p.addEventListener('peer:connect', onConnect)
    this.stops.push(() => { this.libp2p.removeEventListener('peer:connect', onConnect) })
    this.election = new Election({
      libp2p: this.libp2p,
      store: this.data.store,
      clock: this.clock,
      timings: config.timings,
      region: config.region,
      membership: this.membership,
      eligible: config.lead,
      // Founding: told so (a new mesh), or the directory has no record of the region (a new region of a mesh).
      found: () => this.init.found === true || this.founding(),
      // A peer told to join through bootstrap peers does not crown itself before it has reached the mesh: an
      // island's self-elected term would only disturb the real leader when it finally connects. Nor, once there,
      // before it knows a peer of its region: on a loaded host learning the region can take longer than the
      // silence threshold, and 25 newcomers of a 50-peer testnet each won "1 of 1 votes" and then fought over the
      // term. Unless the directory has no record of the region (it is new), or it has waited long enough.
      mayStand: () => config.join.length === 0 || this.init.found === true || (this.heardMesh && (
        this.membership.members.size > 0 || this.founding() ||
        this.clock.wall() - this.startedAt > LONELY_STAND_AFTER * config.timings.suspectAfter))
    })
    this.regions = new Regions({
      libp2p: this.libp2p,
      privateKey: this.privateKey,
      clock: this.clock,
      timings: config.timings,
      region: config.region,
      membership: this.membership,
      election: this.election
    })
    await this.membership.start()
    this.stops.push(async () => { await this.membership.stop() })
    await this.election.start()
    this.stops.push(async () => { await this.election.stop() })
    await this.regions.start()
    this.stops.push(async () => { await this.regions.stop() })

    this.state = new ReplicatedState({
      libp2p: this.libp2p,
      store: this.data.store,
      clock: this.clock,
      // The state must converge faster than the membership view: an agent learns its placements from it.
      syncIntervalMs: Math.min(config.timings.syncInterval, 30_000),
      tombstoneTtlMs: 24 * 3600_000,
      validate: validateRecord
    })
    await this.state.start()
    this.stops.push(async () => { await this.state.stop() })

    if (config.runtimes.includes('process')) this.runtimes.process = new ProcessRuntime({ dataDir: config.dataDir })
    if (config.runtimes.includes('docker')) this.runtimes.docker = new DockerRuntime({})
    this.stops.push(async () => { for (const r of Object.values(this.runtimes)) await r.close() })
    this.deployer = new Deployer({
      libp2p: this.libp2p,
      state: this.state,
      membership: this.membership,
      election: this.election,
      regions: this.regions,
      clock: this.clock,
      timings: config.timings,
      region: config.region,
      areas: config.areas,
      policy: config.policy
    })
    await this.deployer.start()
    this.stops.push(async () => { await this.deployer.stop() })
    this.agent = new Agent({
      state: this.state,
      runtimes: this.runtimes,
      self: this.peerId,
      name: config.name,
      region: config.region,
      clock: this.clock,
      intervalMs: Math.max(250, config.timings.statusInterval * 2),
      graceMs: config.timings.suspectAfter * 5,
      backoffMs: Math.max(100, config.timings.statusInterval),
      maxBackoffMs: 30_000,
      onDigest: (digest) => { this.membership.setInstancesDigest(digest) }
    })
    await this.agent.start()
    this.stops.push(async () => { await this.agent.stop() })
    await serveLogs(this.libp2p, (svc, n, opts) => this.localLogs(svc, n, opts), (peer) => this.libp2p.getPeers().some(p => p.toString() === peer))
    this.stops.push(async () => { await this.libp2p.unhandle(LOGS_PROTOCOL) })

    if (config.overlay !== 'off') {
      const overlay = new Overlay({
        libp2p: this.libp2p,
        state: this.state,
        self: this.peerId,
        clock: this.clock,
        mode: config.overlay,
        loopbackPrefix: config.overlayLoopback,
        rttMs: (peer) => this.rttTo(peer)
      })
      await overlay.start()
      this.overlay = overlay
      this.stops.push(async () => { await overlay.stop() })
    }

    this.joiner = new Periodic({ name: 'join', intervalMs: 2000, jitter: 0.2, timeoutMs: 10_000, immediate: true }, async (signal) => { await this.findRegion(signal) })
    this.joiner.start()
    this.stops.push(() => { this.joiner?.stop() })

    this.metrics = new Metrics(this)
    this.api = new ApiServer({ peer: this, host: config.api.host, port: config.api.port, token: this.token, metricsOpen: config.metricsOpen })
    await this.api.start()
    this.stops.push(async () => { await this.api.stop() })
    info(`peer ${config.name} (${this.peerId}) started in region ${config.region}, profile ${config.profile}; API on http://${this.api.address}`)
    for (const a of this.libp2p.getMultiaddrs()) info(`listening on ${a.toString()}`)
  }

  /**
   * The RTT to a peer for the overlay's closest policy: measured by probes for peers of this region, estimated from
   * Vivaldi coordinates otherwise (a peer of another region is placed at its region's coordinate centroid).
   */
  private rttTo (peer: string): number | undefined {
    const m = this.membership.members.get(peer)
    if (m !== undefined) return m.rttMs ?? this.membership.vivaldi.estimateRtt(m.status.coordinate)
    const inst = this.state.entries<InstanceRecord>('inst/').find(([, r]) => r.peerId === peer)?.[1]
    const summary = inst?.region == null ? undefined : this.regions.get(inst.region)?.summary
    if (summary?.coordinate == null) return undefined
    try {
      return this.membership.vivaldi.estimateRtt(summary.coordinate)
    } catch {
      return undefined
    }
  }

  private localLogs (svc: string, n: number, opts: { tail?: number, follow: boolean, signal: AbortSignal }): AsyncIterable<string> | undefined {
    const handle = this.agent.handle(svc, n)
    return handle === undefined ? undefined : handle.runtime.logs(handle.id, opts)
  }

  /** An instance's log lines, from this peer or from the peer that runs it. */
  instanceLogs (peerId: string, svc: string, n: number, opts: { tail?: number, follow: boolean, signal: AbortSignal }): AsyncIterable<string> {
    if (peerId === this.peerId) {
      const local = this.localLogs(svc, n, opts)
      if (local === undefined) throw new Error(`instance ${n} of ${svc} is not running on this peer`)
      return local
    }
    return fetchLogs(this.libp2p, peerId, svc, n, opts)
  }

  /** Asked to found the region, and the directory confirms it has no record of it. */
  private founding (): boolean {
    return this.init.foundIfUnlisted === true && this.regionUnlisted
  }

  /** Our addresses as announced in NodeInfo: without the /p2p suffix, which the peer ID already says. */
  private addrs (): string[] {
    return this.libp2p.getMultiaddrs().map(a => a.decapsulate('/p2p').toString()).slice(0, 32)
  }

  /**
   * While this peer knows no other peer of its region, it looks the region up in the DHT directory and dials the
   * peers listed there: the bootstrap peer it joined through may belong to another region.
   */
  private async findRegion (signal: AbortSignal): Promise<void> {
    // A bootstrap dial that failed (the peer was busy starting, or restarting) is not retried by libp2p: without
    // this a peer could stay an island for good, and elect itself.
    if (this.libp2p.getPeers().length === 0 && this.config.join.length > 0) {
      for (const addr of this.config.join) {
        try {
          await this.libp2p.dial(multiaddr(addr), { signal })
          this.heardMesh = true
          info(`connected to bootstrap peer ${addr}`)
          break
        } catch (err) {
          log('bootstrap dial to %s failed: %s', addr, (err as Error).message)
        }
      }
      await this.membership.syncOnce(signal)
    }
    if (this.membership.members.size > 0 || this.libp2p.getPeers().length === 0) return
    const record = await this.regions.lookup(this.config.region, signal).catch(() => null)
    // undefined: the lookup finished and no peer has a record of the region; null: it failed.
    if (record === undefined) this.regionUnlisted = true
    if (record == null) return
    for (const p of record.body.peers) {
      if (p.id === this.peerId) continue
      for (const a of p.addrs) {
        try {
          await this.libp2p.dial(multiaddr(`${a}/p2p/${p.id}`), { signal })
          break
        } catch (err) {
          log('dialing %s from the directory failed: %s', p.id, (err as Error).message)
        }
      }
    }
    await this.membership.syncOnce(signal)
  }

  /** Leaves the region, then stops everything in reverse start order. Idempotent. */
  async stop (): Promise<void> {
    if (this.phase !== 'running') return
    this.phase = 'stopping'
    // Tell the region first, while gossip still runs, so nobody waits out a failure timeout for us.
    await this.membership.leave()
    await new Promise(resolve => setTimeout(resolve, 100))
    await this.unwind()
    this.phase = 'stopped'
  }

  private async unwind (): Promise<void> {
    while (this.stops.length > 0) {
      const stop = this.stops.pop()!
      try {
        await stop()
      } catch (err) {
        log.error('stop step failed: %s', (err as Error).message)
      }
    }
  }
}
