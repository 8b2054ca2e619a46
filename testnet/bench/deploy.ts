// The deploy suite: how long Grove takes to get an instance running, measured through the API the way a user sees
// it, on a 4-peer, 2-region local testnet started with up().
//
//   up() → process deploys ×runs (each next to a direct spawn) → docker deploys ×runs (each next to a direct
//   dockerode create+start) → recoveries after kill -9 of the hosting peer ×recovery-runs → down()
//   → the scheduler's own speed (runSchedulerBench, no daemons)
//
// A deploy is timed from just before POST /api/v1/apps on peer-0 to the first GET /api/v1/services/:id on peer-0 that
// shows the instance RUNNING (polled every 5 ms), so it includes the region choice, the leader's placement, gossip to
// the hosting peer, the runtime's start and the gossip of the RUNNING record back to peer-0. Each deploy is then
// deleted, and the next waits until no instance of it runs anywhere (asked of the runtimes, not the API).
//
// The baselines run in the same process, interleaved with the deploys they are compared with (alternating which goes
// first), so that a noisy neighbour weighs on both alike: for docker, dockerode createContainer + start with the same
// image, command and limits as Grove's runtime uses; for processes, a bare spawn of the same command.
//
// This file also holds the scheduler suite: a thin wrapper that prints runSchedulerBench's rows.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import Docker from 'dockerode'
import { DockerRuntime, LABEL_SERVICE, ProcessRuntime } from '../../node/runtime/index.js'
import { apiGet, apiPost, eventually, sleep } from '../daemons.js'
import { convergence, down, kill, requireTestnet, restart, up, type TestnetFile, type TestnetPeer } from '../index.js'
import type { Cleanup } from './cleanup.js'
import {
  formatTable, median, progress, summarise, UsageError, writeResults,
  type Progress, type Summary
} from './report.js'
import { runSchedulerBench, SCHEDULER_DESCRIPTION, type SchedulerBenchRow } from './scheduler.js'
import { onCleanup, pollFrom, PollTimeout, PortBlocks, row, TABLE_HEADERS, type Row } from './testnet.js'

export const DEPLOY_DESCRIPTION = 'deploy latency (process; docker vs direct dockerode), recovery after kill -9 of the hosting peer, scheduler speed'

export const DEPLOY_USAGE = `usage: npm run bench -- deploy [options]

  --runs N            deploys per runtime, process and docker (default 15)
  --recovery-runs N   kill -9 of a hosting peer, timed until the instance runs elsewhere (default 5)
  --no-docker         skip the docker rows even when an engine answers
  --quick             a short run to try things out: --runs 5 --recovery-runs 2 and a quick scheduler run
  --keep              keep the testnet's data dirs and logs instead of removing them`

const PEERS = 4
const REGIONS = 2
const MiB = 1024 * 1024
const IMAGE = 'grove/busybox:test'
const CMD = ['sleep', '3600']
/** On every baseline container, with this run's ID, so that a teardown finds even one whose create was in flight. */
const BENCH_LABEL = 'grove.bench'

/** How often a deploy (on peer-0) and a recovery (on an observer) look; the figures are late by at most this plus one API round trip. */
const DEPLOY_POLL_MS = 5
const RECOVERY_POLL_MS = 10
const UNDEPLOY_POLL_MS = 25
const DEPLOY_TIMEOUT_MS = 30_000
const RECOVERY_TIMEOUT_MS = 30_000
const UNDEPLOY_TIMEOUT_MS = 30_000
const CONVERGE_TIMEOUT_MS = 60_000
/** Between two measured runs, so that the last one's gossip and teardown are over. */
const PAUSE_MS = 250
const BUSY_LOAD_PER_CPU = 1

/** Upper bounds from the issue. */
const TARGETS = {
  processDeployMs: 300,
  /** Median docker deploy ÷ median direct dockerode create+start. */
  dockerRatio: 1.5,
  recoveryS: 3
}

/** From /work/shared/notes/anchors.md, measured elsewhere on the same machine kind; printed for comparison only. */
const REFERENCE = {
  deploy: 'Oakestra: a deployment takes 3–6 s',
  dockerode: 'Docker 20.10 via dockerode ≈ 155 ms',
  recovery: 'Oakestra: failed after 2 × report interval (10–30 s); K8s evicts after ≈ 5.7 min',
  rom: 'Nomad C1M 3,750 placements/s',
  ldp: 'Oakestra LDP ≈ 140 ms at 500 workers'
}

export interface DeployOptions {
  runs: number
  recoveryRuns: number
  docker: boolean
  quick: boolean
  keep: boolean
}

