// The scheduler suite: how fast the pure placement code decides, on synthetic regions of 500 to 5,000 nodes spread
// over Europe. No daemons, no network: it calls selectNodes in a loop.
//
//   selections/s  count 1, ROM and LDP (LDP with a geo and a latency constraint), at 1,000 and 5,000 nodes:
//                 warm-up, then timed runs of many calls each; the median (and the 10th-percentile run) over runs.
//   ms/placement  LDP at 500 nodes with geo + latency + S2S constraints, 3 replicas per call: every call timed.
//
// Targets (issue 4): ≥ 10,000 ROM selections/s at 1,000 nodes (≤ 100 µs per call), and LDP ≤ 5 ms per placement at
// 500 nodes. This module prints nothing and writes nothing; the bench runner does. Run directly
// (`node dist/testnet/bench/scheduler.js [--quick]`) it prints its rows as JSON.
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { mulberry32, selectNodes } from '../../scheduler/index.js'
import type { Area, NetCoordinate, NodeCandidate, PeerInstance, Policy, SelectNodesInput, ServiceSpec } from '../../scheduler/index.js'

export const SCHEDULER_DESCRIPTION = 'pure placement speed: ROM/LDP selections per second at 1,000 and 5,000 nodes, LDP ms per placement at 500'

export interface SchedulerBenchRow {
  measure: string
  median: number
  p90?: number
  unit: string
  target?: string
  pass?: boolean
}

/** The fixed seed of the synthetic world, so that two runs measure the same nodes. */
const WORLD_SEED = 20230710

const AREAS: Record<string, Area> = {
  berlin: { name: 'berlin', center: { lat: 52.52, lon: 13.405 }, radiusKm: 150 },
  paris: { name: 'paris', center: { lat: 48.8566, lon: 2.3522 }, radiusKm: 150 },
  madrid: { name: 'madrid', center: { lat: 40.4168, lon: -3.7038 }, radiusKm: 150 },
  warsaw: { name: 'warsaw', center: { lat: 52.2297, lon: 21.0122 }, radiusKm: 150 }
}

function baseSpec (over: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name: 'api',
    namespace: 'bench',
    virtualization: 'container',
    image: 'docker.io/library/nginx:latest',
    cmd: [],
    environment: [],
    memory: 512,
    vcpus: 0.5,
    vgpus: 0,
    storage: 256,
    replicas: 1,
    restart: 'always',
    oneShot: false,
    arch: [],
    ports: [],
    addresses: {},
    constraints: [],
    connectivity: [],
    ...over
  }
}

/**
 * n nodes scattered over Europe (lat 36–60, lon −10–30), with resources from a Raspberry Pi to a small server, 90 %
 * with docker, a fifth on arm64, and Vivaldi coordinates that follow geography (1 ms per 100 km on two axes) plus
 * noise on the others and an access-link height.
 */
function world (n: number, seed: number): NodeCandidate[] {
  const rand = mulberry32(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]
  const nodes: NodeCandidate[] = []
  for (let i = 0; i < n; i++) {
    const lat = 36 + rand() * 24
    const lon = -10 + rand() * 40
    const cores = pick([2, 4, 4, 8, 8, 16])
    const memTotal = cores * pick([1024, 2048, 4096])
    const x = lon * 111 * Math.cos(lat * Math.PI / 180) / 100
    const y = lat * 111 / 100
    const vec = [x, y, 0, 0, 0, 0, 0, 0].map((v, d) => v + (d < 2 ? rand() * 2 : rand() * 3))
    const coordinate: NetCoordinate = { vec, error: 0.2 + rand() * 0.3, adjustment: rand() * 0.4 - 0.2, height: 0.2 + rand() * 3 }
    nodes.push({
      peerId: `12D3KooWBench${String(i).padStart(8, '0')}`,
      name: `node-${i}`,
      region: 'bench',
      arch: rand() < 0.8 ? 'amd64' : 'arm64',
      runtimes: rand() < 0.9 ? ['docker', 'process'] : ['process'],
      cpuCores: cores,
      cpuFree: cores * rand(),
      memFreeMiB: memTotal * rand(),
      diskFreeMiB: 1024 + rand() * 100_000,
      gpus: rand() < 0.1 ? 1 : 0,
      labels: {},
      location: rand() < 0.95 ? { lat, lon } : null,
      coordinate: rand() < 0.95 ? coordinate : null,
      reserved: rand() < 0.2 ? { cpu: rand(), memoryMiB: rand() * 512 } : { cpu: 0, memoryMiB: 0 },
      sameService: rand() < 0.05 ? 1 : 0
    })
  }
  return nodes
}

/** Instances of the `db` service that the LDP spec connects to, on a few of the nodes. */
function dbInstances (nodes: readonly NodeCandidate[], count: number, seed: number): PeerInstance[] {
  const rand = mulberry32(seed)
  return Array.from({ length: count }, () => {
    const n = nodes[Math.floor(rand() * nodes.length)]
    return { service: 'db', peerId: n.peerId, coordinate: n.coordinate, location: n.location }
  })
}

