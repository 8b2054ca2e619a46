// The mesh suite: ten real `grove daemon` processes in two regions of five, on loopback, measured the way an operator
// would see them. What an idle mesh costs (memory, CPU, control traffic), how fast a peer joins, how fast a crash is
// detected and a dead leader replaced, and whether a peer starved of CPU declares healthy peers dead.
//
//   lan cluster:   start → converged → settle → idle window (CPU, traffic, RSS every 10 s) → join ×runs → kill ×runs
//                  → failover ×runs → soak → stop
//   local cluster: start → converged → kill ×runs → failover ×runs → stop
//
// The idle figures come first, while the cluster has done nothing but form: the later measures kill and restart
// daemons, and their recovery traffic would inflate the idle window.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import {
  apiGet, eventually, freePort, killDaemon, sleep, startDaemon, stopDaemon,
  type DaemonSpec, type RunningDaemon
} from '../daemons.js'
import type { Cleanup } from './cleanup.js'
import { clockTicks, cpuTicks, hostTicks, pin, rssBytes, tcpSockets, type TcpSocket } from './proc.js'
import {
  formatTable, max, median, progress, summarise, UsageError, writeResults,
  type Progress, type Summary
} from './report.js'

export const MESH_DESCRIPTION = '10 daemons in 2 regions: idle RSS/CPU/traffic, join, kill detection, leader failover, false deaths under CPU load'

export const MESH_USAGE = `usage: npm run bench -- mesh [options]

  --runs N          repetitions of join, kill detection and failover (default 5)
  --soak S          seconds of the CPU-saturation soak; 0 skips it (default 300)
  --profiles LIST   clusters to run, from lan,local (default lan,local); idle, join and soak use lan only
  --quick           a short run to try things out: --runs 2 --soak 30 and a 20 s idle window
  --keep            keep the daemons' data dirs and logs instead of removing them`

type Profile = 'lan' | 'local'
const PROFILES: readonly Profile[] = ['lan', 'local']
const REGIONS = ['region-0', 'region-1'] as const
const PER_REGION = 5
/** The joiner, the victims and the soak observer all live in this region. */
const R0 = REGIONS[0]
const MiB = 1024 * 1024

/** How often the timed measures look; the figures are late by at most this plus one API round trip. */
const POLL_MS = 25
const SETTLE_S = 20
/** How often each daemon's RSS is read during the idle window. */
const RSS_SAMPLE_MS = 10_000
/** Above this much CPU used by other processes (% of one core) or this load average per CPU, a run gets a warning. */
const BUSY_HOST_PCT = 20
const BUSY_LOAD_PER_CPU = 1
const CONVERGE_TIMEOUT_MS = 60_000

/** Upper bounds from the issue; kill detection and failover depend on the profile's timers. */
const TARGETS = {
  rssMiB: 90,
  cpuPct: 1,
  trafficBps: 2048,
  joinS: 2,
  detectS: { lan: 5, local: 2 } satisfies Record<Profile, number>,
  failoverS: { lan: 5, local: 2 } satisfies Record<Profile, number>,
  falseDeaths: 0
}

/** From /work/shared/notes/anchors.md, measured elsewhere on the same machine kind; printed for comparison only. */
const REFERENCE = {
  rss: 'serf 15 MB; etcd 29 MB',
  cpu: 'serf 0.2 %; etcd 1 %',
  traffic: 'serf ≈ 300 B/s',
  join: 'serf 0.34 s',
  detect: 'serf (lan) 5.6 s',
  failover: 'etcd 1.54 s'
}

export interface MeshOptions {
  runs: number
  soakS: number
  profiles: Profile[]
  idleWindowS: number
  settleS: number
  quick: boolean
  keep: boolean
}

export function parseMeshArgs (argv: string[]): MeshOptions {
  let values: Record<string, string | boolean | undefined>
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        runs: { type: 'string' },
        soak: { type: 'string' },
        profiles: { type: 'string' },
        quick: { type: 'boolean' },
        keep: { type: 'boolean' }
      }
    }))
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0])
  }
  const quick = values.quick === true
  // --quick sets the defaults; an explicit --runs or --soak still wins.
  const count = (name: string, fallback: number, min: number): number => {
    const raw = values[name]
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name}: expected an integer ≥ ${min}, got "${String(raw)}"`)
    return n
  }
  const profiles = String(values.profiles ?? PROFILES.join(',')).split(',').map(s => s.trim()).filter(s => s !== '')
  for (const p of profiles) {
    if (!PROFILES.includes(p as Profile)) throw new UsageError(`--profiles: "${p}" is not one of ${PROFILES.join(', ')}`)
  }
  if (profiles.length === 0) throw new UsageError('--profiles: name at least one of lan, local')
  return {
    runs: count('runs', quick ? 2 : 5, 1),
    soakS: count('soak', quick ? 30 : 300, 0),
    // Keep the canonical order (lan first) whatever order the user wrote.
    profiles: PROFILES.filter(p => profiles.includes(p)),
    idleWindowS: quick ? 20 : 60,
    settleS: SETTLE_S,
    quick,
    keep: values.keep === true
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The API as this suite reads it.

interface Status { peerId: string, name: string, region: string, role: string, term: number, leader: string | null }
interface NodeEntry { peerId: string, name: string, state: 'alive' | 'suspect' | 'dead', role: string, term: number }
interface Nodes { region: string, nodes: NodeEntry[] }
interface Leader { peerId: string, name: string, term: number }

/**
 * The leader a region agrees on: every status names the same leader, that peer says it leads, and no one else does.
 * A peer that has not yet noticed a change still names the old leader, so agreement means the change is complete.
 */
export function agreedLeader (statuses: readonly Status[]): Leader | undefined {
  const id = statuses[0]?.leader
  if (id === null || id === undefined || statuses.some(s => s.leader !== id)) return undefined
  const leading = statuses.filter(s => s.role === 'leader')
  if (leading.length !== 1 || leading[0].peerId !== id) return undefined
  return { peerId: id, name: leading[0].name, term: leading[0].term }
}

/** Thrown from inside a poll to stop it at once instead of retrying until the timeout. */
class Abort extends Error {
  override name = 'Abort'
}

/**
 * A timed measure that never completed. It becomes a sample of its own (counted at the timeout, and failing the
 * target) rather than ending a ten-minute run: a join that never finishes is the most important figure of all.
 */
class PollTimeout extends Error {
  override name = 'PollTimeout'
  constructor (readonly what: string, readonly timeoutMs: number, last: unknown) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : ` (last error: ${(last as Error).message})`}`)
  }
}

