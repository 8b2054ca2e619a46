// The overlay suite: what the semantic overlay costs a TCP client, measured from the host the way a user of
// `grove connect` sees it, next to a direct TCP connection to the same instance in the same run.
//
//   up() 4 peers, 2 regions (local, process) + one relay-only daemon ("hidden", /p2p-circuit only, ticket of peer-0,
//   dialing nobody but peer-0: GROVE_DIAL_ONLY)
//   → deploy the bench server twice: pinned to peer-1 (the direct path) and to hidden (the relay path)
//   → through peer-0's unprivileged overlay endpoint for each instance IP, interleaved with direct TCP to the
//     instance's own host:port:  single-flow upload ×runs, 8 parallel uploads ×runs, relay upload ×runs,
//     1-byte echo on a kept-alive connection ×runs, connect + first response ×runs
//   → optional CPU profile of peer-0 and peer-1 during one more upload (the idle preload below, toggled by SIGUSR2)
//   → route convergence ×convergence-runs: a fresh 3-replica service, kill -9 of a peer hosting one instance, time
//     until 20 consecutive new connections through the rr IP succeed; restart the peer
//   → down()
//
// The bench server is one `node -e` program (SERVER below) speaking a one-line protocol per connection:
//   SINK n   → reads n bytes, answers "<count>\n"          (uploads)
//   ECHO     → echoes every byte it gets, for as long as the connection lasts
//   PING     → answers "PONG <svc>/<n> <pid>\n" and ends  (connect + first response, convergence)
// The client is this process, for the overlay and the baseline alike, so the client's own cost cancels out of the
// ratios. Pass/fail is judged on medians (latency: the pooled p50 of every round trip).
import { execFile } from 'node:child_process'
import { connect as netConnect, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs, promisify } from 'node:util'
import { ProcessRuntime } from '../../node/runtime/index.js'
import { apiGet, apiPost, eventually, freePort, groveBin, sleep, startDaemon, stopDaemon, type RunningDaemon } from '../daemons.js'
import { convergence, down, kill, ownsPid, readTestnet, requireTestnet, restart, up, type TestnetFile, type TestnetPeer } from '../index.js'
import type { Cleanup } from './cleanup.js'
import { oddLogLines } from './deploy.js'
import { clockTicks, cpuTicks } from './proc.js'
import { formatTable, median, percentile, progress, UsageError, writeResults, type Progress, type Summary } from './report.js'
import { cpuPressure, onCleanup, PortBlocks, type Row } from './testnet.js'

export const OVERLAY_DESCRIPTION = 'TCP through service IPs vs direct TCP: single/8-flow throughput, relay throughput, echo RTT, connect time, route convergence after kill -9'

export const OVERLAY_USAGE = `usage: npm run bench -- overlay [options]

  --runs N              repetitions of each throughput, echo and connect measure (default 5)
  --convergence-runs N  kill -9 of a peer hosting one of 3 replicas, timed until new connections succeed (default 3)
  --mib N               MiB per single-flow upload, and in total over the 8 parallel flows (default 256)
  --no-profile          skip the CPU profile of peer-0 and peer-1 during one extra upload
  --quick               a short run to try things out: --runs 2 --convergence-runs 1 --mib 64, fewer round trips,
                        no profile (unless --profile)
  --profile             profile even with --quick
  --keep                keep the testnet's data dirs, logs and profiles instead of removing them`

const PEERS = 4
const REGIONS = 2
const MiB = 1024 * 1024
const CONTAINER_PORT = 9100
const HIDDEN = 'hidden'
const PARALLEL = 8
/** Consecutive new connections through the rr IP that must succeed for the route to count as converged. */
const STREAK = 20
/** After a kill, probing goes on at least this long, so that failures after the first streak are seen too. */
const CONVERGENCE_WATCH_MS = 8_000
const CONVERGENCE_TIMEOUT_MS = 30_000
const PROBE_TIMEOUT_MS = 2_000
const UPLOAD_TIMEOUT_MS = 180_000
const CONVERGE_TIMEOUT_MS = 60_000
const BUSY_LOAD_PER_CPU = 1

/** Bounds from the issue: throughput is a floor, latency a ceiling. */
const TARGETS = {
  singleMiBps: 250,
  relayMiBps: 100,
  echoAddedMs: 0.5,
  connectMs: 2
}

/** From /work/shared/notes/anchors.md, measured elsewhere on the same machine kind; printed for comparison only. */
const REFERENCE = {
  throughput: 'raw TCP 2.8 GB/s; js-libp2p stream ≈ 350 MiB/s',
  relay: 'Node relay 1 hop ≈ 1 GB/s; 2 hops + TLS ≈ 475 MiB/s; nebula ≈ 90 MiB/s',
  rtt: 'raw TCP 79 µs; Node relay 107 µs; 2 hops + TLS 222 µs; nebula 213 µs',
  connect: 'js-libp2p stream open 0.8 ms'
}

/**
 * The bench server. Written for Node's defaults (no dependencies), on 127.0.0.1:$PORT as the process runtime asks.
 * `allowHalfOpen` stays off: a client that ends its side gets the server's end back.
 */
const SERVER = `
const net = require('net');
const id = process.env.GROVE_SERVICE + '/' + process.env.GROVE_INSTANCE + ' ' + process.pid;
net.createServer({ noDelay: true }, (s) => {
  s.on('error', () => {});
  let head = Buffer.alloc(0);
  const onHead = (d) => {
    head = Buffer.concat([head, d]);
    const i = head.indexOf(10);
    if (i < 0) { if (head.length > 64) s.destroy(); return; }
    s.off('data', onHead);
    const [cmd, arg] = head.subarray(0, i).toString().split(' ');
    const rest = head.subarray(i + 1);
    if (cmd === 'SINK') {
      const n = Number(arg);
      let got = 0;
      const take = (c) => { got += c.length; if (got >= n) { s.off('data', take); s.write(got + '\\n'); } };
      s.on('data', take);
      if (rest.length > 0 || n === 0) take(rest);
    } else if (cmd === 'ECHO') {
      s.on('data', (c) => { s.write(c); });
      if (rest.length > 0) s.write(rest);
    } else if (cmd === 'PING') {
      s.end('PONG ' + id + '\\n');
    } else {
      s.destroy();
    }
  };
  s.on('data', onHead);
}).listen(Number(process.env.PORT), '127.0.0.1');
`

/**
 * Loaded into every daemon through NODE_OPTIONS=--import (Node 20 refuses --cpu-prof there). It does nothing until
 * SIGUSR2, which starts the V8 sampling profiler; the next SIGUSR2 writes the profile. So the profile covers exactly
 * the run it is meant to, and the daemons are never restarted for it.
 */
function profilerPreload (dir: string): string {
  return `import { Session } from 'node:inspector'
import { writeFileSync } from 'node:fs'
const session = new Session()
let connected = false
let on = false
const stop = () => {
  session.post('Profiler.stop', (err, r) => {
    on = false
    if (err == null) writeFileSync(${JSON.stringify(dir)} + '/' + process.pid + '-' + Date.now() + '.cpuprofile', JSON.stringify(r.profile))
  })
}
process.on('SIGUSR2', () => {
  if (!on) {
    on = true
    if (!connected) { session.connect(); connected = true }
    session.post('Profiler.enable', () => { session.post('Profiler.start') })
    return
  }
  stop()
})
// A daemon that dies while profiled (an uncaught exception) still leaves its profile: the session answers synchronously.
process.on('exit', () => { if (on) stop() })
`
}

export interface OverlayOptions {
  runs: number
  convergenceRuns: number
  mib: number
  echoRoundTrips: number
  connects: number
  profile: boolean
  quick: boolean
  keep: boolean
}

export function parseOverlayArgs (argv: string[]): OverlayOptions {
  let values: Record<string, string | boolean | undefined>
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        runs: { type: 'string' },
        'convergence-runs': { type: 'string' },
        mib: { type: 'string' },
        profile: { type: 'boolean' },
        'no-profile': { type: 'boolean' },
        quick: { type: 'boolean' },
        keep: { type: 'boolean' }
      }
    }))
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0])
  }
  const quick = values.quick === true
  const count = (name: string, fallback: number, min: number): number => {
    const raw = values[name]
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name}: expected an integer ≥ ${min}, got "${String(raw)}"`)
    return n
  }
  if (values.profile === true && values['no-profile'] === true) throw new UsageError('--profile and --no-profile contradict each other')
  const mib = count('mib', quick ? 64 : 256, PARALLEL)
  return {
    runs: count('runs', quick ? 2 : 5, 1),
    convergenceRuns: count('convergence-runs', quick ? 1 : 3, 0),
    mib,
    echoRoundTrips: quick ? 1000 : 2000,
    connects: 100,
    profile: values.profile === true || (!quick && values['no-profile'] !== true),
    quick,
    keep: values.keep === true
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The client side: plain sockets to an endpoint, each operation with a deadline.

interface Endpoint { host: string, port: number }

const CHUNK = Buffer.alloc(MiB, 120)
const ONE = Buffer.from([42])

async function connectSocket (ep: Endpoint, timeoutMs: number): Promise<Socket> {
  return await new Promise((resolve, reject) => {
    const s = netConnect({ host: ep.host, port: ep.port, noDelay: true })
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no connection to ${ep.host}:${ep.port} within ${timeoutMs} ms`)) }, timeoutMs)
    s.once('connect', () => {
      clearTimeout(timer)
      s.removeAllListeners('error')
      // Errors reach whoever waits on the socket through their own listener; this one only keeps a late one harmless.
      s.on('error', () => {})
      resolve(s)
    })
    s.once('error', (err) => { clearTimeout(timer); s.destroy(); reject(err) })
  })
}

/** Reads one "\n"-terminated line from `s` (and ignores what follows), or fails on error, close or timeout. */
async function readLine (s: Socket, timeoutMs: number, what: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    let text = ''
    const done = (err?: Error): void => {
      clearTimeout(timer)
      s.off('data', onData)
      s.off('error', onError)
      s.off('close', onClose)
      if (err === undefined) resolve(text.slice(0, text.indexOf('\n')))
      else reject(err)
    }
    const onData = (d: Buffer): void => {
      text += d.toString('latin1')
      if (text.includes('\n')) done()
    }
    const onError = (err: Error): void => { done(err) }
    const onClose = (): void => { done(new Error(`the connection closed before ${what}`)) }
    const timer = setTimeout(() => { done(new Error(`no ${what} within ${timeoutMs} ms`)) }, timeoutMs)
    s.on('data', onData)
    s.once('error', onError)
    s.once('close', onClose)
  })
}