export function parseDeployArgs (argv: string[]): DeployOptions {
  let values: Record<string, string | boolean | undefined>
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        runs: { type: 'string' },
        'recovery-runs': { type: 'string' },
        'no-docker': { type: 'boolean' },
        quick: { type: 'boolean' },
        keep: { type: 'boolean' }
      }
    }))
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0])
  }
  const quick = values.quick === true
  // --quick sets the defaults; an explicit count still wins.
  const count = (name: string, fallback: number, min: number): number => {
    const raw = values[name]
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name}: expected an integer ≥ ${min}, got "${String(raw)}"`)
    return n
  }
  return {
    runs: count('runs', quick ? 5 : 15, 1),
    recoveryRuns: count('recovery-runs', quick ? 2 : 5, 0),
    docker: values['no-docker'] !== true,
    quick,
    keep: values.keep === true
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The API and the runtimes, as this suite reads them.

interface InstanceView { n: number, status: string, peerId: string | null, peerName: string | null, reason: string | null }
interface ServiceView { id: string, instances: InstanceView[] }
interface Posted { apps: Array<{ id: string, services: Array<{ id: string }> }> }

async function apiDelete (p: { api: string, token: string }, path: string): Promise<void> {
  const res = await fetch(`${p.api}${path}`, { method: 'DELETE', headers: { authorization: `Bearer ${p.token}` }, signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  if (!res.ok) throw new Error(`DELETE ${path}: HTTP ${res.status} ${text}`)
}

/** One application with one replica of one light service: a process, or a container with the same command. */
function sla (name: string, runtime: 'process' | 'docker'): unknown {
  const common = { microserviceID: '', microservice_name: 'sleeper', microservice_namespace: 'bench', cmd: CMD, replicas: 1 }
  const service = runtime === 'process'
    ? { ...common, virtualization: 'process', memory: 32, vcpus: 0 }
    : { ...common, virtualization: 'container', code: IMAGE, memory: 32, vcpus: 1 }
  return {
    sla_version: 'v2.0',
    customerID: 'Admin',
    applications: [{
      applicationID: '',
      application_name: name,
      application_namespace: 'bench',
      application_desc: 'grove bench deploy: one idle replica',
      microservices: [service]
    }]
  }
}

/**
 * Which instances of a service run anywhere on this host, asked of the runtimes themselves: the API forgets a
 * deleted service at once, while its instance may still be stopping on the hosting peer.
 */
class Instances {
  private readonly processes: Array<{ peerId: string, runtime: ProcessRuntime }>

  constructor (t: TestnetFile, private readonly docker: Docker | undefined) {
    this.processes = t.peers.map(p => ({ peerId: p.peerId, runtime: new ProcessRuntime({ dataDir: p.dataDir }) }))
  }

  async running (svcId: string): Promise<string[]> {
    const found: string[] = []
    for (const { peerId, runtime } of this.processes) {
      for (const i of await runtime.list(peerId)) if (i.service === svcId && i.state === 'running') found.push(`process ${i.id} of ${peerId}`)
    }
    if (this.docker !== undefined) {
      // Without all: true only running containers are listed.
      const containers = await this.docker.listContainers({ filters: { label: [`${LABEL_SERVICE}=${svcId}`] } })
      found.push(...containers.map(c => `container ${c.Id.slice(0, 12)}`))
    }
    return found
  }

  async close (): Promise<void> {
    for (const { runtime } of this.processes) await runtime.close()
  }
}

/** Deletes an application and returns ms until no instance of its service runs anywhere; null on a timeout. */
async function undeploy (via: TestnetPeer, appId: string, svcId: string, instances: Instances): Promise<number | null> {
  const t0 = performance.now()
  await apiDelete(via, `/api/v1/apps/${appId}`)
  try {
    const { ms } = await pollFrom(t0, UNDEPLOY_POLL_MS, UNDEPLOY_TIMEOUT_MS, `no instance of service ${svcId} running`, async () => {
      return (await instances.running(svcId)).length === 0 ? true : undefined
    })
    return ms
  } catch (err) {
    if (!(err instanceof PollTimeout)) throw err
    return null
  }
}

/** What a service looks like when a wait for it fails: the placement's own explanation. */
async function explain (via: TestnetPeer, svcId: string): Promise<string> {
  try {
    return JSON.stringify(await apiGet(via, `/api/v1/services/${svcId}/explain`))
  } catch (err) {
    return `explain failed: ${(err as Error).message}`
  }
}

async function waitConverged (dir: string): Promise<TestnetFile> {
  const t = await requireTestnet(dir)
  await eventually(async () => (await convergence(t)).converged, CONVERGE_TIMEOUT_MS, 'the testnet to converge (every peer sees its region, one leader per region)', 200)
  return t
}

// ---------------------------------------------------------------------------------------------------------------
// The measures.

interface DeploySample {
  runtime: 'process' | 'docker'
  /** Just before the POST → peer-0 first shows the instance RUNNING; null when it did not within the timeout. */
  ms: number | null
  /** The POST's round trip: validation and the records written on peer-0. */
  postMs: number
  /** When peer-0 first showed each status (REQUESTED, CLUSTER_SCHEDULED, ...), ms after the POST started. */
  statuses: Record<string, number>
  host: string | null
  /** DELETE → no instance of the service runs anywhere; null on a timeout. */
  undeployMs: number | null
  diagnosis?: string
}

/** POSTs the SLA to `entry`, waits for RUNNING there, then deletes the application and waits until it is gone. */
async function deployOnce (entry: TestnetPeer, name: string, runtime: 'process' | 'docker', instances: Instances): Promise<DeploySample> {
  const statuses: Record<string, number> = {}
  const t0 = performance.now()
  const posted = await apiPost<Posted>(entry, '/api/v1/apps', sla(name, runtime))
  const postMs = performance.now() - t0
  const appId = posted.apps[0].id
  const svcId = posted.apps[0].services[0].id
  const sample: DeploySample = { runtime, ms: null, postMs, statuses, host: null, undeployMs: null }
  try {
    const { ms, value } = await pollFrom(t0, DEPLOY_POLL_MS, DEPLOY_TIMEOUT_MS, `${name} RUNNING on ${entry.name}`, async () => {
      const inst = (await apiGet<ServiceView>(entry, `/api/v1/services/${svcId}`)).instances[0]
      if (inst === undefined) return undefined
      statuses[inst.status] ??= performance.now() - t0
      return inst.status === 'RUNNING' ? inst : undefined
    })
    sample.ms = ms
    sample.host = value.peerName ?? value.peerId
  } catch (err) {
    if (!(err instanceof PollTimeout)) throw err
    sample.diagnosis = `${name}: ${err.message}; statuses seen: ${JSON.stringify(statuses)}; ${await explain(entry, svcId)}`
  }
  sample.undeployMs = await undeploy(entry, appId, svcId, instances)
  return sample
}

/** The process runtime's floor: spawn the same command, detached, until the kernel has started it. */
async function directSpawn (cleanup: Cleanup): Promise<number> {
  const t0 = performance.now()
  const child = cleanup.child(spawn(CMD[0], CMD.slice(1), { detached: true, stdio: 'ignore' }))
  await once(child, 'spawn')
  const ms = performance.now() - t0
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
  return ms
}

interface DockerBaselineSample {
  /** createContainer + start, as Grove's docker runtime does them (it also inspects the image before and the container after). */
  ms: number
  createMs: number
  removeMs: number
}

/** Docker's floor: what the engine itself takes to create and start the same container. */
async function directDocker (docker: Docker, runId: string): Promise<DockerBaselineSample> {
  const t0 = performance.now()
  const container = await docker.createContainer({
    Image: IMAGE,
    Cmd: CMD,
    Labels: { [BENCH_LABEL]: runId },
    HostConfig: { Init: true, Memory: 32 * MiB, NanoCpus: 1e9, RestartPolicy: { Name: 'no' } }
  })
  const created = performance.now()
  await container.start()
  const ms = performance.now() - t0
  const r0 = performance.now()
  await container.remove({ force: true })
  return { ms, createMs: created - t0, removeMs: performance.now() - r0 }
}

/** Removes every baseline container of this run, including one whose create was still in flight. */
async function removeBaselineContainers (docker: Docker, runId: string): Promise<number> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${BENCH_LABEL}=${runId}`] } })
  for (const c of containers) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {})
  return containers.length
}