/** Timeouts of the timed measures: generous multiples of the slowest target. */
const JOIN_TIMEOUT_MS = 30_000
const DETECT_TIMEOUT_MS = 60_000

/**
 * Calls `check` every `POLL_MS` (from the start of one call to the next) until it returns a value, and returns the
 * time since `t0` at which that answer arrived. API errors are retried: a daemon under load may miss one poll.
 */
async function pollFrom<T> (t0: number, what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<{ ms: number, value: T }> {
  let last: unknown
  for (;;) {
    const started = performance.now()
    try {
      const value = await check()
      if (value !== undefined) return { ms: performance.now() - t0, value }
    } catch (err) {
      if (err instanceof Abort) throw err
      last = err
    }
    if (performance.now() - t0 > timeoutMs) {
      throw new PollTimeout(what, timeoutMs, last)
    }
    await sleep(Math.max(0, POLL_MS - (performance.now() - started)))
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The cluster.

interface Slot { spec: DaemonSpec, d: RunningDaemon }

class Cluster {
  readonly slots: Slot[] = []
  /** Every log file any daemon of this cluster wrote, the joiners' included. */
  readonly logFiles = new Set<string>()

  constructor (
    readonly profile: Profile,
    readonly dir: string,
    private readonly cleanup: Cleanup,
    private readonly ports: Ports,
    private readonly say: Progress
  ) {}

  inRegion (region: string): Slot[] {
    return this.slots.filter(s => s.spec.region === region)
  }

  async spec (name: string, region: string, joinAddrs: string[]): Promise<DaemonSpec> {
    return {
      name,
      region,
      dataDir: join(this.dir, name),
      p2pPort: await this.ports.next(),
      apiPort: await this.ports.next(),
      profile: this.profile,
      join: joinAddrs
    }
  }

  /**
   * Starts the daemons one after another, all joined to the first, each once the previous one sees every peer of
   * its region started so far; returns ms from the first spawn until converged.
   *
   * One at a time because a parallel start does not converge: with nine daemons dialling the first at once on two
   * cores, some bootstrap dials time out and are not retried, and region-1 peers that find no region peer in time
   * each elect themselves and never merge (seen on both parallel attempts on a 2-core machine).
   */
  async start (): Promise<number> {
    const t0 = performance.now()
    const first = await this.launch(await this.spec('r0-n0', R0, []))
    for (const region of REGIONS) {
      for (let i = 0; i < PER_REGION; i++) {
        if (region === R0 && i === 0) continue
        const slot = await this.launch(await this.spec(`${region === R0 ? 'r0' : 'r1'}-n${i}`, region, [first.d.multiaddr]))
        const ids = this.inRegion(region).map(s => s.d.peerId)
        await eventually(async () => {
          const view = await apiGet<Nodes>(slot.d, '/api/v1/nodes')
          return ids.every(id => view.nodes.some(n => n.peerId === id && n.state === 'alive'))
        }, 30_000, `${slot.spec.name} to see the ${ids.length} peer(s) of ${region} started so far`, 100)
          .catch(async (err: Error) => { throw new Error(`${err.message}\n${await this.describe()}`, { cause: err }) })
      }
    }
    this.say(`${this.profile}: ${this.slots.length} daemons up after ${((performance.now() - t0) / 1000).toFixed(1)} s; waiting for convergence`)
    await this.waitConverged(CONVERGE_TIMEOUT_MS, 'the first convergence')
    return performance.now() - t0
  }

  /** Who sees whom and who leads, for the error when a cluster does not converge. */
  async describe (): Promise<string> {
    const lines: string[] = []
    for (const s of this.slots) lines.push(`  ${s.spec.name}: ${await describeOne(s.d)}`)
    return lines.join('\n')
  }

  private async launch (spec: DaemonSpec): Promise<Slot> {
    const slot = { spec, d: this.cleanup.daemon(await startDaemon(spec)) }
    this.logFiles.add(slot.d.logFile)
    this.slots.push(slot)
    return slot
  }

  /**
   * Converged: every peer sees exactly its region's five peers alive (peers that left or died earlier and are not
   * part of the cluster may linger as dead), and each region agrees on one leader. Returns the leaders by region.
   */
  async converged (): Promise<Map<string, Leader> | undefined> {
    const leaders = new Map<string, Leader>()
    for (const region of REGIONS) {
      const slots = this.inRegion(region)
      const ids = slots.map(s => s.d.peerId).sort().join(',')
      const views = await Promise.all(slots.map(async s => await apiGet<Nodes>(s.d, '/api/v1/nodes')))
      for (const view of views) {
        if (view.nodes.filter(n => n.state === 'alive').map(n => n.peerId).sort().join(',') !== ids) return undefined
      }
      const leader = agreedLeader(await Promise.all(slots.map(async s => await apiGet<Status>(s.d, '/api/v1/status'))))
      if (leader === undefined) return undefined
      leaders.set(region, leader)
    }
    return leaders
  }

  async waitConverged (timeoutMs: number, what: string): Promise<Map<string, Leader>> {
    try {
      return await eventually(async () => await this.converged(), timeoutMs, `${what} (every peer sees its region alive, one leader per region)`, 200)
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await this.describe()}`, { cause: err })
    }
  }

  async kill (slot: Slot): Promise<void> {
    await killDaemon(slot.d)
    this.cleanup.forget(slot.d)
  }

  /** Same data dir and ports, so the same identity at the same address; joined to a peer that stayed up. */
  async restart (slot: Slot, via: Slot): Promise<void> {
    slot.spec = { ...slot.spec, join: [via.d.multiaddr] }
    slot.d = this.cleanup.daemon(await startDaemon(slot.spec))
  }

  async stop (): Promise<void> {
    await Promise.all(this.slots.map(async s => {
      await stopDaemon(s.d, 10_000)
      this.cleanup.forget(s.d)
    }))
    // A daemon whose start timed out was never handed back to us, but it may still run and load the next cluster.
    await this.cleanup.reapStragglers()
  }

  /**
   * Lines of the daemons' logs that are not the routine events (start, elections, peers dying and returning, stop):
   * warnings, errors and stack traces. Read after the cluster stopped, so shutdown problems show too.
   */
  async oddLogLines (): Promise<Array<{ log: string, line: string }>> {
    const odd: Array<{ log: string, line: string }> = []
    for (const log of this.logFiles) {
      const text = await readFile(log, 'utf8').catch(() => '')
      for (const line of text.split('\n')) {
        if (/error|warn|exception|uncaught|unhandled|took longer|^\s+at /i.test(line)) odd.push({ log: log.slice(this.dir.length + 1), line })
      }
    }
    return odd
  }
}

/** One daemon's role, leader and view in one line (leaders by peer ID: names are in the view next to it). */
async function describeOne (d: RunningDaemon): Promise<string> {
  try {
    const [status, view] = await Promise.all([apiGet<Status>(d, '/api/v1/status'), apiGet<Nodes>(d, '/api/v1/nodes')])
    const leader = view.nodes.find(n => n.peerId === status.leader)?.name ?? status.leader ?? 'none'
    return `${status.role}, term ${status.term}, leader ${leader}; sees ${view.nodes.map(n => `${n.name}:${n.state}`).join(' ')}`
  } catch (err) {
    return `API error: ${(err as Error).message}`
  }
}

/** Hands out ports the kernel just called free, never the same one twice in a run. */
class Ports {
  private readonly used = new Set<number>()
  async next (): Promise<number> {
    for (;;) {
      const port = await freePort()
      if (!this.used.has(port)) {
        this.used.add(port)
        return port
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The measures.

interface IdleDaemon {
  name: string
  pid: number
  role: 'leader' | 'follower'
  /** The median of the readings taken through the idle window. */
  rssBytes: number
  rssSamples: number[]
  cpuTicks: { start: number, end: number }
  cpuPct: number
  sentBps: number
  receivedBps: number
  totalBps: number
  sockets: Array<{ local: string, peer: string, sent: number, received: number, seen: 'both' | 'end' }>
  /** Sockets that closed during the window: their last counters are unknown, so they are dropped. */
  droppedSockets: number
}

interface IdleResult {
  settleS: number
  windowS: number
  clockTicks: number
  daemons: IdleDaemon[]
  bare: { rssBytes: number, cpuTicks: { start: number, end: number }, cpuPct: number }
  /**
   * CPU the rest of the host used during the window, in % of one core: the host's busy time minus the daemons' and
   * the baseline's. On a shared machine this says whether the figures can be trusted.
   */
  othersPct: number
  notes: string[]
}

async function sleepWithProgress (say: Progress, label: string, seconds: number): Promise<void> {
  const t0 = performance.now()
  for (let i = 1; i <= seconds; i++) {
    // Aim at whole seconds from the start, so the drift of many sleeps does not add up.
    await sleep(Math.max(0, t0 + i * 1000 - performance.now()))
    say.live(`${label} ${i}/${seconds} s ...`, i % 10 === 0 || i === seconds)
  }
  say.live(`${label} done`, true)
}

/** The p2p sockets of each daemon: its own p2p port on our side, or another daemon's on the far side. */
function p2pSockets (sockets: TcpSocket[], daemons: RunningDaemon[]): Map<number, Map<string, TcpSocket>> {
  const p2pPorts = new Set(daemons.map(d => d.spec.p2pPort))
  const out = new Map<number, Map<string, TcpSocket>>(daemons.map(d => [d.pid, new Map()]))
  for (const s of sockets) {
    for (const d of daemons) {
      if (!s.pids.includes(d.pid)) continue
      if (s.local.port !== d.spec.p2pPort && !p2pPorts.has(s.peer.port)) continue
      out.get(d.pid)!.set(`${s.local.host}:${s.local.port} ${s.peer.host}:${s.peer.port}`, s)
    }
  }
  return out
}

async function measureIdle (cluster: Cluster, opts: MeshOptions, cleanup: Cleanup, say: Progress): Promise<IdleResult> {
  // The baseline is the cheapest long-lived Node.js process, started before the settle so it is as warm as the
  // daemons: what any Node.js daemon costs before doing anything.
  const bare = cleanup.child(spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }))
  try {
    const leaders = await cluster.waitConverged(30_000, 'convergence before the idle measures')
    await sleepWithProgress(say, 'settle', opts.settleS)

    const daemons = cluster.slots.map(s => s.d)
    // RSS is read from /proc every RSS_SAMPLE_MS through the idle window (which disturbs nobody), and each daemon's
    // figure is the median of its samples: one reading can land on a transient (a GC about to run).
    const rssSamples: number[][] = daemons.map(() => [])
    const sampleRss = async (): Promise<void> => {
      const now = await Promise.all(daemons.map(async d => await rssBytes(d.pid)))
      now.forEach((v, i) => { rssSamples[i].push(v) })
    }
    await sampleRss()

    // Nothing else runs during the window: no API calls, so the daemons' CPU and the byte counters are theirs alone.
    const socketsStart = p2pSockets(await tcpSockets(), daemons)
    const cpuStart = await Promise.all(daemons.map(async d => await cpuTicks(d.pid)))
    const bareStart = await cpuTicks(bare.pid!)
    const hostStart = await hostTicks()
    const t0 = performance.now()
    const sampler = setInterval(() => { void sampleRss() }, RSS_SAMPLE_MS)
    try {
      await sleepWithProgress(say, 'idle window', opts.idleWindowS)
    } finally {
      clearInterval(sampler)
    }
    await sampleRss()
    const rss = rssSamples.map(samples => median(samples))
    const bareRss = await rssBytes(bare.pid!)
    say(`idle RSS (median of ${rssSamples[0].length} readings each): median ${(median(rss) / MiB).toFixed(1)} MiB, max ${(max(rss) / MiB).toFixed(1)} MiB; bare node ${(bareRss / MiB).toFixed(1)} MiB`)
    const cpuEnd = await Promise.all(daemons.map(async d => await cpuTicks(d.pid)))
    const bareEnd = await cpuTicks(bare.pid!)
    const hostEnd = await hostTicks()
    const elapsedS = (performance.now() - t0) / 1000
    const socketsEnd = p2pSockets(await tcpSockets(), daemons)

    const hz = clockTicks()
    const pct = (start: number, end: number): number => (end - start) / hz / elapsedS * 100
    const notes: string[] = []
    const leaderIds = new Set([...leaders.values()].map(l => l.peerId))
    const results = daemons.map((d, i): IdleDaemon => {
      const before = socketsStart.get(d.pid)!
      const after = socketsEnd.get(d.pid)!
      const sockets: IdleDaemon['sockets'] = []
      for (const [key, s] of after) {
        const b = before.get(key)
        // A socket opened during the window counts from 0; so does one whose counters went down, which can only be
        // a new connection that reused the same pair of ports.
        const fresh = b === undefined || s.bytesSent < b.bytesSent || s.bytesReceived < b.bytesReceived
        const [local, peer] = key.split(' ')
        sockets.push({
          local,
          peer,
          sent: s.bytesSent - (fresh ? 0 : b.bytesSent),
          received: s.bytesReceived - (fresh ? 0 : b.bytesReceived),
          seen: b === undefined ? 'end' : 'both'
        })
      }
      const dropped = [...before.keys()].filter(k => !after.has(k)).length
      const opened = sockets.filter(s => s.seen === 'end').length
      if (dropped > 0 || opened > 0) notes.push(`${d.spec.name}: ${opened} p2p socket(s) opened during the idle window (counted from 0), ${dropped} closed (dropped)`)
      const sent = sockets.reduce((a, s) => a + s.sent, 0) / elapsedS
      const received = sockets.reduce((a, s) => a + s.received, 0) / elapsedS
      return {
        name: d.spec.name,
        pid: d.pid,
        role: leaderIds.has(d.peerId) ? 'leader' : 'follower',
        rssBytes: rss[i],
        rssSamples: rssSamples[i],
        cpuTicks: { start: cpuStart[i], end: cpuEnd[i] },
        cpuPct: pct(cpuStart[i], cpuEnd[i]),
        sentBps: sent,
        receivedBps: received,
        totalBps: sent + received,
        sockets,
        droppedSockets: dropped
      }
    })
    const ours = cpuEnd.reduce((a, t, i) => a + t - cpuStart[i], 0) + bareEnd - bareStart
    const othersPct = pct(0, Math.max(0, hostEnd.busy - hostStart.busy - ours))
    if (othersPct > BUSY_HOST_PCT) notes.push(`WARNING: other processes used ${othersPct.toFixed(0)} % of a core during the idle window; the idle figures are unreliable`)
    say(`idle CPU: median ${median(results.map(r => r.cpuPct)).toFixed(2)} %; traffic: median ${median(results.map(r => r.totalBps)).toFixed(0)} B/s sent+received; other processes ${othersPct.toFixed(1)} % of a core`)
    return {
      settleS: opts.settleS,
      windowS: elapsedS,
      clockTicks: hz,
      daemons: results,
      bare: { rssBytes: bareRss, cpuTicks: { start: bareStart, end: bareEnd }, cpuPct: pct(bareStart, bareEnd) },
      othersPct,
      notes
    }
  } finally {
    bare.kill('SIGKILL')
  }
}

interface JoinSample {
  name: string
  joinedVia: string
  /** Spawn → every region-0 peer lists the newcomer alive; null when that did not happen within the timeout. */
  ms: number | null
  /** Who saw whom when the join timed out. */
  diagnosis?: string
  /** Spawn → the newcomer's own API answers: mostly Node.js and module start-up. */
  apiReadyMs: number
  perPeerMs: Record<string, number>
}

/**
 * A new daemon in region-0, bootstrapped from a region-1 peer, so it must find its own region through the other
 * one. A fresh data dir each run: a new identity, as a first join is.
 */
async function measureJoin (cluster: Cluster, run: number, cleanup: Cleanup, samples: JoinSample[], report: (s: JoinSample) => void): Promise<void> {
  await cluster.waitConverged(30_000, 'convergence before a join')
  const r0 = cluster.inRegion(R0)
  const via = cluster.inRegion(REGIONS[1])[run % PER_REGION]
  const spec = await cluster.spec(`r0-join-${run + 1}`, R0, [via.d.multiaddr])
  await mkdir(spec.dataDir, { recursive: true })
  cluster.logFiles.add(join(spec.dataDir, 'daemon.log'))

  const perPeer: Record<string, number> = {}
  let startError: Error | undefined
  let apiReadyMs = NaN
  let sample: JoinSample | undefined
  const t0 = performance.now()
  const starting = startDaemon(spec).then(d => {
    apiReadyMs = performance.now() - t0
    return cleanup.daemon(d)
  })
  starting.catch((err: Error) => { startError = err })
  try {
    const { ms } = await pollFrom(t0, `${spec.name} alive at every ${R0} peer`, JOIN_TIMEOUT_MS, async () => {
      if (startError !== undefined) throw new Abort(startError.message)
      const views = await Promise.all(r0.map(async s => await apiGet<Nodes>(s.d, '/api/v1/nodes')))
      const now = performance.now() - t0
      let all = true
      views.forEach((v, i) => {
        if (v.nodes.some(n => n.name === spec.name && n.state === 'alive')) perPeer[r0[i].spec.name] ??= now
        else all = false
      })
      return all ? true : undefined
    })
    sample = { name: spec.name, joinedVia: via.spec.name, ms, apiReadyMs, perPeerMs: perPeer }
  } catch (err) {
    if (!(err instanceof PollTimeout)) throw err
    const d = await starting.catch(() => undefined)
    const own = d === undefined ? 'did not start' : await describeOne(d)
    sample = { name: spec.name, joinedVia: via.spec.name, ms: null, apiReadyMs, perPeerMs: perPeer, diagnosis: `${err.message}\n  ${spec.name} (the joiner): ${own}\n${await cluster.describe()}` }
  } finally {
    // Recorded before the newcomer's leave, which can itself fail to converge.
    if (sample !== undefined) {
      samples.push(sample)
      report(sample)
    }
    // A graceful stop: the newcomer leaves its region, and the others drop it at once rather than detect a death.
    const d = await starting.catch(() => undefined)
    if (d !== undefined) {
      await stopDaemon(d, 10_000)
      cleanup.forget(d)
      await eventually(async () => {
        const views = await Promise.all(r0.map(async s => await apiGet<Nodes>(s.d, '/api/v1/nodes')))
        return views.every(v => !v.nodes.some(n => n.name === spec.name && n.state === 'alive'))
      }, 30_000, `${spec.name} gone from every ${R0} view`, 100)
    }
  }
}

interface KillSample {
  victim: string
  /** kill -9 → every other region-0 peer shows the victim dead; null when that did not happen within the timeout. */
  ms: number | null
  diagnosis?: string
  firstSuspectMs: Record<string, number>
  firstDeadMs: Record<string, number>
  /** Restart → converged again; null until then (and for good if it never happens). */
  reconvergeMs: number | null
}

/**
 * Pushes its sample as soon as the measure is taken, before the victim's restart: if the cluster then fails to
 * reconverge, the sample is kept and the failure is reported on its own.
 */
async function measureKill (cluster: Cluster, run: number, samples: KillSample[], report: (s: KillSample) => void): Promise<void> {
  const leaders = await cluster.waitConverged(30_000, 'convergence before a kill')
  const r0 = cluster.inRegion(R0)
  // A different follower each run, so one peer's quirks do not make every sample.
  const followers = r0.filter(s => s.d.peerId !== leaders.get(R0)!.peerId)
  const victim = followers[run % followers.length]
  const others = r0.filter(s => s !== victim)
  const firstSuspect: Record<string, number> = {}
  const firstDead: Record<string, number> = {}

  const t0 = performance.now()
  const killed = cluster.kill(victim)
  const polled = pollFrom(t0, `${victim.spec.name} dead at every other ${R0} peer`, DETECT_TIMEOUT_MS, async () => {
    const views = await Promise.all(others.map(async s => await apiGet<Nodes>(s.d, '/api/v1/nodes')))
    const now = performance.now() - t0
    let all = true
    views.forEach((v, i) => {
      const state = v.nodes.find(n => n.peerId === victim.d.peerId)?.state
      // A peer may go from alive to dead between two polls; suspicion is then seen no later than death.
      if (state === 'suspect' || state === 'dead') firstSuspect[others[i].spec.name] ??= now
      if (state === 'dead') firstDead[others[i].spec.name] ??= now
      else all = false
    })
    return all ? true : undefined
  })
  const { ms, diagnosis } = await completed(polled, cluster)
  await killed
  const sample: KillSample = { victim: victim.spec.name, ms, diagnosis, firstSuspectMs: firstSuspect, firstDeadMs: firstDead, reconvergeMs: null }
  samples.push(sample)
  report(sample)

  const r = performance.now()
  await cluster.restart(victim, others[0])
  await cluster.waitConverged(CONVERGE_TIMEOUT_MS, `convergence after restarting ${victim.spec.name}`)
  sample.reconvergeMs = performance.now() - r
}

/** A poll's result, or its timeout turned into a null sample with the cluster's state at that moment. */
async function completed<T> (poll: Promise<{ ms: number, value: T }>, cluster: Cluster): Promise<{ ms: number | null, value?: T, diagnosis?: string }> {
  try {
    return await poll
  } catch (err) {
    if (!(err instanceof PollTimeout)) throw err
    return { ms: null, diagnosis: `${err.message}\n${await cluster.describe()}` }
  }
}

interface FailoverSample {
  victim: string
  oldTerm: number
  newLeader: string | null
  newTerm: number | null
  /** kill -9 of the leader → the survivors agree on a new one that says it leads; null on a timeout. */
  ms: number | null
  diagnosis?: string
  /** The region's leader once the victim is back (it must not take the lead back); null until then. */
  leaderAfterRestart: string | null
  reconvergeMs: number | null
}

/** Like measureKill, records its sample before the victim's restart. */
async function measureFailover (cluster: Cluster, samples: FailoverSample[], report: (s: FailoverSample) => void): Promise<void> {
  const leaders = await cluster.waitConverged(30_000, 'convergence before a failover')
  const old = leaders.get(R0)!
  const r0 = cluster.inRegion(R0)
  const victim = r0.find(s => s.d.peerId === old.peerId)!
  const survivors = r0.filter(s => s !== victim)

  const t0 = performance.now()
  const killed = cluster.kill(victim)
  const { ms, value: next, diagnosis } = await completed(pollFrom(t0, `a new leader agreed by the survivors of ${R0}`, DETECT_TIMEOUT_MS, async () => {
    const leader = agreedLeader(await Promise.all(survivors.map(async s => await apiGet<Status>(s.d, '/api/v1/status'))))
    return leader !== undefined && leader.peerId !== old.peerId ? leader : undefined
  }), cluster)
  await killed
  const sample: FailoverSample = {
    victim: victim.spec.name,
    oldTerm: old.term,
    newLeader: next?.name ?? null,
    newTerm: next?.term ?? null,
    ms,
    diagnosis,
    leaderAfterRestart: null,
    reconvergeMs: null
  }
  samples.push(sample)
  report(sample)

  const r = performance.now()
  await cluster.restart(victim, survivors[0])
  const after = await cluster.waitConverged(CONVERGE_TIMEOUT_MS, `convergence after restarting ${victim.spec.name}`)
  sample.leaderAfterRestart = after.get(R0)!.name
  sample.reconvergeMs = performance.now() - r
}

interface SoakResult {
  seconds: number
  observer: string
  /** New `is dead` lines in any daemon's log during the soak: each is a healthy peer declared dead. */
  deadLines: Array<{ log: string, line: string }>
  samples: Array<{ t: number, notAlive: string[], error?: string }>
  /** Load averages at the end of the soak: load from outside would explain deaths that the busy loop did not. */
  loadavgAfter: number[]
  /** Samples in which the observer showed a peer of the cluster as suspect, dead or missing. */
  samplesWithNonAlive: number
  sampleErrors: number
  leadersBefore: Record<string, Leader>
  leadersAfter: Record<string, Leader> | null
  notes: string[]
}

async function lineCount (file: string): Promise<number> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text.split('\n').length - 1
}

/**
 * One observer shares CPU 1 with a busy loop, so it gets about half a core in slices, late; the other nine share CPU
 * 0. The Lifeguard detector is meant to blame its own slowness (awareness) instead of declaring the others dead, and
 * the others must not take its late beats for death either.
 */
async function soak (cluster: Cluster, seconds: number, cleanup: Cleanup, say: Progress): Promise<SoakResult> {
  const leaders = await cluster.waitConverged(30_000, 'convergence before the soak')
  const r0 = cluster.inRegion(R0)
  const observer = r0.find(s => s.d.peerId !== leaders.get(R0)!.peerId)!
  const watched = new Map(r0.filter(s => s !== observer).map(s => [s.d.peerId, s.spec.name]))
  const logs = [...cluster.slots.map(s => s.d.logFile)]
  const before = await Promise.all(logs.map(lineCount))
  const notes: string[] = []
  const all = `0-${cpus().length - 1}`

  say(`soak: ${seconds} s with ${observer.spec.name} sharing CPU 1 with a busy loop, the other daemons on CPU 0`)
  await pin(observer.d.pid, '1')
  for (const s of cluster.slots) if (s !== observer) await pin(s.d.pid, '0')
  // taskset execs node, so the pid is the busy loop's own.
  const busy: ChildProcess = cleanup.child(spawn('taskset', ['-c', '1', process.execPath, '-e', 'for(;;){}'], { stdio: 'ignore' }))
  const samples: SoakResult['samples'] = []
  try {
    const t0 = performance.now()
    for (let i = 1; i <= seconds; i++) {
      const t = performance.now() - t0
      try {
        const view = await apiGet<Nodes>(observer.d, '/api/v1/nodes')
        const states = new Map(view.nodes.map(n => [n.peerId, n.state]))
        // Only the cluster's current peers count: a joiner that left earlier is not a false death.
        const notAlive = [...watched].filter(([id]) => states.get(id) !== 'alive').map(([id, name]) => `${name}:${states.get(id) ?? 'missing'}`)
        samples.push({ t, notAlive })
      } catch (err) {
        samples.push({ t, notAlive: [], error: (err as Error).message })
      }
      const bad = samples.filter(s => s.notAlive.length > 0).length
      say.live(`soak ${i}/${seconds} s, ${bad} sample(s) with a non-alive peer ...`, i % 30 === 0 || i === seconds)
      await sleep(Math.max(0, t0 + i * 1000 - performance.now()))
    }
  } finally {
    busy.kill('SIGKILL')
    for (const s of cluster.slots) await pin(s.d.pid, all).catch(() => {})
  }

  const deadLines: SoakResult['deadLines'] = []
  for (const [i, log] of logs.entries()) {
    const lines = (await readFile(log, 'utf8')).split('\n').slice(before[i])
    for (const line of lines) if (/is dead/.test(line)) deadLines.push({ log: log.slice(cluster.dir.length + 1), line })
  }
  let leadersAfter: Map<string, Leader> | undefined
  try {
    leadersAfter = await cluster.waitConverged(30_000, 'convergence after the soak')
  } catch (err) {
    notes.push(`the cluster did not reconverge after the soak: ${(err as Error).message}`)
  }
  for (const region of REGIONS) {
    const a = leaders.get(region)!
    const b = leadersAfter?.get(region)
    if (b !== undefined && (b.peerId !== a.peerId || b.term !== a.term)) {
      notes.push(`${region} changed leader during the soak: ${a.name} (term ${a.term}) → ${b.name} (term ${b.term})`)
    }
  }
  return {
    seconds,
    observer: observer.spec.name,
    deadLines,
    samples,
    samplesWithNonAlive: samples.filter(s => s.notAlive.length > 0).length,
    sampleErrors: samples.filter(s => s.error !== undefined).length,
    leadersBefore: Object.fromEntries(leaders),
    leadersAfter: leadersAfter === undefined ? null : Object.fromEntries(leadersAfter),
    loadavgAfter: loadavg(),
    notes
  }
}

// ---------------------------------------------------------------------------------------------------------------
// One cluster per profile.

interface ProfileResult {
  profile: Profile
  /** 1, 5 and 15 minute load averages when the cluster started and when it stopped. */
  loadavg: { start: number[], end: number[] }
  convergeMs: number
  idle?: IdleResult
  join?: JoinSample[]
  kill: KillSample[]
  failover: FailoverSample[]
  soak?: SoakResult
  /**
   * Why the measures of this cluster stopped early: it did not converge, or a daemon did not start. The samples taken
   * until then stay; the suite goes on with the next cluster.
   */
  aborted?: string
  oddLogLines: Array<{ log: string, line: string }>
}

/**
 * Fills `result` as it goes. A cluster that stops converging is a finding about the daemons, not a crash of the
 * benchmark: the profile's remaining measures are skipped, the table marks them not run, and the run goes on.
 */
async function runProfile (result: ProfileResult, opts: MeshOptions, root: string, cleanup: Cleanup, ports: Ports, say: Progress): Promise<void> {
  const profile = result.profile
  const cluster = new Cluster(profile, join(root, profile), cleanup, ports, say)
  try {
    await measureProfile(cluster, result, opts, cleanup, say)
  } catch (err) {
    // After Ctrl-C every daemon is being stopped: what fails then is no finding.
    if (cleanup.closed) throw err
    result.aborted = (err as Error).message
    say(`${profile}: ABORTED, skipping this cluster's remaining measures: ${result.aborted}`)
  } finally {
    result.loadavg.end = loadavg()
    await cluster.stop()
    result.oddLogLines = await cluster.oddLogLines()
  }
}

async function measureProfile (cluster: Cluster, result: ProfileResult, opts: MeshOptions, cleanup: Cleanup, say: Progress): Promise<void> {
  const profile = result.profile
  say(`${profile}: starting ${REGIONS.length * PER_REGION} daemons`)
  result.convergeMs = await cluster.start()
  say(`${profile}: converged ${(result.convergeMs / 1000).toFixed(1)} s after the first spawn`)

  // The idle, join and soak measures describe the default profile only.
  const full = profile === 'lan'
  if (full) {
    result.idle = await measureIdle(cluster, opts, cleanup, say)
    result.join = []
    for (let i = 0; i < opts.runs; i++) {
      await measureJoin(cluster, i, cleanup, result.join, s => {
        say(`${profile}: join ${i + 1}/${opts.runs} via ${s.joinedVia}: ${took(s.ms, JOIN_TIMEOUT_MS)} (API up after ${s2(s.apiReadyMs)})`)
        if (s.diagnosis !== undefined) say(s.diagnosis)
      })
    }
  }
  for (let i = 0; i < opts.runs; i++) {
    await measureKill(cluster, i, result.kill, s => {
      say(`${profile}: kill -9 ${s.victim} ${i + 1}/${opts.runs}: dead at all after ${took(s.ms, DETECT_TIMEOUT_MS)}`)
      if (s.diagnosis !== undefined) say(s.diagnosis)
    })
  }
  for (let i = 0; i < opts.runs; i++) {
    await measureFailover(cluster, result.failover, s => {
      say(`${profile}: failover ${i + 1}/${opts.runs}: ${s.victim} (term ${s.oldTerm}) → ${s.newLeader ?? 'none'} (term ${s.newTerm ?? '-'}) in ${took(s.ms, DETECT_TIMEOUT_MS)}`)
      if (s.diagnosis !== undefined) say(s.diagnosis)
    })
  }
  if (full && opts.soakS > 0) {
    if (cpus().length < 2) say('soak skipped: it pins processes to CPUs 0 and 1, and this machine has one CPU')
    else result.soak = await soak(cluster, opts.soakS, cleanup, say)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The table.

const s2 = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
const took = (ms: number | null, timeoutMs: number): string => ms === null ? `TIMED OUT (> ${s2(timeoutMs)})` : s2(ms)

/**
 * Seconds of the timed samples, a timed-out one counted at its timeout: a lower bound, which keeps the median
 * honest (a run that never finished is slower than every run that did) without inventing a figure.
 */
function seconds (samples: Array<{ ms: number | null }>, timeoutMs: number): number[] {
  return samples.map(x => (x.ms ?? timeoutMs) / 1000)
}

/** Any timed-out run fails the target, whatever the median says; the measure's cell says how many. */
function withTimeouts (summary: Summary, samples: Array<{ ms: number | null }>): Summary {
  const timedOut = samples.filter(x => x.ms === null).length
  if (timedOut === 0) return summary
  return { ...summary, measure: `${summary.measure} [${timedOut}/${samples.length} timed out]`, timedOut, pass: false }
}

interface Row { cells: string[], summary: Summary }

function row (summary: Summary, fmt: (v: number) => string, baseline: string, reference: string): Row {
  // The max, not a p90: with 10 daemons or 5 runs a p90 is an interpolation, and the per-daemon targets judge the max.
  const single = summary.n === 1
  const spread = single ? '—' : `max ${fmt(summary.max)}`
  const basis = single ? '' : summary.judgedOn === 'max' ? ' (every daemon)' : ' (median)'
  const target = summary.target === null ? '—' : `≤ ${fmt(summary.target)}${basis}`
  const pass = summary.pass === null ? '—' : summary.pass ? 'pass' : 'FAIL'
  if (summary.n === 0) return { cells: [summary.measure, 'not run', '—', target, summary.target === null ? '—' : 'FAIL', '—', reference], summary }
  return { cells: [summary.measure, fmt(summary.median), spread, target, pass, baseline, reference], summary }
}

/**
 * Every measure the options asked for gets a row, including those an aborted cluster never reached: a missing row
 * would read as "not measured", where the truth is "failed before it could be".
 */
function buildRows (results: Partial<Record<Profile, ProfileResult>>, opts: MeshOptions): Row[] {
  const rows: Row[] = []
  const lan = results.lan
  const sec = (v: number): string => `${v.toFixed(2)} s`
  if (opts.profiles.includes('lan')) {
    const idle = lan?.idle
    const daemons = idle?.daemons ?? []
    const mib = (v: number): string => `${v.toFixed(1)} MiB`
    const rss = summarise('idle RSS per daemon, median of its readings over the idle window (lan)', 'MiB', daemons.map(d => d.rssBytes / MiB), TARGETS.rssMiB, 'max')
    const bareMiB = (idle?.bare.rssBytes ?? NaN) / MiB
    rows.push(row(rss, mib, idle === undefined ? '—' : `bare node ${mib(bareMiB)}; ×${(rss.median / bareMiB).toFixed(2)}`, REFERENCE.rss))
    const pct = (v: number): string => `${v.toFixed(2)} %`
    const cpu = summarise('idle CPU per daemon (lan)', '%', daemons.map(d => d.cpuPct), TARGETS.cpuPct, 'max')
    const bareCpu = idle?.bare.cpuPct ?? NaN
    rows.push(row(cpu, pct, idle === undefined ? '—' : `bare node ${pct(bareCpu)}${bareCpu > 0 ? `; ×${(cpu.median / bareCpu).toFixed(1)}` : ''}`, REFERENCE.cpu))
    const bps = (v: number): string => `${v.toFixed(0)} B/s`
    rows.push(row(summarise('control traffic per daemon, sent+received (lan)', 'B/s', daemons.map(d => d.totalBps), TARGETS.trafficBps, 'max'), bps, '—', REFERENCE.traffic))
    rows.push(row(summarise('control traffic per daemon, sent only (lan)', 'B/s', daemons.map(d => d.sentBps), null, 'max'), bps, '—', '—'))
    const joins = lan?.join ?? []
    const join = withTimeouts(summarise('join seen alive by all of region-0, bootstrapped via region-1 (lan)', 's', seconds(joins, JOIN_TIMEOUT_MS), TARGETS.joinS, 'median'), joins)
    rows.push(row(join, sec, joins.length === 0 ? '—' : `own API up after ${s2(median(joins.map(j => j.apiReadyMs)))}`, REFERENCE.join))
  }
  for (const profile of opts.profiles) {
    const r = results[profile]
    const kills = r?.kill ?? []
    const kill = withTimeouts(summarise(`kill -9 follower → dead at all of region-0 (${profile})`, 's', seconds(kills, DETECT_TIMEOUT_MS), TARGETS.detectS[profile], 'median'), kills)
    const suspect = median(kills.map(k => Math.min(...Object.values(k.firstSuspectMs))).filter(Number.isFinite))
    rows.push(row(kill, sec, Number.isFinite(suspect) ? `first suspect ${s2(suspect)}` : '—', profile === 'lan' ? REFERENCE.detect : '—'))
    const failovers = r?.failover ?? []
    const fo = withTimeouts(summarise(`kill -9 leader → new leader agreed (${profile})`, 's', seconds(failovers, DETECT_TIMEOUT_MS), TARGETS.failoverS[profile], 'median'), failovers)
    const jumps = [...new Set(failovers.flatMap(f => f.newTerm === null ? [] : [f.newTerm - f.oldTerm]))].sort((a, b) => a - b)
    rows.push(row(fo, sec, jumps.length === 0 ? '—' : `term +${jumps.join('/+')}`, REFERENCE.failover))
  }
  if (opts.profiles.includes('lan') && opts.soakS > 0 && cpus().length >= 2) {
    const soak = lan?.soak
    const count = (v: number): string => v.toFixed(0)
    rows.push(row(summarise(`false deaths under CPU saturation, ${opts.soakS} s (lan)`, 'count', soak === undefined ? [] : [soak.deadLines.length], TARGETS.falseDeaths, 'median'), count, '—', '—'))
    rows.push(row(summarise(`observer samples with a non-alive peer (of ${soak?.samples.length ?? 0})`, 'count', soak === undefined ? [] : [soak.samplesWithNonAlive], TARGETS.falseDeaths, 'median'), count, '—', '—'))
  }
  return rows
}

// ---------------------------------------------------------------------------------------------------------------
// The suite.

export async function runMesh (argv: string[], cleanup: Cleanup): Promise<void> {
  const opts = parseMeshArgs(argv)
  const say = progress('mesh')
  cleanup.keepDirs = opts.keep
  const root = cleanup.dir(await mkdtemp(join(tmpdir(), 'grove-bench-mesh-')))
  const ports = new Ports()
  const started = new Date()
  const results: Partial<Record<Profile, ProfileResult>> = {}
  const header = {
    suite: 'mesh',
    date: started.toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    platform: `${process.platform} ${process.arch}`,
    clockTicks: clockTicks(),
    options: opts,
    targets: TARGETS,
    reference: { source: '/work/shared/notes/anchors.md (not measured here)', ...REFERENCE }
  }
  say(`${opts.profiles.join(' + ')} cluster(s) of ${REGIONS.length * PER_REGION} daemons; runs ${opts.runs}, idle window ${opts.idleWindowS} s, soak ${opts.soakS} s; data in ${root}`)

  try {
    for (const profile of opts.profiles) {
      const result: ProfileResult = { profile, loadavg: { start: loadavg(), end: [] }, convergeMs: NaN, kill: [], failover: [], oddLogLines: [] }
      results[profile] = result
      await runProfile(result, opts, root, cleanup, ports, say)
    }
  } catch (err) {
    if (!cleanup.closed) {
      const paths = await writeResults('mesh', { ...header, error: (err as Error).stack ?? String(err), results }, { complete: false })
      say(`partial results in ${paths[0]}`)
    }
    throw err
  }

  const rows = buildRows(results, opts)
  const notes: string[] = []
  const lan = results.lan
  if (lan?.idle !== undefined) {
    notes.push(`lan idle window: other processes used ${lan.idle.othersPct.toFixed(1)} % of a core`)
    notes.push(...lan.idle.notes)
  }
  if (lan?.soak !== undefined) {
    notes.push(...lan.soak.notes)
    for (const d of lan.soak.deadLines) notes.push(`soak: ${d.log}: ${d.line}`)
    if (lan.soak.sampleErrors > 0) notes.push(`soak: ${lan.soak.sampleErrors} observer sample(s) failed (API slow or down)`)
  }
  for (const r of Object.values(results)) {
    if (r.aborted !== undefined) notes.push(`${r.profile}: ABORTED, the measures marked "not run" (and later runs of a measure) were skipped: ${r.aborted.replaceAll('\n', '\n  ')}`)
    const busy = [...r.loadavg.start, ...r.loadavg.end].some(l => l > BUSY_LOAD_PER_CPU * header.cpus)
    notes.push(`${busy ? 'WARNING: a busy host; ' : ''}${r.profile}: load average ${r.loadavg.start.map(l => l.toFixed(1)).join('/')} at the start, ${r.loadavg.end.map(l => l.toFixed(1)).join('/')} at the end (${header.cpus} CPUs)`)
    if (Number.isFinite(r.convergeMs)) notes.push(`${r.profile}: converged ${s2(r.convergeMs)} after the first spawn`)
    if (r.failover.length > 0) notes.push(`${r.profile}: failover terms ${r.failover.map(f => `${f.oldTerm}→${f.newTerm ?? '?'}`).join(', ')}; leader after the victim's restart: ${r.failover.map(f => f.leaderAfterRestart === null ? 'never reconverged' : f.leaderAfterRestart === f.newLeader ? 'kept' : `${f.leaderAfterRestart} (changed!)`).join(', ')}`)
    const timedOut = [...(r.join ?? []), ...r.kill, ...r.failover].filter(x => x.diagnosis !== undefined)
    for (const x of timedOut) notes.push(`${r.profile}: ${x.diagnosis!.replaceAll('\n', '\n  ')}`)
    if (r.oddLogLines.length > 0) {
      notes.push(`${r.profile}: ${r.oddLogLines.length} warning/error line(s) in the daemons' logs, e.g.:`)
      for (const l of r.oddLogLines.slice(0, 5)) notes.push(`  ${l.log}: ${l.line}`)
    }
  }

  const paths = await writeResults('mesh', { ...header, summary: rows.map(r => r.summary), notes, results }, { complete: true })
  process.stdout.write(`\nmesh: ${REGIONS.length * PER_REGION} daemons in 2 regions on ${header.cpus} CPU(s), node ${header.node}, ${header.date}\n\n`)
  process.stdout.write(formatTable(
    ['measure', 'median', 'max/p90', 'target', 'pass/fail', 'baseline/ratio', 'reference (not measured here)'],
    rows.map(r => r.cells)
  ) + '\n')
  process.stdout.write('\nreference: figures from anchors.md, measured elsewhere on the same machine kind; not part of pass/fail.\n')
  if (notes.length > 0) process.stdout.write(`\nnotes:\n${notes.map(n => `- ${n}`).join('\n')}\n`)
  process.stdout.write(`\nresults: ${paths.join(', ')}\n`)
}