interface Upload {
  bytes: number
  /** Connected → the server's count arrived. */
  ms: number
  mibps: number
  connectMs: number
}

/** SINK: sends `bytes` with backpressure and waits for the server to confirm it read them all. */
async function upload (ep: Endpoint, bytes: number, timeoutMs = UPLOAD_TIMEOUT_MS): Promise<Upload> {
  const t0 = performance.now()
  const s = await connectSocket(ep, 10_000)
  const tc = performance.now()
  try {
    const reply = readLine(s, timeoutMs, 'the SINK count')
    s.write(`SINK ${bytes}\n`)
    let left = bytes
    const pump = (): void => {
      while (left > 0 && !s.destroyed) {
        const n = Math.min(left, CHUNK.length)
        left -= n
        if (!s.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          s.once('drain', pump)
          return
        }
      }
    }
    pump()
    const count = Number(await reply)
    const ms = performance.now() - tc
    if (count !== bytes) throw new Error(`the server counted ${count} bytes of ${bytes}`)
    return { bytes, ms, mibps: bytes / MiB / (ms / 1000), connectMs: tc - t0 }
  } finally {
    s.destroy()
  }
}

interface ParallelUpload { flows: number, bytes: number, ms: number, mibps: number, perFlowMs: number[] }

/** `flows` uploads at once; the aggregate rate is all bytes over the time from the first connect to the last reply. */
async function parallelUpload (ep: Endpoint, flows: number, bytesEach: number): Promise<ParallelUpload> {
  const t0 = performance.now()
  const each = await Promise.all(Array.from({ length: flows }, async () => (await upload(ep, bytesEach)).ms))
  const ms = performance.now() - t0
  const bytes = flows * bytesEach
  return { flows, bytes, ms, mibps: bytes / MiB / (ms / 1000), perFlowMs: each }
}

/** ECHO on one kept-alive connection: `warm` round trips thrown away, then `count` timed 1-byte round trips (ms). */
async function echoSeries (ep: Endpoint, count: number, warm: number): Promise<number[]> {
  const s = await connectSocket(ep, 10_000)
  try {
    s.write('ECHO\n')
    let received = 0
    let wanted = 0
    let wake: (() => void) | undefined
    let failure: Error | undefined
    const fail = (err: Error): void => { failure ??= err; wake?.() }
    s.on('data', (d: Buffer) => {
      received += d.length
      if (received >= wanted) wake?.()
    })
    s.on('error', fail)
    s.on('close', () => { fail(new Error('the echo connection closed')) })
    const rtts: number[] = []
    for (let i = 0; i < warm + count; i++) {
      const t = performance.now()
      wanted++
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`no echo within 5000 ms (round trip ${i})`)) }, 5000)
        wake = () => { clearTimeout(timer); wake = undefined; if (failure !== undefined) reject(failure); else resolve() }
        s.write(ONE)
        if (received >= wanted || failure !== undefined) wake()
      })
      if (i >= warm) rtts.push(performance.now() - t)
    }
    return rtts
  } finally {
    s.destroy()
  }
}