interface RecoverySample {
  victim: string
  /** The victim's role in its region before the kill: a leader's death also needs an election. */
  victimRole: string
  /** The peer whose API was polled: peer-0, unless peer-0 hosted the instance. */
  observer: string
  /** Deploy → RUNNING before the kill, as a deploy sample would time it (polled every 10 ms here). */
  deployMs: number | null
  /** kill -9 → the observer shows the instance RUNNING on another peer; null when it did not within the timeout. */
  ms: number | null
  /** kill -9 → the observer first shows the instance as anything but RUNNING on the victim. */
  firstChangeMs: number | null
  newHost: string | null
  /** When the observer first showed each "status@peer" after the kill. */
  statuses: Record<string, number>
  undeployMs: number | null
  /** The victim's restart → the testnet converged again. */
  reconvergeMs: number
  diagnosis?: string
}

async function recoverOnce (dir: string, run: number, instances: Instances, say: Progress): Promise<RecoverySample | undefined> {
  const t = await waitConverged(dir)
  const entry = t.peers[0]
  const name = `recover${run}`
  const d0 = performance.now()
  const posted = await apiPost<Posted>(entry, '/api/v1/apps', sla(name, 'process'))
  const appId = posted.apps[0].id
  const svcId = posted.apps[0].services[0].id
  let placed: { ms: number, value: InstanceView }
  try {
    placed = await pollFrom(d0, RECOVERY_POLL_MS, DEPLOY_TIMEOUT_MS, `${name} RUNNING on ${entry.name}`, async () => {
      const inst = (await apiGet<ServiceView>(entry, `/api/v1/services/${svcId}`)).instances[0]
      return inst?.status === 'RUNNING' ? inst : undefined
    })
  } catch (err) {
    if (!(err instanceof PollTimeout)) throw err
    say(`recovery ${run}: the deploy did not run (${err.message}); skipped: ${await explain(entry, svcId)}`)
    await undeploy(entry, appId, svcId, instances)
    return undefined
  }
  const victim = t.peers.find(p => p.peerId === placed.value.peerId)
  if (victim === undefined) throw new Error(`recovery ${run}: the instance runs on ${placed.value.peerId}, which is no peer of the testnet`)
  // The entry peer is only where the POST went: the region leaders re-place. If it is the victim, ask another peer.
  const observer = victim === entry ? t.peers.find(p => p !== victim && p.region === victim.region) ?? t.peers[1] : entry
  const victimRole = await apiGet<{ role: string }>(victim, '/api/v1/status').then(s => s.role, () => 'unknown')

  const statuses: Record<string, number> = {}
  let firstChangeMs: number | null = null
  const t0 = performance.now()
  const killed = kill(dir, victim.name)
  let ms: number | null = null
  let newHost: string | null = null
  let diagnosis: string | undefined
  try {
    const moved = await pollFrom(t0, RECOVERY_POLL_MS, RECOVERY_TIMEOUT_MS, `${name} RUNNING on a peer other than ${victim.name}`, async () => {
      const inst = (await apiGet<ServiceView>(observer, `/api/v1/services/${svcId}`)).instances[0]
      if (inst === undefined) return undefined
      const now = performance.now() - t0
      statuses[`${inst.status}@${inst.peerName ?? inst.peerId ?? 'none'}`] ??= now
      const elsewhere = inst.peerId !== victim.peerId
      if (firstChangeMs === null && (inst.status !== 'RUNNING' || elsewhere)) firstChangeMs = now
      return inst.status === 'RUNNING' && elsewhere ? inst : undefined
    })
    ms = moved.ms
    newHost = moved.value.peerName ?? moved.value.peerId
  } catch (err) {
    if (!(err instanceof PollTimeout)) throw err
    diagnosis = `recovery ${run} (${victim.name} killed): ${err.message}; seen: ${JSON.stringify(statuses)}; ${await explain(observer, svcId)}`
  }
  await killed

  // Back with the same identity; its orphaned instance (processes outlive their daemon) is its to clean up.
  const r0 = performance.now()
  await restart(dir, victim.name)
  const undeployMs = await undeploy(observer, appId, svcId, instances)
  await waitConverged(dir)
  return {
    victim: victim.name,
    victimRole,
    observer: observer.name,
    deployMs: placed.ms,
    ms,
    firstChangeMs,
    newHost,
    statuses,
    undeployMs,
    reconvergeMs: performance.now() - r0,
    ...(diagnosis === undefined ? {} : { diagnosis })
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The suite.

interface DeployResults {
  upMs: number
  engine: { ok: boolean, detail: string }
  process: DeploySample[]
  spawnBaseline: number[]
  docker: DeploySample[]
  dockerBaseline: DockerBaselineSample[]
  recovery: RecoverySample[]
  recoverySkipped: number
  baselineContainersLeft: number
  oddLogLines: Array<{ log: string, line: string }>
  loadavg: { start: number[], end: number[] }
  scheduler?: { rows: SchedulerBenchRow[], raw: unknown }
}

/** Whether docker rows can run: an engine that answers, with the test image on it. */
async function dockerEngine (docker: Docker): Promise<{ ok: boolean, detail: string }> {
  const runtime = new DockerRuntime({ docker })
  try {
    if (!await runtime.available()) return { ok: false, detail: 'no Docker engine answers (bash test/docker/setup.sh starts one)' }
  } finally {
    await runtime.close()
  }
  try {
    await docker.getImage(IMAGE).inspect()
  } catch {
    return { ok: false, detail: `the engine has no image ${IMAGE} (bash test/docker/setup.sh builds it)` }
  }
  const v = await docker.version()
  return { ok: true, detail: `engine ${v.Version}, API ${v.ApiVersion}` }
}

const msFmt = (v: number): string => `${v.toFixed(0)} ms`
const secFmt = (v: number): string => `${v.toFixed(2)} s`
const s2 = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
const took = (ms: number | null, timeoutMs: number): string => ms === null ? `TIMED OUT (> ${s2(timeoutMs)})` : `${ms.toFixed(0)} ms`

/** A timed-out run counts at its timeout (a lower bound) and fails the target whatever the median says. */
function timed (measure: string, unit: 'ms' | 's', samples: Array<{ ms: number | null }>, timeoutMs: number, target: number | null): Summary {
  const scale = unit === 's' ? 1000 : 1
  const s = summarise(measure, unit, samples.map(x => (x.ms ?? timeoutMs) / scale), target, 'median')
  const timedOut = samples.filter(x => x.ms === null).length
  if (timedOut === 0) return s
  return { ...s, measure: `${measure} [${timedOut}/${samples.length} timed out]`, timedOut, pass: target === null ? null : false }
}

function buildRows (r: DeployResults, opts: DeployOptions): Row[] {
  const rows: Row[] = []
  const proc = timed('deploy → RUNNING, process runtime (local)', 'ms', r.process, DEPLOY_TIMEOUT_MS, TARGETS.processDeployMs)
  const spawnMs = median(r.spawnBaseline)
  rows.push(row(proc, msFmt, `direct spawn ${spawnMs.toFixed(1)} ms; ×${(proc.median / spawnMs).toFixed(0)}`, REFERENCE.deploy))

  if (r.docker.length === 0) {
    const why = !opts.docker ? 'skipped (--no-docker)' : `skipped: ${r.engine.detail}`
    rows.push({ cells: ['deploy → RUNNING, docker runtime (local)', why, '—', `≤ ${TARGETS.dockerRatio} × baseline`, '—', '—', REFERENCE.deploy], summary: { measure: 'deploy → RUNNING, docker runtime (local)', skipped: why } })
    rows.push({ cells: ['baseline: direct dockerode create + start', why, '—', '—', '—', '—', REFERENCE.dockerode], summary: { measure: 'baseline: direct dockerode create + start', skipped: why } })
  } else {
    const base = summarise('baseline: direct dockerode create + start', 'ms', r.dockerBaseline.map(b => b.ms), null, 'median')
    const dock = timed('deploy → RUNNING, docker runtime (local)', 'ms', r.docker, DEPLOY_TIMEOUT_MS, TARGETS.dockerRatio * base.median)
    rows.push(row(dock, msFmt, `dockerode ${msFmt(base.median)}; ×${(dock.median / base.median).toFixed(2)}`, REFERENCE.deploy, `≤ ${TARGETS.dockerRatio} × baseline = ${msFmt(TARGETS.dockerRatio * base.median)}`))
    rows.push(row(base, msFmt, '(the baseline)', REFERENCE.dockerode))
  }

  const gone = (runtime: string, samples: DeploySample[]): void => {
    if (samples.length === 0) return
    const s = timed(`delete → instance stopped, ${runtime} runtime`, 'ms', samples.map(x => ({ ms: x.undeployMs })), UNDEPLOY_TIMEOUT_MS, null)
    rows.push(row(s, msFmt, '—', '—'))
  }
  gone('process', r.process)
  gone('docker', r.docker)

  if (opts.recoveryRuns > 0) {
    const rec = timed('kill -9 of the hosting peer → RUNNING on another (local)', 's', r.recovery, RECOVERY_TIMEOUT_MS, TARGETS.recoveryS)
    const firstChange = median(r.recovery.map(x => x.firstChangeMs).filter((x): x is number => x !== null))
    rows.push(row(rec, secFmt, Number.isFinite(firstChange) ? `instance first left RUNNING after ${s2(firstChange)}` : '—', REFERENCE.recovery))
  }

  for (const sr of r.scheduler?.rows ?? []) rows.push(schedulerRow(sr))
  return rows
}

export async function runDeploy (argv: string[], cleanup: Cleanup): Promise<void> {
  const opts = parseDeployArgs(argv)
  const say = progress('deploy')
  cleanup.keepDirs = opts.keep
  const root = cleanup.dir(await mkdtemp(join(tmpdir(), 'grove-bench-deploy-')))
  const dir = join(root, 'testnet')
  const runId = randomBytes(6).toString('hex')
  const docker = new Docker()
  const engine = opts.docker ? await dockerEngine(docker) : { ok: false, detail: 'skipped (--no-docker)' }
  const useDocker = engine.ok
  const started = new Date()
  const header = {
    suite: 'deploy',
    date: started.toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    platform: `${process.platform} ${process.arch}`,
    options: opts,
    layout: { peers: PEERS, regions: REGIONS, profile: 'local', runtime: useDocker ? 'docker' : 'process', isolation: 'none', entry: 'peer-0' },
    workload: { cmd: CMD, image: IMAGE, memoryMiB: 32, dockerVcpus: 1, replicas: 1 },
    polling: { deployMs: DEPLOY_POLL_MS, recoveryMs: RECOVERY_POLL_MS, undeployMs: UNDEPLOY_POLL_MS },
    targets: TARGETS,
    reference: { source: '/work/shared/notes/anchors.md (not measured here)', ...REFERENCE }
  }
  const r: DeployResults = {
    upMs: NaN,
    engine,
    process: [],
    spawnBaseline: [],
    docker: [],
    dockerBaseline: [],
    recovery: [],
    recoverySkipped: 0,
    baselineContainersLeft: 0,
    oddLogLines: [],
    loadavg: { start: loadavg(), end: [] }
  }
  let instances: Instances | undefined
  const teardown = onCleanup(cleanup, 'the deploy testnet', async () => {
    await instances?.close()
    await down({ dir, progress: line => { say(line.replace(/^\[testnet\] /, 'testnet: ')) } })
    if (useDocker) r.baselineContainersLeft = await removeBaselineContainers(docker, runId)
  })
  say(`docker: ${engine.detail}`)
  say(`${PEERS} peers in ${REGIONS} regions (local, runtime ${header.layout.runtime}); ${opts.runs} deploy(s) per runtime, ${opts.recoveryRuns} recover${opts.recoveryRuns === 1 ? 'y' : 'ies'}; data in ${root}`)

  try {
    try {
      const basePort = await new PortBlocks().next(PEERS)
      const u0 = performance.now()
      const t = await up({
        peers: PEERS, regions: REGIONS, dir, runtime: useDocker ? 'docker' : 'process', profile: 'local', basePort, isolation: 'none',
        progress: line => {
          const text = line.replace(/^\[testnet\] /, 'testnet: ')
          if (line.includes('converging:')) say.live(text, false)
          else say(text)
        }
      })
      r.upMs = performance.now() - u0
      instances = new Instances(t, useDocker ? docker : undefined)
      const entry = t.peers[0]

      for (let i = 0; i < opts.runs; i++) {
        // Alternate which goes first, so that neither always runs right after the other's teardown.
        if (i % 2 === 1) r.spawnBaseline.push(await directSpawn(cleanup))
        const s = await deployOnce(entry, `p${runId}${i}`, 'process', instances)
        r.process.push(s)
        if (i % 2 === 0) r.spawnBaseline.push(await directSpawn(cleanup))
        say(`process deploy ${i + 1}/${opts.runs}: ${took(s.ms, DEPLOY_TIMEOUT_MS)} (POST ${s.postMs.toFixed(0)} ms; on ${s.host ?? '?'}); stopped ${took(s.undeployMs, UNDEPLOY_TIMEOUT_MS)} after the delete`)
        if (s.diagnosis !== undefined) say(s.diagnosis)
        await sleep(PAUSE_MS)
      }

      if (useDocker) {
        for (let i = 0; i < opts.runs; i++) {
          let b: DockerBaselineSample | undefined
          if (i % 2 === 1) b = await directDocker(docker, runId)
          const s = await deployOnce(entry, `d${runId}${i}`, 'docker', instances)
          r.docker.push(s)
          if (i % 2 === 0) b = await directDocker(docker, runId)
          r.dockerBaseline.push(b!)
          say(`docker deploy ${i + 1}/${opts.runs}: ${took(s.ms, DEPLOY_TIMEOUT_MS)} (POST ${s.postMs.toFixed(0)} ms; on ${s.host ?? '?'}); dockerode create+start ${b!.ms.toFixed(0)} ms; stopped ${took(s.undeployMs, UNDEPLOY_TIMEOUT_MS)} after the delete`)
          if (s.diagnosis !== undefined) say(s.diagnosis)
          await sleep(PAUSE_MS)
        }
      } else {
        say(`docker rows skipped: ${engine.detail}`)
      }

      for (let i = 0; i < opts.recoveryRuns; i++) {
        const s = await recoverOnce(dir, i, instances, say)
        if (s === undefined) {
          r.recoverySkipped++
          continue
        }
        r.recovery.push(s)
        say(`recovery ${i + 1}/${opts.recoveryRuns}: kill -9 ${s.victim} (${s.victimRole}), watched from ${s.observer}: ${took(s.ms, RECOVERY_TIMEOUT_MS)} → on ${s.newHost ?? '?'}; reconverged ${s2(s.reconvergeMs)} after the restart`)
        if (s.diagnosis !== undefined) say(s.diagnosis)
      }
    } finally {
      r.loadavg.end = loadavg()
      await teardown()
      r.oddLogLines = await oddLogLines(dir)
    }

    say(`scheduler: runSchedulerBench${opts.quick ? ' (quick)' : ''}, no daemons`)
    r.scheduler = await runSchedulerBench({ quick: opts.quick })
  } catch (err) {
    if (!cleanup.closed) {
      const paths = await writeResults('deploy', { ...header, error: (err as Error).stack ?? String(err), results: r }, { complete: false })
      say(`partial results in ${paths[0]}`)
    }
    throw err
  }

  const rows = buildRows(r, opts)
  const notes: string[] = []
  const busy = [...r.loadavg.start, ...r.loadavg.end].some(l => l > BUSY_LOAD_PER_CPU * header.cpus)
  notes.push(`${busy ? 'WARNING: a busy host; ' : ''}load average ${r.loadavg.start.map(l => l.toFixed(1)).join('/')} at the start, ${r.loadavg.end.map(l => l.toFixed(1)).join('/')} at the end (${header.cpus} CPUs)`)
  notes.push(`testnet: up() converged in ${s2(r.upMs)}; docker: ${engine.detail}`)
  for (const [runtime, samples] of [['process', r.process], ['docker', r.docker]] as const) {
    if (samples.length === 0) continue
    const hosts = new Map<string, number>()
    for (const s of samples) hosts.set(s.host ?? '?', (hosts.get(s.host ?? '?') ?? 0) + 1)
    // Each status's median over the runs that showed it (a fast run may skip one between two polls), in time order.
    const phases = [...new Set(samples.flatMap(s => Object.keys(s.statuses)))]
      .map(st => ({ st, ms: median(samples.map(s => s.statuses[st]).filter((x): x is number => x !== undefined)) }))
      .sort((a, b) => a.ms - b.ms)
      .map(({ st, ms }) => `${st} ${msFmt(ms)}`)
    notes.push(`${runtime}: POST answered after ${msFmt(median(samples.map(s => s.postMs)))} (median); first seen on peer-0 (median ms after the POST): ${phases.join(', ')}; hosted on ${[...hosts].map(([h, n]) => `${h} ×${n}`).join(', ')}`)
  }
  if (r.dockerBaseline.length > 0) {
    notes.push(`dockerode baseline: create ${msFmt(median(r.dockerBaseline.map(b => b.createMs)))}, start ${msFmt(median(r.dockerBaseline.map(b => b.ms - b.createMs)))}, remove ${msFmt(median(r.dockerBaseline.map(b => b.removeMs)))} (medians)`)
  }
  for (const s of r.recovery) {
    notes.push(`recovery: ${s.victim} (${s.victimRole}) killed, watched from ${s.observer}: ${s.ms === null ? 'TIMED OUT' : s2(s.ms)} → ${s.newHost ?? '?'}; seen ${Object.entries(s.statuses).map(([k, v]) => `${k} ${s2(v)}`).join(', ')}`)
  }
  if (r.recoverySkipped > 0) notes.push(`recovery: ${r.recoverySkipped} run(s) skipped because the deploy before the kill did not run`)
  for (const s of [...r.process, ...r.docker]) if (s.diagnosis !== undefined) notes.push(s.diagnosis)
  for (const s of r.recovery) if (s.diagnosis !== undefined) notes.push(s.diagnosis)
  if (r.baselineContainersLeft > 0) notes.push(`teardown removed ${r.baselineContainersLeft} leftover baseline container(s)`)
  if (r.oddLogLines.length > 0) {
    notes.push(`${r.oddLogLines.length} warning/error line(s) in the daemons' logs, e.g.:`)
    for (const l of r.oddLogLines.slice(0, 5)) notes.push(`  ${l.log}: ${l.line.slice(0, 300)}`)
  }

  // Cleanup already under way means a Ctrl-C raced the end of the run: kept, but not as the figure to compare with.
  const paths = await writeResults('deploy', { ...header, summary: rows.map(x => x.summary), notes, results: r }, { complete: !cleanup.closed })
  process.stdout.write(`\ndeploy: ${PEERS} peers in ${REGIONS} regions (local, runtime ${header.layout.runtime}), ${opts.runs} deploy(s) per runtime, ${r.recovery.length} recover${r.recovery.length === 1 ? 'y' : 'ies'}, on ${header.cpus} CPU(s), node ${header.node}, ${header.date}\n\n`)
  process.stdout.write(formatTable(TABLE_HEADERS, rows.map(x => x.cells)) + '\n')
  process.stdout.write(`\n${SCHEDULER_FOOTNOTE}\nreference: figures from anchors.md, measured elsewhere on the same machine kind; not part of pass/fail.\n`)
  process.stdout.write(`\nnotes:\n${notes.map(n => `- ${n}`).join('\n')}\n`)
  process.stdout.write(`\nresults: ${paths.join(', ')}\n`)
}

/**
 * Lines of the daemons' logs that are not routine: warnings, errors and stack traces. Read after down(), so that
 * shutdown problems show too, and before Cleanup removes the dir.
 */
export async function oddLogLines (dir: string): Promise<Array<{ log: string, line: string }>> {
  const odd: Array<{ log: string, line: string }> = []
  for (const entry of (await readdir(dir).catch(() => [] as string[])).filter(e => /^peer-\d+$/.test(e)).sort()) {
    const text = await readFile(join(dir, entry, 'daemon.log'), 'utf8').catch(() => '')
    for (const line of text.split('\n')) {
      if (/error|warn|exception|uncaught|unhandled|took longer|^\s+at /i.test(line)) odd.push({ log: `${entry}/daemon.log`, line })
    }
  }
  return odd
}

// ---------------------------------------------------------------------------------------------------------------
// The scheduler suite: runSchedulerBench's rows as a table.

export { SCHEDULER_DESCRIPTION }

export const SCHEDULER_USAGE = `usage: npm run bench -- scheduler [options]

  --quick   shorter runs and fewer timed calls (rougher figures)`

const SCHEDULER_FOOTNOTE = 'scheduler rows: for a rate (calls/s) the p90 column is the 10th-percentile run, the rate 90 % of runs beat.'

function schedulerRow (r: SchedulerBenchRow): Row {
  const fmt = (v: number): string => r.unit === 'ms' ? `${v.toFixed(3)} ms` : `${Math.round(v).toLocaleString('en')} ${r.unit}`
  const reference = r.measure.startsWith('ROM') ? REFERENCE.rom : r.unit === 'ms' ? REFERENCE.ldp : '—'
  const pass = r.pass === undefined ? '—' : r.pass ? 'pass' : 'FAIL'
  const target = r.target === undefined ? '—' : `${r.target.replace(/(\d{4,})/, d => Number(d).toLocaleString('en'))} ${r.unit} (median)`
  return { cells: [`scheduler: ${r.measure}`, fmt(r.median), r.p90 === undefined ? '—' : fmt(r.p90), target, pass, '—', reference], summary: r }
}

export async function runScheduler (argv: string[], cleanup: Cleanup): Promise<void> {
  let quick: boolean
  try {
    quick = parseArgs({ args: argv, strict: true, allowPositionals: false, options: { quick: { type: 'boolean' } } }).values.quick === true
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0])
  }
  const say = progress('scheduler')
  const header = {
    suite: 'scheduler',
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    platform: `${process.platform} ${process.arch}`,
    options: { quick },
    reference: { source: '/work/shared/notes/anchors.md (not measured here)', rom: REFERENCE.rom, ldp: REFERENCE.ldp }
  }
  say(`selectNodes on synthetic regions of 500 to 5,000 nodes${quick ? ' (quick)' : ''}; no daemons, no network`)
  const t0 = performance.now()
  let result: { rows: SchedulerBenchRow[], raw: unknown }
  try {
    result = await runSchedulerBench({ quick })
  } catch (err) {
    const paths = await writeResults('scheduler', { ...header, error: (err as Error).stack ?? String(err) }, { complete: false })
    say(`partial results in ${paths[0]}`)
    throw err
  }
  say(`done in ${s2(performance.now() - t0)}`)
  const rows = result.rows.map(schedulerRow)
  // Cleanup already under way means a Ctrl-C raced the end of the run: kept, but not as the figure to compare with.
  const paths = await writeResults('scheduler', { ...header, summary: result.rows, raw: result.raw }, { complete: !cleanup.closed })
  process.stdout.write(`\nscheduler: ${SCHEDULER_DESCRIPTION}; on ${header.cpus} CPU(s), node ${header.node}, ${header.date}\n\n`)
  process.stdout.write(formatTable(TABLE_HEADERS, rows.map(x => x.cells)) + '\n')
  process.stdout.write(`\n${SCHEDULER_FOOTNOTE}\nreference: figures from anchors.md, measured elsewhere on the same machine kind; not part of pass/fail.\n`)
  process.stdout.write(`\nresults: ${paths.join(', ')}\n`)
}