/** The LDP spec: near Berlin (geo), fast to reach Paris users (latency), close to its database (S2S). */
function ldpSpec (withS2S: boolean): ServiceSpec {
  return baseSpec({
    constraints: [
      { type: 'geo', area: 'berlin', thresholdKm: 1200 },
      { type: 'latency', area: 'paris', thresholdMs: 25 }
    ],
    connectivity: withS2S ? [{ target: 'db', latencyMs: 30 }] : []
  })
}

function percentile (samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = (p / 100) * (sorted.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo)
}

interface ThroughputRaw { nodes: number, policy: Policy, runs: number[], callsPerRun: number[], placed: number }

/**
 * Calls per second of selectNodes with count 1: a warm-up of `warmupMs`, then `runs` runs of at least `runMs` each.
 * Every call uses a new seed, so no two calls shuffle alike.
 */
function throughput (input: Omit<SelectNodesInput, 'seed'>, runs: number, runMs: number, warmupMs: number): { perRun: number[], calls: number[], placed: number } {
  let seed = 0
  let placed = 0
  const until = performance.now() + warmupMs
  while (performance.now() < until) placed += selectNodes({ ...input, seed: seed++ }).chosen.length
  const perRun: number[] = []
  const calls: number[] = []
  placed = 0
  for (let r = 0; r < runs; r++) {
    let n = 0
    const start = performance.now()
    let now = start
    // Check the clock every 64 calls: reading it costs about as much as a small call.
    while (now - start < runMs) {
      for (let k = 0; k < 64; k++) placed += selectNodes({ ...input, seed: seed++ }).chosen.length
      n += 64
      now = performance.now()
    }
    perRun.push(n / ((now - start) / 1000))
    calls.push(n)
  }
  return { perRun, calls, placed }
}

/** Runs the suite. `quick` shortens every run (for a smoke test); the figures are then rougher. */
export async function runSchedulerBench (opts: { quick?: boolean } = {}): Promise<{ rows: SchedulerBenchRow[], raw: unknown }> {
  const quick = opts.quick === true
  const runs = quick ? 3 : 7
  const runMs = quick ? 100 : 500
  const warmupMs = quick ? 200 : 1000
  const rows: SchedulerBenchRow[] = []
  const raw: { throughput: ThroughputRaw[], ldp?: unknown, quick: boolean, runs: number, runMs: number } = { throughput: [], quick, runs, runMs }

  for (const size of [1000, 5000]) {
    const nodes = world(size, WORLD_SEED + size)
    for (const policy of ['ROM', 'LDP'] as const) {
      const spec = policy === 'ROM' ? baseSpec() : ldpSpec(false)
      const t = throughput({ spec, nodes, count: 1, policy, areas: AREAS, connected: [] }, runs, runMs, warmupMs)
      raw.throughput.push({ nodes: size, policy, runs: t.perRun, callsPerRun: t.calls, placed: t.placed })
      const m = percentile(t.perRun, 50)
      const row: SchedulerBenchRow = {
        measure: `${policy}${policy === 'LDP' ? ' (geo + latency)' : ''} selections/s, ${size.toLocaleString('en')} nodes`,
        median: Math.round(m),
        // For a rate the bad tail is the low one: the run that 90 % of runs beat.
        p90: Math.round(percentile(t.perRun, 10)),
        unit: 'calls/s'
      }
      if (policy === 'ROM' && size === 1000) {
        row.target = '≥ 10000'
        row.pass = m >= 10_000
      }
      rows.push(row)
      // Let the event loop breathe between measures (a caller may be printing progress).
      await new Promise(resolve => setImmediate(resolve))
    }
  }

  // LDP with every kind of term at 500 nodes: time each call of 3 replicas, report per placement.
  const nodes = world(500, WORLD_SEED + 500)
  const connected = dbInstances(nodes, 12, WORLD_SEED)
  const input = { spec: ldpSpec(true), nodes, count: 3, policy: 'LDP' as const, areas: AREAS, connected }
  const calls = quick ? 200 : 2000
  for (let k = 0; k < calls / 4; k++) selectNodes({ ...input, seed: k })
  const perPlacement: number[] = []
  let placed = 0
  for (let k = 0; k < calls; k++) {
    const start = performance.now()
    const d = selectNodes({ ...input, seed: 1_000_000 + k })
    const ms = performance.now() - start
    placed += d.chosen.length
    perPlacement.push(ms / Math.max(1, d.chosen.length))
  }
  const m = percentile(perPlacement, 50)
  rows.push({
    measure: 'LDP ms/placement, 500 nodes, geo + latency + S2S',
    median: round3(m),
    p90: round3(percentile(perPlacement, 90)),
    unit: 'ms',
    target: '≤ 5',
    pass: m <= 5
  })
  raw.ldp = { nodes: 500, count: 3, calls, placed, msPerPlacement: { median: m, p90: percentile(perPlacement, 90), max: Math.max(...perPlacement) } }
  return { rows, raw }
}

function round3 (x: number): number {
  return Math.round(x * 1000) / 1000
}

// Run directly: print the rows as JSON.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { rows } = await runSchedulerBench({ quick: process.argv.includes('--quick') })
  process.stdout.write(JSON.stringify(rows, null, 2) + '\n')
}