/** PING on a new connection: ms from connect() to the answer, and who answered. */
async function pingOnce (ep: Endpoint, timeoutMs = PROBE_TIMEOUT_MS): Promise<{ ms: number, who: string }> {
  const t0 = performance.now()
  const s = netConnect({ host: ep.host, port: ep.port, noDelay: true })
  s.on('error', () => {})
  try {
    const line = readLine(s, timeoutMs, 'the PONG')
    s.write('PING\n')
    const who = await line
    const ms = performance.now() - t0
    if (!who.startsWith('PONG ')) throw new Error(`unexpected answer "${who.slice(0, 80)}"`)
    return { ms, who: who.slice(5) }
  } finally {
    s.destroy()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The API as this suite reads it.

interface InstanceView { n: number, status: string, peerId: string | null, peerName: string | null, instanceIp: string | null, endpoints: Array<{ containerPort: number, protocol: string, host: string, port: number }> }
interface ServiceView { id: string, serviceIps: { rr: string | null, closest: string | null }, instances: InstanceView[] }
interface EndpointView { ip: string, port: number, protocol: string, local: Endpoint, listening: boolean }
interface PathCounts { local: number, direct: number, relay: number }
interface Flows { flows: Array<{ ip: string, peerId: string, path: string, direction: string }>, paths: Record<string, PathCounts> }
interface Posted { apps: Array<{ id: string }> }
type Api = { api: string, token: string }

async function apiDelete (p: Api, path: string): Promise<void> {
  const res = await fetch(`${p.api}${path}`, { method: 'DELETE', headers: { authorization: `Bearer ${p.token}` }, signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  if (!res.ok) throw new Error(`DELETE ${path}: HTTP ${res.status} ${text}`)
}

function service (name: string, replicas: number, nodes: string): Record<string, unknown> {
  return {
    microserviceID: '',
    microservice_name: name,
    microservice_namespace: 'bench',
    virtualization: 'process',
    cmd: ['node', '-e', SERVER],
    port: `0:${CONTAINER_PORT}`,
    memory: 32,
    vcpus: 0,
    replicas,
    constraints: [{ type: 'direct', node: nodes }]
  }
}

function sla (app: string, services: Array<Record<string, unknown>>): unknown {
  return {
    sla_version: 'v2.0',
    customerID: 'Admin',
    applications: [{ applicationID: '', application_name: app, application_namespace: 'bench', application_desc: 'grove bench overlay: the bench server', microservices: services }]
  }
}

/** Every instance of `ref` RUNNING with an endpoint and an instance IP, as `via` sees it. */
async function waitRunning (via: Api, ref: string, replicas: number, timeoutMs = 60_000): Promise<ServiceView> {
  return await eventually(async () => {
    const s = await apiGet<ServiceView>(via, `/api/v1/services/${ref}`)
    const ok = s.instances.length === replicas && s.instances.every(i => i.status === 'RUNNING' && i.endpoints.length > 0 && i.instanceIp !== null)
    return ok ? s : undefined
  }, timeoutMs, `${replicas} instance(s) of ${ref} RUNNING`, 100)
}

/** Where `via`'s proxy listens for `ip` (its 127.N mapping), once it does. */
async function overlayEndpoint (via: Api, ip: string, timeoutMs = 30_000): Promise<Endpoint> {
  return await eventually(async () => {
    const { endpoints } = await apiGet<{ endpoints: EndpointView[] }>(via, '/api/v1/overlay/endpoints')
    const e = endpoints.find(x => x.ip === ip && x.port === CONTAINER_PORT && x.protocol === 'tcp' && x.listening)
    return e?.local
  }, timeoutMs, `a listener for ${ip}:${CONTAINER_PORT} on ${via.api}`, 100)
}

function ownEndpoint (s: ServiceView, n = 0): Endpoint {
  const e = s.instances.find(i => i.n === n)?.endpoints.find(x => x.containerPort === CONTAINER_PORT)
  if (e === undefined) throw new Error(`${s.id}/${n} has no endpoint for container port ${CONTAINER_PORT}`)
  return { host: e.host, port: e.port }
}

async function pathCounts (via: Api, peerId: string): Promise<PathCounts> {
  const flows = await apiGet<Flows>(via, '/api/v1/overlay/flows')
  return flows.paths[peerId] ?? { local: 0, direct: 0, relay: 0 }
}

const delta = (a: PathCounts, b: PathCounts): PathCounts => ({ local: b.local - a.local, direct: b.direct - a.direct, relay: b.relay - a.relay })

/**
 * The testnet converged, the relay-only peer counted as a member of its region: convergence() wants every peer to see
 * exactly its region's peers alive, and the relay-only peer is one of them.
 */
async function waitConverged (dir: string, extra: TestnetPeer[]): Promise<TestnetFile> {
  const t = await requireTestnet(dir)
  const all = { ...t, peers: [...t.peers, ...extra] }
  await eventually(async () => (await convergence(all)).converged, CONVERGE_TIMEOUT_MS, 'the testnet to converge (every peer sees its region, the relay-only peer included; one leader per region)', 200)
  return t
}

/** The relay-only daemon as a testnet peer, for convergence(). */
async function asPeer (d: RunningDaemon): Promise<TestnetPeer> {
  const status = await apiGet<{ region: string }>(d, '/api/v1/status')
  return {
    name: d.spec.name, region: status.region, peerId: d.peerId, api: d.api, token: d.token, dataDir: d.spec.dataDir, pid: d.pid,
    multiaddrs: [], listen: '/p2p-circuit', apiListen: d.api.replace(/^http:\/\//, '')
  }
}

// ---------------------------------------------------------------------------------------------------------------
// CPU: where the cycles of a run went, per process, as % of one core over the run.

interface CpuWatch { names: string[], pids: number[], ticks: Array<number | null>, bench: NodeJS.CpuUsage, t0: number }

async function cpuStart (procs: Record<string, number | null | undefined>): Promise<CpuWatch> {
  const entries = Object.entries(procs).filter((e): e is [string, number] => typeof e[1] === 'number')
  const ticks = await Promise.all(entries.map(async ([, pid]) => await cpuTicks(pid).catch(() => null)))
  return { names: entries.map(e => e[0]), pids: entries.map(e => e[1]), ticks, bench: process.cpuUsage(), t0: performance.now() }
}

async function cpuEnd (w: CpuWatch): Promise<Record<string, number>> {
  const seconds = (performance.now() - w.t0) / 1000
  const hz = clockTicks()
  const out: Record<string, number> = {}
  const after = await Promise.all(w.pids.map(async pid => await cpuTicks(pid).catch(() => null)))
  for (const [i, name] of w.names.entries()) {
    const a = w.ticks[i]
    const b = after[i]
    if (a !== null && b !== null) out[name] = ((b - a) / hz) / seconds * 100
  }
  const bench = process.cpuUsage(w.bench)
  out.client = ((bench.user + bench.system) / 1e6) / seconds * 100
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// CPU profiles: self time grouped by package.

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, children?: number[] }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

export interface ProfileSummary {
  file: string
  peer: string
  /** Sampled time, the profiler's own work left out. */
  totalMs: number
  profilerMs: number
  /** Share of the profile the thread was idle: near 0 means the daemon's one thread was saturated. */
  idlePct: number
  /**
   * Self time by package (node_modules package, node: module, grove folder), as % of the busy time. Native and wasm
   * frames count to the package of the JS code that called them (node:crypto's cipher update to @libp2p/noise, the
   * xsalsa20 wasm to xsalsa20).
   */
  groups: Array<{ group: string, ms: number, pct: number }>
  functions: Array<{ fn: string, group: string, ms: number, pct: number }>
}

function groupOf (cf: ProfileNode['callFrame']): string {
  const { functionName, url } = cf
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)'
  const nm = url.lastIndexOf('/node_modules/')
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/')
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]
  }
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/').slice(0, 2).join('/')}`
  const dist = url.indexOf('/dist/')
  if (dist >= 0) return `grove/${url.slice(dist + 6).split('/')[0]}`
  return url
}

/** Native and WebAssembly frames have no JS source of their own: their time belongs to the JS code that called them. */
function nativeLike (cf: ProfileNode['callFrame']): boolean {
  return (cf.url === '' && !cf.functionName.startsWith('(')) || cf.url.startsWith('wasm://')
}

export function summariseProfile (profile: CpuProfile, file: string, peer: string): ProfileSummary {
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  /** The package of the nearest JS frame at or above a node. */
  const owner = (id: number): { group: string, caller?: string } => {
    let cur = byId.get(id)
    let caller: string | undefined
    while (cur !== undefined && nativeLike(cur.callFrame)) cur = byId.get(parent.get(cur.id) ?? -1)
    if (cur !== undefined && cur.id !== id) caller = cur.callFrame.functionName === '' ? '(anonymous)' : cur.callFrame.functionName
    return { group: cur === undefined ? '(native)' : groupOf(cur.callFrame), ...(caller === undefined ? {} : { caller }) }
  }
  const self = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time since the previous sample: it belongs to the sample it precedes, near enough.
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000)
  }
  let total = 0
  let idle = 0
  let profiler = 0
  const groups = new Map<string, number>()
  const fns = new Map<string, { group: string, ms: number }>()
  for (const [id, ms] of self) {
    const node = byId.get(id)
    if (node === undefined) continue
    total += ms
    const cf = node.callFrame
    if (cf.functionName === '(idle)') { idle += ms; continue }
    const { group, caller } = owner(id)
    // The profiler's own work (starting, and serialising the profile on stop) lands in inspector's post().
    if (group === 'node:inspector') { profiler += ms; continue }
    groups.set(group, (groups.get(group) ?? 0) + ms)
    const fn = cf.functionName === '' ? '(anonymous)' : cf.functionName
    const name = nativeLike(cf)
      ? `${cf.url.startsWith('wasm://') ? 'wasm ' : ''}${fn} (native, from ${caller ?? '?'})`
      : `${fn} ${cf.url.split('/').slice(-1)[0]}:${cf.lineNumber + 1}`
    const f = fns.get(name) ?? { group, ms: 0 }
    f.ms += ms
    fns.set(name, f)
  }
  total -= profiler
  const busy = total - idle
  return {
    file,
    peer,
    totalMs: total,
    profilerMs: profiler,
    idlePct: total === 0 ? NaN : idle / total * 100,
    groups: [...groups].map(([group, ms]) => ({ group, ms, pct: ms / busy * 100 })).sort((x, y) => y.ms - x.ms),
    functions: [...fns].map(([fn, f]) => ({ fn, group: f.group, ms: f.ms, pct: f.ms / busy * 100 })).sort((x, y) => y.ms - x.ms).slice(0, 15)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The measures.

/** One run: the overlay and the baseline, in alternating order across runs. */
interface Pair<T> {
  overlay: T | null
  direct: T | null
  overlayError?: string
  directError?: string
  /** CPU of the overlay run, % of one core per process. */
  cpu?: Record<string, number>
  /** The path counters of the client's peer for the hosting peer over the overlay run (when the peer lived through it). */
  path?: PathCounts
  /** Daemons that died during the run (restarted before the next one). */
  crashed?: string[]
}

interface ConvergenceSample {
  run: number
  victim: string
  /** Instances per hosting peer before the kill, by peer name. */
  placement: Record<string, number>
  /** kill -9 → the 20th of 20 consecutive successful new connections; null on a timeout. */
  ms: number | null
  /** kill -9 → the first connection of that streak. */
  streakStartMs: number | null
  probes: number
  failures: Array<{ atMs: number, error: string }>
  /** Failures after the first full streak (a route that flaps back). */
  lateFailures: number
  /** Who answered over the whole watch, by "svc/n pid": how often, first and last (ms after the kill). */
  answeredBy: Record<string, { count: number, firstMs: number, lastMs: number }>
  /** The instance on the killed peer, and its pid before the kill. */
  victimInstance: { n: number, pid: number | null }
  /** kill -9 → the first answer from the victim's instance number under a new pid (re-placed elsewhere); null if none. */
  replacementMs: number | null
  /** Answers after the kill from the killed peer's own instance process (which outlives its daemon). */
  oldProcessAnswers: number
  killMs: number
  reconvergeMs: number
  diagnosis?: string
}

interface Crash { phase: string, run: number, name: string, logTail: string[], restartMs: number | null, restartError?: string }

interface Results {
  upMs: number
  hiddenAddrs: string[]
  hiddenReadyMs: number
  /** The relay-path client and its path check before the runs. */
  relay: { via: string, probes: Array<{ via: string, path: PathCounts }>, note?: string }
  single: Array<Pair<Upload>>
  parallel: Array<Pair<ParallelUpload>>
  relayRuns: Array<Pair<Upload>>
  echo: Array<Pair<number[]>>
  relayEcho: Array<{ rtts: number[], path?: PathCounts }>
  connect: Array<Pair<number[]>>
  profiled?: { upload: Upload | null, error?: string, crashed: string[], profiles: ProfileSummary[] }
  profiledRelay?: { upload: Upload | null, error?: string, crashed: string[], profiles: ProfileSummary[] }
  convergence: ConvergenceSample[]
  /** Daemons that died under the benchmark, each restarted so that the next run could go on. */
  crashes: Crash[]
  loadavg: Record<string, number[]>
  cpuPressure: Record<string, number | null>
  oddLogLines: Array<{ log: string, line: string }>
  /**
   * Why the measures stopped early: more crashes than MAX_RESTARTS, or a daemon that would not come back. The samples
   * taken until then stay; the rows not reached say "not run".
   */
  aborted?: string
}

async function mark (r: Results, phase: string): Promise<void> {
  r.loadavg[phase] = loadavg()
  r.cpuPressure[phase] = await cpuPressure()
}

async function attempt<T> (fn: () => Promise<T>): Promise<{ value: T | null, error?: string }> {
  try {
    return { value: await fn() }
  } catch (err) {
    return { value: null, error: (err as Error).message }
  }
}

/** The daemons of the run and the two bench servers, as they are now (daemons come back after crashes). */
interface Setup {
  dir: string
  peer0: TestnetPeer
  hidden: { d: RunningDaemon, peer: TestnetPeer }
  /** (a) pinned to peer-1: instance IP through peer-0, and its own endpoint. */
  a: { ip: string, via: Endpoint, own: Endpoint, pid: number | null, hostId: string }
  /** (b) pinned to the relay-only peer, reached through `viaPeer` (peer-0 unless its path is not a relayed one). */
  b: { ip: string, via: Endpoint, own: Endpoint, viaPeer: TestnetPeer, pid: number | null }
  restarts: number
}

/** Who runs where, for the CPU figures: the client's peer, the hosting peer and the server. */
async function procsOf (s: Setup, which: 'a' | 'b'): Promise<Record<string, number | null>> {
  const pids = await peerPids(s.dir)
  return which === 'a'
    ? { 'peer-0': pids['peer-0'], 'peer-1': pids['peer-1'], server: s.a.pid }
    // The relay-only peer's relay is peer-0, its bootstrap peer: its CPU is part of the relayed path's cost.
    : { [s.b.viaPeer.name]: pids[s.b.viaPeer.name], ...(s.b.viaPeer.name === 'peer-0' ? {} : { 'relay peer-0': pids['peer-0'] }), [HIDDEN]: s.hidden.d.pid, server: s.b.pid }
}

/**
 * Runs the overlay and the baseline once each, the overlay first on even runs; records the CPU and the path counters
 * of the overlay run, then brings back any daemon that died meanwhile.
 */
async function pair<T> (s: Setup, r: Results, say: Progress, phase: string, run: number, which: 'a' | 'b', overlay: () => Promise<T>, direct: () => Promise<T>): Promise<Pair<T>> {
  const out: Pair<T> = { overlay: null, direct: null }
  const client = which === 'a' ? s.peer0 : s.b.viaPeer
  const host = which === 'a' ? s.a.hostId : s.hidden.d.peerId
  const doOverlay = async (): Promise<void> => {
    const before = await pathCounts(client, host).catch(() => undefined)
    const w = await cpuStart(await procsOf(s, which))
    const o = await attempt(overlay)
    out.cpu = await cpuEnd(w)
    out.overlay = o.value
    if (o.error !== undefined) out.overlayError = o.error
    const after = await pathCounts(client, host).catch(() => undefined)
    if (before !== undefined && after !== undefined) out.path = delta(before, after)
  }
  const doDirect = async (): Promise<void> => {
    const d = await attempt(direct)
    out.direct = d.value
    if (d.error !== undefined) out.directError = d.error
  }
  if (run % 2 === 0) { await doOverlay(); await doDirect() } else { await doDirect(); await doOverlay() }
  const crashed = await heal(s, r, say, phase, run)
  if (crashed.length > 0) out.crashed = crashed
  return out
}

/** At most this many daemon restarts after crashes; beyond it the run is aborted. */
const MAX_RESTARTS = 12

/**
 * Restarts every daemon that died (same data dir, so the same identity; it adopts its instances), waits for the mesh
 * to converge and the routes to answer again, and records the crash with the end of the daemon's log.
 */
async function heal (s: Setup, r: Results, say: Progress, phase: string, run: number): Promise<string[]> {
  const dead = await deadDaemons(s.dir, s.hidden.d)
  if (dead.length === 0) return []
  for (const d of dead) {
    s.restarts++
    const crash: Crash = { phase, run, name: d.name, logTail: d.logTail, restartMs: null }
    r.crashes.push(crash)
    const cause = d.logTail.find(l => /Error/.test(l)) ?? d.logTail[d.logTail.length - 1] ?? '?'
    say(`${phase} ${run + 1}: ${d.name} DIED (${cause.trim().slice(0, 200)}); restarting it (${s.restarts}/${MAX_RESTARTS})`)
    if (s.restarts > MAX_RESTARTS) throw new Error(`more than ${MAX_RESTARTS} daemon crashes; the last: ${d.name} in ${phase} run ${run + 1}: ${cause}`)
    const t0 = performance.now()
    try {
      if (d.name === HIDDEN) {
        s.hidden.d = await startDaemon(s.hidden.d.spec)
        s.hidden.peer = { ...s.hidden.peer, pid: s.hidden.d.pid }
      } else {
        await restart(s.dir, d.name)
      }
      crash.restartMs = performance.now() - t0
    } catch (err) {
      crash.restartError = (err as Error).message
      throw new Error(`${d.name} died in ${phase} run ${run + 1} and did not come back: ${crash.restartError}`, { cause: err })
    }
  }
  await waitConverged(s.dir, [s.hidden.peer])
  await refresh(s)
  return dead.map(d => d.name)
}

/**
 * Restarts daemons that carried bulk traffic, so that the next measures start from daemons in the state a fresh one is
 * in (see the notes on @libp2p/pnet's xsalsa20: after one large write its wasm memory grows on every update).
 */
async function freshen (s: Setup, names: string[], say: Progress): Promise<void> {
  const t0 = performance.now()
  for (const name of names) {
    if (name === HIDDEN) {
      await stopDaemon(s.hidden.d, 5000)
      s.hidden.d = await startDaemon(s.hidden.d.spec)
      s.hidden.peer = { ...s.hidden.peer, pid: s.hidden.d.pid }
    } else {
      await restart(s.dir, name)
    }
  }
  await waitConverged(s.dir, [s.hidden.peer])
  await refresh(s)
  say(`restarted ${names.join(', ')} for fresh daemons; converged and answering again after ${s2(performance.now() - t0)}`)
}

/** The daemons of the run that are no longer running, with the end of their logs. */
async function deadDaemons (dir: string, hidden: RunningDaemon | undefined): Promise<Array<{ name: string, logTail: string[] }>> {
  const t = await readTestnet(dir)
  const dead: Array<{ name: string, log: string }> = []
  for (const p of t?.peers ?? []) if (p.pid !== null && !ownsPid(p.pid, p.dataDir)) dead.push({ name: p.name, log: join(p.dataDir, 'daemon.log') })
  if (hidden !== undefined && (hidden.proc.exitCode !== null || hidden.proc.signalCode !== null)) dead.push({ name: HIDDEN, log: hidden.logFile })
  return await Promise.all(dead.map(async d => ({ name: d.name, logTail: (await readFile(d.log, 'utf8').catch(() => '')).split('\n').filter(l => l !== '').slice(-25) })))
}

async function pidOf (ep: Endpoint): Promise<number | null> {
  try {
    const { who } = await pingOnce(ep, 5000)
    const pid = Number(who.split(' ')[1])
    return Number.isInteger(pid) ? pid : null
  } catch {
    return null
  }
}

async function peerPids (dir: string): Promise<Record<string, number | null>> {
  const t = await requireTestnet(dir)
  return Object.fromEntries(t.peers.map(p => [p.name, p.pid]))
}

/**
 * Looks both bench servers up again (an instance may have been started anew, at a new port, after its peer came back)
 * and waits until each answers through its service IP and on its own port.
 */
async function refresh (s: Setup): Promise<void> {
  const [sa, sb] = await Promise.all([waitRunning(s.peer0, 'obench.direct', 1), waitRunning(s.peer0, 'obench.relayed', 1)])
  s.a = { ...s.a, ip: sa.instances[0].instanceIp!, own: ownEndpoint(sa), hostId: sa.instances[0].peerId! }
  s.a.via = await overlayEndpoint(s.peer0, s.a.ip)
  s.b = { ...s.b, ip: sb.instances[0].instanceIp!, own: ownEndpoint(sb) }
  s.b.via = await overlayEndpoint(s.b.viaPeer, s.b.ip)
  for (const ep of [s.a.via, s.a.own, s.b.via, s.b.own]) {
    await eventually(async () => await pingOnce(ep, 5000), 60_000, `a PING to ${ep.host}:${ep.port}`, 250)
  }
  s.a.pid = await pidOf(s.a.own)
  s.b.pid = await pidOf(s.b.own)
}

/**
 * Which peer's proxy reaches the relay-only peer through a relay. peer-0 first, as asked; but the relay-only peer dials
 * its bootstrap peer (peer-0) itself, and a stream then rides that direct connection. So each candidate is tried with
 * one PING and its path counters, and the first whose path is `relay` is used.
 */
async function relayClient (t: TestnetFile, ip: string, hiddenId: string, r: Results, say: Progress): Promise<{ peer: TestnetPeer, via: Endpoint } | undefined> {
  for (const p of t.peers) {
    const via = await overlayEndpoint(p, ip)
    const before = await pathCounts(p, hiddenId)
    await eventually(async () => await pingOnce(via, 5000), 20_000, `a PING through ${p.name} to the relay-only peer`, 250)
    const d = delta(before, await pathCounts(p, hiddenId))
    r.relay.probes.push({ via: p.name, path: d })
    say(`relay path check through ${p.name}: ${JSON.stringify(d)}`)
    if (d.relay > 0 && d.direct === 0) return { peer: p, via }
  }
  return undefined
}

async function setup (dir: string, root: string, r: Results, say: Progress, registerHidden: (d: () => RunningDaemon | undefined) => void): Promise<Setup> {
  const t = await requireTestnet(dir)
  const peer0 = t.peers[0]
  const { stdout: ticket } = await promisify(execFile)(process.execPath, [groveBin(), 'region', 'ticket', '--data-dir', peer0.dataDir], { timeout: 30_000 })
  const h0 = performance.now()
  const hidden = await startDaemon({
    name: HIDDEN,
    dataDir: join(root, HIDDEN),
    p2pPort: 0,
    listen: ['/p2p-circuit'],
    apiPort: await freePort(),
    profile: 'local',
    extraArgs: ['--ticket', ticket.trim(), '--runtimes', 'process', '--overlay-loopback', '127.90'],
    // It dials nobody but its relay (peer-0), so every other peer reaches it through the relay.
    env: { GROVE_DIAL_ONLY: peer0.peerId }
  })
  const holder = { d: hidden, peer: await asPeer(hidden) }
  registerHidden(() => holder.d)
  r.hiddenAddrs = await eventually(async () => {
    const a = (await apiGet<{ addrs: string[] }>(hidden, '/api/v1/status')).addrs
    return a.length > 0 ? a : undefined
  }, 30_000, 'a relay reservation of the relay-only peer')
  r.hiddenReadyMs = performance.now() - h0
  say(`relay-only peer ${hidden.peerId.slice(-8)} up after ${s2(r.hiddenReadyMs)}: ${r.hiddenAddrs.join(' ')}`)
  if (!r.hiddenAddrs.every(a => a.includes('/p2p-circuit'))) throw new Error(`the relay-only peer has a non-relay address: ${r.hiddenAddrs.join(' ')}`)

  // The relay-only peer must be a live member of region-0 before a direct constraint can name it.
  await eventually(async () => {
    const { nodes } = await apiGet<{ nodes: Array<{ name: string, state: string }> }>(peer0, '/api/v1/nodes')
    return nodes.some(n => n.name === HIDDEN && n.state === 'alive')
  }, 30_000, `${peer0.name} to see ${HIDDEN} alive`, 200)

  await apiPost<Posted>(peer0, '/api/v1/apps', sla('obench', [service('direct', 1, 'peer-1'), service('relayed', 1, HIDDEN)]))
  const [sa, sb] = await Promise.all([waitRunning(peer0, 'obench.direct', 1), waitRunning(peer0, 'obench.relayed', 1)])
  if (sa.instances[0].peerName !== 'peer-1') throw new Error(`obench.direct runs on ${sa.instances[0].peerName ?? '?'}, not peer-1`)
  if (sb.instances[0].peerId !== hidden.peerId) throw new Error(`obench.relayed runs on ${sb.instances[0].peerName ?? '?'}, not ${HIDDEN}`)
  const ipA = sa.instances[0].instanceIp!
  const a = { ip: ipA, via: await overlayEndpoint(peer0, ipA), own: ownEndpoint(sa), pid: null as number | null, hostId: sa.instances[0].peerId! }
  await eventually(async () => await pingOnce(a.via, 5000), 20_000, 'a PING through peer-0 to obench.direct', 250)
  say(`obench.direct/0 on peer-1: instance IP ${a.ip} → peer-0 listens at ${a.via.host}:${a.via.port}; own endpoint ${a.own.host}:${a.own.port}`)

  const ipB = sb.instances[0].instanceIp!
  const rc = await relayClient(t, ipB, hidden.peerId, r, say)
  let viaPeer = peer0
  if (rc === undefined) {
    r.relay.note = `no peer reached ${HIDDEN} through a relay (every path was direct: it dialled them itself); the relay rows measure peer-0's path, which is NOT a relayed one`
    say(`WARNING: ${r.relay.note}`)
  } else {
    viaPeer = rc.peer
    if (rc.peer !== peer0) {
      r.relay.note = `peer-0 reaches ${HIDDEN} over a direct connection (${HIDDEN} dialled its bootstrap peer itself), so the relay rows go through ${rc.peer.name}, the first peer whose path was relay`
      say(r.relay.note)
    }
  }
  r.relay.via = viaPeer.name
  const b = { ip: ipB, via: await overlayEndpoint(viaPeer, ipB), own: ownEndpoint(sb), viaPeer, pid: null as number | null }
  say(`obench.relayed/0 on ${HIDDEN}: instance IP ${ipB} → ${viaPeer.name} listens at ${b.via.host}:${b.via.port}; own endpoint ${b.own.host}:${b.own.port}`)
  const s: Setup = { dir, peer0, hidden: holder, a, b, restarts: 0 }
  await refresh(s)
  return s
}

async function measureDirectPath (s: Setup, opts: OverlayOptions, r: Results, say: Progress): Promise<void> {
  const bytes = opts.mib * MiB
  // Warm-up, not recorded: the first flow opens the libp2p connection and warms the JIT on both paths.
  await mark(r, 'single')
  await pair(s, r, say, 'warm-up', 0, 'a', async () => await upload(s.a.via, 16 * MiB), async () => await upload(s.a.own, 16 * MiB))
  for (let i = 0; i < opts.runs; i++) {
    const p = await pair(s, r, say, 'single flow', i, 'a', async () => await upload(s.a.via, bytes), async () => await upload(s.a.own, bytes))
    r.single.push(p)
    say(`single flow ${i + 1}/${opts.runs}, ${opts.mib} MiB: overlay ${rate(p.overlay, p.overlayError)}, direct TCP ${rate(p.direct, p.directError)}; CPU ${cpuText(p.cpu)}${crashText(p)}`)
  }

  await mark(r, 'parallel')
  const each = Math.floor(bytes / PARALLEL)
  for (let i = 0; i < opts.runs; i++) {
    const p = await pair(s, r, say, `${PARALLEL} flows`, i, 'a', async () => await parallelUpload(s.a.via, PARALLEL, each), async () => await parallelUpload(s.a.own, PARALLEL, each))
    r.parallel.push(p)
    say(`${PARALLEL} flows ${i + 1}/${opts.runs}, ${PARALLEL} × ${(each / MiB).toFixed(0)} MiB: overlay ${rate(p.overlay, p.overlayError)}, direct TCP ${rate(p.direct, p.directError)}; CPU ${cpuText(p.cpu)}${crashText(p)}`)
  }
}

/**
 * Uploads to the relay-only peer's server. Run first of all, while the path found at setup is still a relayed one: a
 * restart of the relay or of the relay-only peer (after a crash) lets the relay-only peer dial the client's peer
 * itself, and the path becomes direct.
 */
async function measureRelay (s: Setup, opts: OverlayOptions, r: Results, say: Progress): Promise<void> {
  const bytes = opts.mib * MiB
  await mark(r, 'relay')
  await pair(s, r, say, 'warm-up', 0, 'b', async () => await upload(s.b.via, 16 * MiB), async () => await upload(s.b.own, 16 * MiB))
  for (let i = 0; i < opts.runs; i++) {
    const p = await pair(s, r, say, 'relay flow', i, 'b', async () => await upload(s.b.via, bytes), async () => await upload(s.b.own, bytes))
    r.relayRuns.push(p)
    say(`relay flow ${i + 1}/${opts.runs} via ${s.b.viaPeer.name}, ${opts.mib} MiB: overlay ${rate(p.overlay, p.overlayError)} (path ${JSON.stringify(p.path ?? '?')}), direct TCP ${rate(p.direct, p.directError)}; CPU ${cpuText(p.cpu)}${crashText(p)}`)
  }
}

async function measureLatency (s: Setup, opts: OverlayOptions, r: Results, say: Progress): Promise<void> {
  await mark(r, 'echo')
  for (let i = 0; i < opts.runs; i++) {
    const p = await pair(s, r, say, 'echo', i, 'a', async () => await echoSeries(s.a.via, opts.echoRoundTrips, 200), async () => await echoSeries(s.a.own, opts.echoRoundTrips, 200))
    r.echo.push(p)
    say(`echo ${i + 1}/${opts.runs}, ${opts.echoRoundTrips} round trips: overlay p50 ${msText(p.overlay, 50)} p99 ${msText(p.overlay, 99)}, direct TCP p50 ${msText(p.direct, 50)} p99 ${msText(p.direct, 99)}${p.overlayError === undefined ? '' : `; overlay error: ${p.overlayError}`}${crashText(p)}`)
    const before = await pathCounts(s.b.viaPeer, s.hidden.d.peerId).catch(() => undefined)
    const relayed = await attempt(async () => await echoSeries(s.b.via, Math.round(opts.echoRoundTrips / 4), 50))
    const after = await pathCounts(s.b.viaPeer, s.hidden.d.peerId).catch(() => undefined)
    if (relayed.value !== null) r.relayEcho.push({ rtts: relayed.value, ...(before !== undefined && after !== undefined ? { path: delta(before, after) } : {}) })
    await heal(s, r, say, 'relay echo', i)
  }

  await mark(r, 'connect')
  for (let i = 0; i < opts.runs; i++) {
    const overlay: number[] = []
    const direct: number[] = []
    const errors: string[] = []
    // Interleaved one by one, so that a burst of load weighs on both alike.
    for (let j = 0; j < opts.connects; j++) {
      const order = (i + j) % 2 === 0 ? [true, false] : [false, true]
      for (const viaOverlay of order) {
        try {
          const { ms } = await pingOnce(viaOverlay ? s.a.via : s.a.own)
          ;(viaOverlay ? overlay : direct).push(ms)
        } catch (err) {
          errors.push(`${viaOverlay ? 'overlay' : 'direct'}: ${(err as Error).message}`)
        }
      }
    }
    const p: Pair<number[]> = { overlay, direct }
    if (errors.length > 0) p.overlayError = `${errors.length} failed: ${errors.slice(0, 3).join('; ')}`
    const crashed = await heal(s, r, say, 'connect', i)
    if (crashed.length > 0) p.crashed = crashed
    r.connect.push(p)
    say(`connect + first response ${i + 1}/${opts.runs}, ${opts.connects} each: overlay p50 ${msText(overlay, 50)} p99 ${msText(overlay, 99)}, direct TCP p50 ${msText(direct, 50)} p99 ${msText(direct, 99)}${errors.length > 0 ? `; ${errors.length} failed` : ''}${crashText(p)}`)
  }
}

/**
 * Two more overlay uploads under the V8 sampling profiler (SIGUSR2 to the preload): the direct path with peer-0 and
 * peer-1 freshly restarted, so that the profile shows a daemon's first bulk transfer, then the relayed path with the
 * client peer, the relay (peer-0) and the relay-only peer. A daemon that dies meanwhile writes its profile on exit.
 */
async function measureProfile (s: Setup, opts: OverlayOptions, profDir: string, r: Results, say: Progress): Promise<void> {
  await mark(r, 'profile')
  for (const name of ['peer-0', 'peer-1']) await restart(s.dir, name)
  await waitConverged(s.dir, [s.hidden.peer])
  await refresh(s)
  const pids = await peerPids(s.dir)
  const direct = await profiledUpload(['peer-0', 'peer-1'].map(name => ({ name, pid: pids[name] })), s.a.via, opts.mib * MiB, profDir)
  const crashed = await heal(s, r, say, 'profiled upload', 0)
  r.profiled = { ...direct, crashed }
  say(`profiled upload: ${rate(direct.upload, direct.error)}${crashed.length > 0 ? `; DIED: ${crashed.join(', ')}` : ''}`)
  for (const p of direct.profiles) say(`profile ${p.peer}: idle ${p.idlePct.toFixed(0)} %; ${p.groups.slice(0, 6).map(g => `${g.group} ${g.pct.toFixed(0)} %`).join(', ')}`)

  const now = await peerPids(s.dir)
  const relayTargets = [{ name: `${s.b.viaPeer.name} (client)`, pid: now[s.b.viaPeer.name] }, { name: 'peer-0 (relay)', pid: now['peer-0'] }, { name: HIDDEN, pid: s.hidden.d.pid }]
  const relayed = await profiledUpload(relayTargets, s.b.via, Math.min(opts.mib, 64) * MiB, profDir)
  const relayCrashed = await heal(s, r, say, 'profiled relay upload', 0)
  r.profiledRelay = { ...relayed, crashed: relayCrashed }
  say(`profiled relay upload: ${rate(relayed.upload, relayed.error)}${relayCrashed.length > 0 ? `; DIED: ${relayCrashed.join(', ')}` : ''}`)
  for (const p of relayed.profiles) say(`profile ${p.peer}: idle ${p.idlePct.toFixed(0)} %; ${p.groups.slice(0, 6).map(g => `${g.group} ${g.pct.toFixed(0)} %`).join(', ')}`)
}

/** One upload through `via` with `targets` under the sampling profiler; their profiles, summarised. */
async function profiledUpload (targets: Array<{ name: string, pid: number | null }>, via: Endpoint, bytes: number, profDir: string): Promise<{ upload: Upload | null, error?: string, profiles: ProfileSummary[] }> {
  const live = targets.filter((x): x is { name: string, pid: number } => x.pid !== null)
  const before = new Set(await readdir(profDir).catch(() => [] as string[]))
  for (const x of live) process.kill(x.pid, 'SIGUSR2')
  await sleep(200)
  const u = await attempt(async () => await upload(via, bytes))
  for (const x of live) {
    try { process.kill(x.pid, 'SIGUSR2') } catch {}
  }
  const files = await eventually(async () => {
    const now = (await readdir(profDir)).filter(f => f.endsWith('.cpuprofile') && !before.has(f))
    return now.length >= live.length ? now : undefined
  }, 20_000, `the CPU profiles of ${live.map(x => x.name).join(', ')}`, 200).catch(async () => (await readdir(profDir)).filter(f => f.endsWith('.cpuprofile') && !before.has(f)))
  const profiles: ProfileSummary[] = []
  for (const f of files) {
    const pid = Number(f.split('-')[0])
    const peer = live.find(x => x.pid === pid)?.name ?? `pid ${pid}`
    const text = await readFile(join(profDir, f), 'utf8')
    profiles.push(summariseProfile(JSON.parse(text) as CpuProfile, join(profDir, f), peer))
  }
  profiles.sort((x, y) => x.peer.localeCompare(y.peer))
  return { upload: u.value, ...(u.error === undefined ? {} : { error: u.error }), profiles }
}

async function convergenceRun (run: number, s: Setup, runId: string, r: Results, say: Progress): Promise<ConvergenceSample | undefined> {
  const dir = s.dir
  const t = await waitConverged(dir, [s.hidden.peer])
  const peer0 = t.peers[0]
  const app = `rr${runId}${run}`
  // peer-0, peer-2 and the relay-only peer make region-0: with spreading, one instance on each, so the victim (peer-2)
  // hosts exactly one. (Listing every peer puts the three in one region of two peers, two on one of them.)
  const regionZero = [...t.peers.filter(p => p.region === peer0.region).map(p => p.name), ...(s.hidden.peer.region === peer0.region ? [HIDDEN] : [])]
  const posted = await apiPost<Posted>(peer0, '/api/v1/apps', sla(app, [service('web', 3, regionZero.join(';'))]))
  const appId = posted.apps[0].id
  try {
    const svc = await waitRunning(peer0, `${app}.web`, 3)
    const rr = svc.serviceIps.rr
    if (rr === null) throw new Error(`${app}.web has no rr IP`)
    const via = await overlayEndpoint(peer0, rr)
    // Every backend answers through the rr IP before the kill: the routes are complete.
    const pidBefore = new Map<string, number>()
    await eventually(async () => {
      for (let i = 0; i < 9; i++) {
        const [name, pid] = (await pingOnce(via)).who.split(' ')
        pidBefore.set(name, Number(pid))
      }
      return pidBefore.size === 3 ? true : undefined
    }, 30_000, `all 3 instances of ${app}.web answering through ${rr} on peer-0`, 200)
    const placement: Record<string, number> = {}
    for (const i of svc.instances) placement[i.peerName ?? i.peerId ?? '?'] = (placement[i.peerName ?? i.peerId ?? '?'] ?? 0) + 1
    // A peer other than peer-0 (the client's proxy) that hosts an instance: one hosting exactly one preferred, and
    // peer-1 (the direct-path server's host) last.
    const hosts = t.peers.filter(p => p !== peer0 && placement[p.name] !== undefined)
      .sort((x, y) => (placement[x.name] === 1 ? 0 : 1) - (placement[y.name] === 1 ? 0 : 1) || y.name.localeCompare(x.name))
    const victim = hosts[0]
    if (victim === undefined) {
      say(`convergence ${run + 1}: every instance is on peer-0 (${JSON.stringify(placement)}); skipped`)
      return undefined
    }
    await mark(r, `convergence-${run + 1}`)
    const victimN = svc.instances.find(i => i.peerName === victim.name)?.n ?? -1
    const victimKey = `web/${victimN}`
    const sample: ConvergenceSample = {
      run, victim: victim.name, placement, ms: null, streakStartMs: null, probes: 0, failures: [], lateFailures: 0, answeredBy: {},
      victimInstance: { n: victimN, pid: pidBefore.get(victimKey) ?? null }, replacementMs: null, oldProcessAnswers: 0, killMs: NaN, reconvergeMs: NaN
    }
    const t0 = performance.now()
    await kill(dir, victim.name)
    sample.killMs = performance.now() - t0
    let streak = 0
    let streakStart = 0
    for (;;) {
      const now = performance.now() - t0
      if (sample.ms !== null && now >= CONVERGENCE_WATCH_MS) break
      if (sample.ms === null && now > CONVERGENCE_TIMEOUT_MS) {
        sample.diagnosis = `no ${STREAK} consecutive successes within ${CONVERGENCE_TIMEOUT_MS / 1000} s; last failures: ${sample.failures.slice(-3).map(f => `${s2(f.atMs)} ${f.error}`).join('; ')}`
        break
      }
      const started = performance.now() - t0
      sample.probes++
      try {
        const { who } = await pingOnce(via)
        const at = performance.now() - t0
        const [name, pid] = who.split(' ')
        const seen = sample.answeredBy[who] ?? { count: 0, firstMs: at, lastMs: at }
        seen.count++
        seen.lastMs = at
        sample.answeredBy[who] = seen
        if (name === victimKey) {
          if (Number(pid) === sample.victimInstance.pid) sample.oldProcessAnswers++
          else sample.replacementMs ??= at
        }
        if (streak === 0) streakStart = started
        streak++
        if (streak === STREAK && sample.ms === null) {
          sample.ms = performance.now() - t0
          sample.streakStartMs = streakStart
        }
      } catch (err) {
        streak = 0
        sample.failures.push({ atMs: performance.now() - t0, error: (err as Error).message })
        if (sample.ms !== null) sample.lateFailures++
        // A failure may come back at once (a reset): do not spin.
        await sleep(5)
      }
    }
    say(`convergence ${run + 1}: kill -9 ${victim.name} (placement ${JSON.stringify(placement)}): ${sample.ms === null ? 'TIMED OUT' : `${STREAK} consecutive successes after ${ms1(sample.ms)}`}; ${sample.failures.length} of ${sample.probes} connections failed${sample.failures.length > 0 ? ` (first at ${ms1(sample.failures[0].atMs)}, last at ${ms1(sample.failures[sample.failures.length - 1].atMs)})` : ''}${sample.lateFailures > 0 ? `, ${sample.lateFailures} after the streak` : ''}; ${answersText(sample)}`)
    const r0 = performance.now()
    await restart(dir, victim.name)
    await waitConverged(dir, [s.hidden.peer])
    sample.reconvergeMs = performance.now() - r0
    return sample
  } finally {
    await apiDelete(peer0, `/api/v1/apps/${appId}`).catch(() => {})
    await sleep(500)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The table.

const s2 = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
const ms1 = (ms: number): string => `${ms.toFixed(0)} ms`
const mibFmt = (v: number): string => Number.isFinite(v) ? `${v.toFixed(0)} MiB/s` : '—'
const msFmt = (v: number): string => Number.isFinite(v) ? `${v < 10 ? v.toFixed(3) : v.toFixed(1)} ms` : '—'
const rate = (u: { mibps: number } | null, error?: string): string => u === null ? `FAILED (${error ?? '?'})` : mibFmt(u.mibps)
const msText = (xs: number[] | null, p: number): string => xs === null || xs.length === 0 ? '—' : msFmt(percentile(xs, p))
const pathName = (c?: PathCounts): string => c === undefined ? '?' : Object.entries(c).filter(([, n]) => n > 0).map(([k]) => k).join('+') || 'none'
const cpuText = (cpu?: Record<string, number>): string => cpu === undefined ? '—' : Object.entries(cpu).map(([k, v]) => `${k} ${v.toFixed(0)} %`).join(', ')
const answersText = (c: ConvergenceSample): string => {
  const old = c.oldProcessAnswers > 0 ? `${c.oldProcessAnswers} answers from the killed peer's orphaned instance process` : 'none from the killed peer\'s instance'
  const repl = c.replacementMs === null ? `web/${c.victimInstance.n} was not re-placed within the watch` : `web/${c.victimInstance.n} re-placed and serving ${ms1(c.replacementMs)} after the kill`
  const who = Object.entries(c.answeredBy).map(([k, v]) => `${k}: ${v.count} (${ms1(v.firstMs)}–${ms1(v.lastMs)})`).join(', ')
  return `${old}; ${repl}; answers by instance and pid: ${who}`
}
const crashText = (p: { crashed?: string[] }): string => p.crashed === undefined ? '' : `; DIED: ${p.crashed.join(', ')} (restarted)`

/** The path counters of every overlay run that has them, added up. */
function pathTotal (ps: Array<Pair<unknown>>): PathCounts {
  const total = { local: 0, direct: 0, relay: 0 }
  for (const p of ps) {
    if (p.path === undefined) continue
    total.local += p.path.local
    total.direct += p.path.direct
    total.relay += p.path.relay
  }
  return total
}

export interface OverlaySummary extends Omit<Summary, 'judgedOn'> {
  judgedOn: 'median' | 'p50'
  /** A floor (throughput) or a ceiling (latency). */
  bound: 'min' | 'max' | null
  /** p10 for rates (the rate 90 % of runs beat), p99 for latencies. */
  spread: { label: 'p10' | 'p99' | 'p90', value: number }
  baseline?: { median: number, spread: number }
  ratio?: number
  failed?: number
  /** Runs during which a daemon died. */
  crashedRuns?: number
}

const HEADERS = ['measure', 'median', 'p90/p99', 'target', 'pass', 'baseline/ratio', 'reference (not measured here)'] as const

/** Failed runs and runs that killed a daemon are named in the measure and fail the target. */
function flagged (measure: string, failed: number, crashedRuns: number, runs: number): string {
  const tags = [
    ...(failed > 0 ? [`${failed}/${runs} runs failed`] : []),
    ...(crashedRuns > 0 ? [`a daemon DIED in ${crashedRuns}/${runs} runs`] : [])
  ]
  return tags.length === 0 ? measure : `${measure} [${tags.join('; ')}]`
}

function rateSummary (measure: string, ps: Array<Pair<{ mibps: number }>>, target: number | null): OverlaySummary {
  const samples = ps.map(p => p.overlay?.mibps).filter((x): x is number => x !== undefined)
  const base = ps.map(p => p.direct?.mibps).filter((x): x is number => x !== undefined)
  const failed = ps.filter(p => p.overlay === null).length
  const crashedRuns = ps.filter(p => p.crashed !== undefined).length
  const m = median(samples)
  const b = median(base)
  return {
    measure: flagged(measure, failed, crashedRuns, ps.length),
    unit: 'MiB/s',
    n: samples.length,
    median: m,
    p90: percentile(samples, 10),
    max: samples.length === 0 ? NaN : Math.max(...samples),
    target,
    judgedOn: 'median',
    bound: target === null ? null : 'min',
    pass: target === null ? (failed + crashedRuns > 0 ? false : null) : failed === 0 && crashedRuns === 0 && Number.isFinite(m) && m >= target,
    spread: { label: 'p10', value: percentile(samples, 10) },
    baseline: { median: b, spread: percentile(base, 10) },
    ratio: m / b,
    ...(failed > 0 ? { failed } : {}),
    ...(crashedRuns > 0 ? { crashedRuns } : {})
  }
}

function baselineRate (measure: string, ps: Array<Pair<{ mibps: number }>>): OverlaySummary {
  const base = ps.map(p => p.direct?.mibps).filter((x): x is number => x !== undefined)
  const failed = ps.filter(p => p.direct === null).length
  return {
    measure: flagged(measure, failed, 0, ps.length),
    unit: 'MiB/s',
    n: base.length,
    median: median(base),
    p90: percentile(base, 10),
    max: base.length === 0 ? NaN : Math.max(...base),
    target: null,
    judgedOn: 'median',
    bound: null,
    pass: null,
    spread: { label: 'p10', value: percentile(base, 10) }
  }
}

function latencySummary (measure: string, samples: number[], target: number | null, failed: number, crashedRuns: number, runs: number, base: number[]): OverlaySummary {
  const m = median(samples)
  const b = median(base)
  return {
    measure: flagged(measure, failed, crashedRuns, runs),
    unit: 'ms',
    n: samples.length,
    median: m,
    p90: percentile(samples, 90),
    max: samples.length === 0 ? NaN : Math.max(...samples),
    target,
    judgedOn: 'p50',
    bound: target === null ? null : 'max',
    pass: target === null ? null : failed === 0 && crashedRuns === 0 && Number.isFinite(m) && m <= target,
    spread: { label: 'p99', value: percentile(samples, 99) },
    baseline: { median: b, spread: percentile(base, 99) },
    ratio: m / b,
    ...(failed > 0 ? { failed } : {}),
    ...(crashedRuns > 0 ? { crashedRuns } : {})
  }
}

function cells (s: OverlaySummary, fmt: (v: number) => string, target: string, baseline: string, reference: string): Row {
  const pass = s.pass === null ? '—' : s.pass ? 'pass' : 'FAIL'
  if (s.n === 0) return { cells: [s.measure, 'not run', '—', target, s.target === null ? '—' : 'FAIL', '—', reference], summary: s }
  const spread = s.n <= 1 ? '—' : `${s.spread.label} ${fmt(s.spread.value)}`
  return { cells: [s.measure, fmt(s.median), spread, target, pass, baseline, reference], summary: s }
}

const vsDirect = (s: OverlaySummary): string => Number.isFinite(s.baseline?.median ?? NaN) ? `direct TCP ${mibFmt(s.baseline!.median)}; ×${s.ratio!.toFixed(2)}` : '—'
const addedOver = (s: OverlaySummary): string => Number.isFinite(s.baseline?.median ?? NaN) ? `direct TCP p50 ${msFmt(s.baseline!.median)}; +${msFmt(s.median - s.baseline!.median)} (×${s.ratio!.toFixed(1)})` : '—'

function buildRows (r: Results, opts: OverlayOptions): Row[] {
  const rows: Row[] = []

  const single = rateSummary(`single flow, ${opts.mib} MiB upload via service IP, direct path (peer-0 → peer-1)`, r.single, TARGETS.singleMiBps)
  rows.push(cells(single, mibFmt, `≥ ${TARGETS.singleMiBps} MiB/s (median)`, vsDirect(single), REFERENCE.throughput))
  rows.push(cells(baselineRate('baseline: single flow, direct TCP to the instance\'s own port', r.single), mibFmt, '—', '(the baseline)', REFERENCE.throughput))

  const par = rateSummary(`${PARALLEL} parallel flows, aggregate, ${opts.mib} MiB in all, direct path`, r.parallel, null)
  rows.push(cells(par, mibFmt, '— (report)', vsDirect(par), '—'))

  const relayPath = pathTotal(r.relayRuns)
  const pathOk = relayPath.relay > 0 && relayPath.direct === 0 && relayPath.local === 0
  const pathText = `${r.relay.via} → ${HIDDEN}, path ${pathOk ? 'relay ✓' : `${pathName(relayPath)}, NOT relay`}`
  const relay = rateSummary(`single flow, ${opts.mib} MiB via service IP to the relay-only peer (${pathText})`, r.relayRuns, TARGETS.relayMiBps)
  // A flow that did not go through a relay says nothing about the relay target: not judged, and the row says why.
  if (!pathOk && relay.n > 0) relay.pass = null
  const relayRow = cells(relay, mibFmt, `≥ ${TARGETS.relayMiBps} MiB/s (median)`, vsDirect(relay), REFERENCE.relay)
  if (!pathOk && relay.n > 0) relayRow.cells[4] = 'n/a: not relayed'
  rows.push(relayRow)

  const ok = (ps: Array<Pair<number[]>>, side: 'overlay' | 'direct'): number[] => ps.flatMap(p => p[side] ?? [])
  const echoD = ok(r.echo, 'direct')
  const echoO = ok(r.echo, 'overlay')
  const echo = latencySummary(`1-byte echo RTT, kept-alive connection, via service IP (${echoO.length} round trips)`, echoO, null,
    r.echo.filter(p => p.overlay === null).length, r.echo.filter(p => p.crashed !== undefined).length, r.echo.length, echoD)
  const added = echo.median - (echo.baseline?.median ?? NaN)
  echo.target = (echo.baseline?.median ?? NaN) + TARGETS.echoAddedMs
  echo.bound = 'max'
  echo.pass = echo.failed === undefined && echo.crashedRuns === undefined && Number.isFinite(added) && added <= TARGETS.echoAddedMs
  rows.push(cells(echo, msFmt, `p50 ≤ direct + ${TARGETS.echoAddedMs} ms = ${msFmt(echo.target)}`, addedOver(echo), REFERENCE.rtt))
  rows.push(cells(latencySummary(`baseline: 1-byte echo RTT, direct TCP (${echoD.length} round trips)`, echoD, null, r.echo.filter(p => p.direct === null).length, 0, r.echo.length, echoD), msFmt, '—', '(the baseline)', REFERENCE.rtt))
  const relayEcho = r.relayEcho.flatMap(x => x.rtts)
  if (relayEcho.length > 0) {
    const echoPath = pathTotal(r.relayEcho.map(x => ({ overlay: null, direct: null, ...(x.path === undefined ? {} : { path: x.path }) })))
    const re = latencySummary(`1-byte echo RTT via service IP to the relay-only peer (${r.relay.via} → ${HIDDEN}, path ${pathName(echoPath)}; ${relayEcho.length} round trips)`, relayEcho, null, 0, 0, r.relayEcho.length, echoD)
    rows.push(cells(re, msFmt, '— (report)', addedOver(re), REFERENCE.rtt))
  }

  const conO = ok(r.connect, 'overlay')
  const conD = ok(r.connect, 'direct')
  const conFailed = r.connect.reduce((n, p) => n + (p.overlayError === undefined ? 0 : Number(/^(\d+)/.exec(p.overlayError)?.[1] ?? 1)), 0)
  const con = latencySummary(`connect + first response, new connection via service IP (${conO.length} connections)`, conO, TARGETS.connectMs, 0, r.connect.filter(p => p.crashed !== undefined).length, r.connect.length, conD)
  if (conFailed > 0) {
    con.measure += ` [${conFailed} connections failed]`
    con.pass = false
  }
  rows.push(cells(con, msFmt, `p50 ≤ ${msFmt(TARGETS.connectMs)}`, addedOver(con), REFERENCE.connect))
  rows.push(cells(latencySummary(`baseline: connect + first response, direct TCP (${conD.length} connections)`, conD, null, 0, 0, r.connect.length, conD), msFmt, '—', '(the baseline)', '—'))

  if (opts.convergenceRuns > 0) {
    const cs = r.convergence
    const timedOut = cs.filter(c => c.ms === null).length
    const secs = cs.map(c => (c.ms ?? CONVERGENCE_TIMEOUT_MS) / 1000)
    const conv: OverlaySummary = {
      measure: `rr IP: kill -9 of a peer hosting 1 of 3 instances → ${STREAK} consecutive new connections succeed${timedOut > 0 ? ` [${timedOut}/${cs.length} timed out]` : ''}`,
      unit: 's',
      n: secs.length,
      median: median(secs),
      p90: percentile(secs, 90),
      max: secs.length === 0 ? NaN : Math.max(...secs),
      target: null,
      judgedOn: 'median',
      bound: null,
      pass: timedOut > 0 ? false : null,
      spread: { label: 'p90', value: percentile(secs, 90) }
    }
    const fails = median(cs.map(c => c.failures.length))
    const repl = median(cs.map(c => c.replacementMs).filter((x): x is number => x !== null))
    rows.push(cells(conv, v => `${v.toFixed(2)} s`, '— (report)', cs.length === 0 ? '—' : `${Number.isFinite(fails) ? fails.toFixed(0) : '?'} failed connections (median); replacement instance serving after ${Number.isFinite(repl) ? s2(repl) : '—'} (median)`, 'etcd failover 1.54 s; serf kill detection 5.6 s'))
  }
  return rows
}

// ---------------------------------------------------------------------------------------------------------------
// The suite.

export async function runOverlay (argv: string[], cleanup: Cleanup): Promise<void> {
  const opts = parseOverlayArgs(argv)
  const say = progress('overlay')
  cleanup.keepDirs = opts.keep
  const root = cleanup.dir(await mkdtemp(join(tmpdir(), 'grove-bench-overlay-')))
  const dir = join(root, 'testnet')
  const profDir = join(root, 'profiles')
  const runId = randomBytes(4).toString('hex')
  const started = new Date()
  const header = {
    suite: 'overlay',
    date: started.toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    platform: `${process.platform} ${process.arch}`,
    options: opts,
    layout: {
      peers: PEERS, regions: REGIONS, profile: 'local', runtime: 'process', isolation: 'none', overlay: 'unprivileged',
      client: 'this process, on the host', proxy: 'peer-0 (127.40/16)', directPath: 'instance pinned to peer-1', relayPath: `instance pinned to ${HIDDEN} (listens on /p2p-circuit only, --overlay-loopback 127.90)`,
      order: 'relay-path uploads (while the path is relayed); restart of peer-0, the relay client peer and the relay-only peer; echo, connect, convergence (daemons that have not carried bulk traffic); direct-path single and 8-flow uploads; the profiled upload on restarted peer-0 and peer-1'
    },
    protocol: 'SINK n (upload, server answers the count) | ECHO (1-byte round trips) | PING (connect + first response)',
    server: SERVER.trim(),
    targets: TARGETS,
    reference: { source: '/work/shared/notes/anchors.md (not measured here)', ...REFERENCE }
  }
  const r: Results = {
    upMs: NaN,
    hiddenAddrs: [],
    hiddenReadyMs: NaN,
    relay: { via: 'peer-0', probes: [] },
    single: [],
    parallel: [],
    relayRuns: [],
    echo: [],
    relayEcho: [],
    connect: [],
    convergence: [],
    crashes: [],
    loadavg: {},
    cpuPressure: {},
    oddLogLines: []
  }
  await mark(r, 'start')

  let hidden: () => RunningDaemon | undefined = () => undefined
  const teardown = onCleanup(cleanup, 'the overlay testnet', async () => {
    // A stopped daemon leaves its instances running (its next life adopts them): the relay-only peer's are ours to stop.
    const h = hidden()
    if (h !== undefined) {
      await stopDaemon(h, 5000).catch(() => null)
      const runtime = new ProcessRuntime({ dataDir: h.spec.dataDir })
      for (const inst of await runtime.list(h.peerId).catch(() => [])) await runtime.stop(inst.id, { timeoutMs: 2000 }).catch(() => {})
      await runtime.close()
    }
    await down({ dir, progress: line => { say(line.replace(/^\[testnet\] /, 'testnet: ')) } })
  })

  // The daemons inherit NODE_OPTIONS from up(), restart() and startDaemon(): the idle profiler preload rides along.
  const savedNodeOptions = process.env.NODE_OPTIONS
  if (opts.profile) {
    await mkdir(profDir, { recursive: true })
    const preload = join(root, 'profiler-preload.mjs')
    await writeFile(preload, profilerPreload(profDir))
    process.env.NODE_OPTIONS = `${savedNodeOptions ?? ''} --import ${preload}`.trim()
  }
  say(`${PEERS} peers in ${REGIONS} regions + 1 relay-only peer (local, process, unprivileged overlay); runs ${opts.runs}, ${opts.mib} MiB per upload, ${opts.echoRoundTrips} echo round trips and ${opts.connects} connects per run, ${opts.convergenceRuns} convergence run(s)${opts.profile ? ', profile' : ''}; data in ${root}`)
  say(`load average ${loadavg().map(l => l.toFixed(1)).join('/')} on ${header.cpus} CPUs`)

  try {
    try {
      const basePort = await new PortBlocks().next(PEERS)
      const u0 = performance.now()
      await up({
        peers: PEERS, regions: REGIONS, dir, runtime: 'process', profile: 'local', basePort, isolation: 'none',
        progress: line => {
          const text = line.replace(/^\[testnet\] /, 'testnet: ')
          if (line.includes('converging:')) say.live(text, false)
          else say(text)
        }
      })
      r.upMs = performance.now() - u0
      const s = await setup(dir, root, r, say, h => { hidden = h })
      try {
        // The relay path first, while it is one; then fresh daemons for the small-traffic measures, since a daemon
        // that has carried a bulk flow is left in a bad state (see the notes); the direct-path bulk flows last.
        await measureRelay(s, opts, r, say)
        await freshen(s, [...new Set(['peer-0', s.b.viaPeer.name, HIDDEN])], say)
        await measureLatency(s, opts, r, say)
        await mark(r, 'convergence')
        for (let i = 0; i < opts.convergenceRuns; i++) {
          const c = await convergenceRun(i, s, runId, r, say)
          if (c !== undefined) r.convergence.push(c)
        }
        await refresh(s)
        await measureDirectPath(s, opts, r, say)
        if (opts.profile) await measureProfile(s, opts, profDir, r, say)
      } catch (err) {
        // Daemons that keep dying are a finding, not a crash of the benchmark; anything else is a crash.
        if (cleanup.closed || (r.crashes.length === 0 && (await deadDaemons(dir, hidden())).length === 0)) throw err
        r.aborted = (err as Error).message
        say(`ABORTED, skipping the remaining measures: ${r.aborted}`)
      }
    } finally {
      if (savedNodeOptions === undefined) delete process.env.NODE_OPTIONS
      else process.env.NODE_OPTIONS = savedNodeOptions
      await mark(r, 'end')
      await teardown()
      r.oddLogLines = await oddLogLines(dir)
    }
  } catch (err) {
    if (!cleanup.closed) {
      const paths = await writeResults('overlay', { ...header, error: (err as Error).stack ?? String(err), results: r }, { complete: false })
      say(`partial results in ${paths[0]}`)
    }
    throw err
  }

  const rows = buildRows(r, opts)
  const notes = buildNotes(r, header.cpus)
  const paths = await writeResults('overlay', { ...header, summary: rows.map(x => x.summary), notes, results: r }, { complete: r.aborted === undefined })
  process.stdout.write(`\noverlay: ${PEERS} peers in ${REGIONS} regions + 1 relay-only peer (local, process, unprivileged), client on the host via peer-0's proxy; ${opts.runs} run(s) of each, on ${header.cpus} CPU(s), node ${header.node}, ${header.date}\n\n`)
  process.stdout.write(formatTable(HEADERS, rows.map(x => x.cells)) + '\n')
  process.stdout.write('\nmedians over runs (latency: over every round trip of every run); p10 of a rate is the rate 90 % of runs beat. Each overlay run is paired with a direct TCP run to the same instance, alternating which goes first.\n')
  process.stdout.write('reference: figures from anchors.md, measured elsewhere on the same machine kind; not part of pass/fail.\n')
  process.stdout.write(`\nnotes:\n${notes.map(n => `- ${n}`).join('\n')}\n`)
  process.stdout.write(`\nresults: ${paths.join(', ')}\n`)
}

function buildNotes (r: Results, ncpu: number): string[] {
  const notes: string[] = []
  const busy = Object.values(r.loadavg).some(l => l[0] > BUSY_LOAD_PER_CPU * ncpu)
  notes.push(`${busy ? 'WARNING: a busy host; ' : ''}1-minute load average ${Object.entries(r.loadavg).map(([k, l]) => `${k} ${l[0].toFixed(1)}`).join(', ')} (${ncpu} CPUs)`)
  const psi = Object.entries(r.cpuPressure).filter((e): e is [string, number] => e[1] !== null)
  if (psi.length > 0) notes.push(`CPU pressure (some task waiting for a CPU, 60 s average): ${psi.map(([k, v]) => `${k} ${v.toFixed(0)} %`).join(', ')}`)
  notes.push(`testnet up in ${s2(r.upMs)}; relay-only peer reserved a relay slot ${s2(r.hiddenReadyMs)} after its start`)
  if (r.aborted !== undefined) notes.push(`ABORTED: the rows marked "not run" (and later runs of a measure) were skipped: ${r.aborted}`)
  if (r.crashes.length > 0) {
    const byCause = new Map<string, number>()
    for (const c of r.crashes) {
      const cause = (c.logTail.find(l => /Error/.test(l)) ?? c.logTail[c.logTail.length - 1] ?? '?').trim().slice(0, 160)
      byCause.set(cause, (byCause.get(cause) ?? 0) + 1)
    }
    notes.push(`DAEMON CRASHES: ${r.crashes.length} (${r.crashes.map(c => `${c.name} in ${c.phase} ${c.run + 1}`).join(', ')}); causes: ${[...byCause].map(([k, n]) => `${n} × ${k}`).join('; ')}`)
    const first = r.crashes[0]
    notes.push(`first crash, ${first.name}'s log ends:\n    ${first.logTail.slice(-12).map(l => l.slice(0, 300)).join('\n    ')}`)
  }
  if (r.relay.note !== undefined) notes.push(r.relay.note)
  notes.push(`relay path checks before the runs (one PING each; the client peer's flow counters for ${HIDDEN}): ${r.relay.probes.map(p => `${p.via} ${JSON.stringify(p.path)}`).join('; ')}`)
  notes.push(`flow paths over the overlay runs: single flow ${JSON.stringify(pathTotal(r.single))}, ${PARALLEL} flows ${JSON.stringify(pathTotal(r.parallel))}, relay-only peer via ${r.relay.via} ${JSON.stringify(pathTotal(r.relayRuns))}`)
  const cpuMedian = (ps: Array<Pair<unknown>>): string => {
    const keys = [...new Set(ps.flatMap(p => Object.keys(p.cpu ?? {})))]
    return keys.map(k => `${k} ${median(ps.map(p => p.cpu?.[k]).filter((x): x is number => x !== undefined)).toFixed(0)} %`).join(', ')
  }
  notes.push(`CPU during the overlay runs (median, % of one core): single flow: ${cpuMedian(r.single)}; ${PARALLEL} flows: ${cpuMedian(r.parallel)}; relay-only peer: ${cpuMedian(r.relayRuns)}; echo: ${cpuMedian(r.echo)}`)
  // CPU time per MiB carried: independent of how much CPU a busy host left the daemons, and 1000 / it is the MiB/s one
  // core could carry.
  const perMiB = (ps: Array<Pair<Upload | ParallelUpload>>): string => {
    const keys = [...new Set(ps.flatMap(p => Object.keys(p.cpu ?? {})))]
    return keys.map(k => {
      const ms = median(ps.filter(p => p.overlay !== null && p.cpu?.[k] !== undefined).map(p => p.cpu![k] / 100 * 1000 / p.overlay!.mibps))
      return `${k} ${ms.toFixed(1)} ms${ms > 0 ? ` (≤ ${(1000 / ms).toFixed(0)} MiB/s per core)` : ''}`
    }).join(', ')
  }
  notes.push(`CPU time per MiB through the overlay (median of the runs): single flow: ${perMiB(r.single)}; ${PARALLEL} flows: ${perMiB(r.parallel)}; relay-only peer: ${perMiB(r.relayRuns)}`)
  const perRun = (ps: Array<Pair<Upload | ParallelUpload>>): string => ps.map(p => `${p.overlay === null ? 'x' : p.overlay.mibps.toFixed(0)}/${p.direct === null ? 'x' : p.direct.mibps.toFixed(0)}${p.crashed === undefined ? '' : '†'}`).join(' ')
  notes.push(`per run, overlay/direct MiB/s (x: failed, †: a daemon died): single ${perRun(r.single)}; ${PARALLEL} flows ${perRun(r.parallel)}; relay-only peer ${perRun(r.relayRuns)}`)
  notes.push(`per run, echo p50 overlay/direct: ${r.echo.map(p => `${msText(p.overlay, 50)}/${msText(p.direct, 50)}`).join(' ')}`)
  for (const p of [...r.single, ...r.parallel, ...r.relayRuns, ...r.echo, ...r.connect]) {
    if (p.overlayError !== undefined) notes.push(`overlay error: ${p.overlayError}`)
    if (p.directError !== undefined) notes.push(`direct error: ${p.directError}`)
  }
  for (const [what, p] of [['profiled upload (peer-0 and peer-1 freshly restarted, under the V8 sampling profiler)', r.profiled], ['profiled relay upload (client peer, relay peer-0 and the relay-only peer)', r.profiledRelay]] as const) {
    if (p === undefined) continue
    notes.push(`${what}: ${rate(p.upload, p.error)}${p.crashed.length > 0 ? `; DIED: ${p.crashed.join(', ')}` : ''}`)
    for (const x of p.profiles) {
      notes.push(`profile ${x.peer}: ${s2(x.totalMs)} sampled, idle ${x.idlePct.toFixed(0)} %; busy time by package: ${x.groups.slice(0, 10).map(g => `${g.group} ${g.pct.toFixed(1)} %`).join(', ')}`)
      notes.push(`profile ${x.peer}, top functions (self time, % of busy): ${x.functions.slice(0, 8).map(f => `${f.fn} [${f.group}] ${f.pct.toFixed(1)} %`).join('; ')}`)
    }
  }
  for (const c of r.convergence) {
    notes.push(`convergence run ${c.run + 1}: kill -9 ${c.victim} (placement ${JSON.stringify(c.placement)}, kill took ${ms1(c.killMs)}): ${c.ms === null ? 'TIMED OUT' : ms1(c.ms)}; ${c.failures.length}/${c.probes} connections failed${c.failures.length > 0 ? `: ${c.failures.slice(0, 3).map(f => `${ms1(f.atMs)} ${f.error}`).join('; ')}${c.failures.length > 3 ? '; …' : ''}` : ''}; ${c.lateFailures} after the streak; ${answersText(c)}; testnet reconverged ${s2(c.reconvergeMs)} after the restart${c.diagnosis === undefined ? '' : `; ${c.diagnosis}`}`)
  }
  if (r.oddLogLines.length > 0) {
    notes.push(`${r.oddLogLines.length} warning/error line(s) in the daemons' logs, e.g.:`)
    for (const l of r.oddLogLines.slice(0, 5)) notes.push(`  ${l.log}: ${l.line.slice(0, 300)}`)
  }
  return notes
}
