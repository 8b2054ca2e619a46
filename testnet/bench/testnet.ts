// The testnet suite: what `grove testnet up` costs. For 6, 20 and 50 peers in two regions (profile local, process
// runtime), each in a fresh temp dir at fresh ports, through the same up() and down() the CLI calls:
//
//   per size, per run:  up() → converged → RSS of every daemon (and of the bare node, at that moment) → down()
//                       → look for any process that still names the testnet's dir
//
// The baseline is one bare `node -e "setInterval(()=>{},1000)"`, started first so that it is as warm as the daemons:
// what any Node.js process costs before it does anything. The issue sets no targets for these figures, so they are
// printed for information; a testnet that does not converge, or that leaves a process behind, fails.
//
// The second half of this file is shared with deploy.ts: port blocks for up(), a teardown that Cleanup runs, a poll
// that times what it waits for, and the table's rows.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { apiGet, eventually, sleep, type RunningDaemon } from '../daemons.js'
import { convergence, down, readTestnet, TestnetError, up, type TestnetFile } from '../index.js'
import type { Cleanup } from './cleanup.js'
import { rssBytes } from './proc.js'
import {
  formatTable, median, progress, summarise, UsageError, writeResults,
  type Progress, type Summary
} from './report.js'

export const TESTNET_DESCRIPTION = 'local testnets of 6, 20 and 50 peers via up(): time to converge, RSS per daemon vs a bare node, nothing left after down()'

export const TESTNET_USAGE = `usage: npm run bench -- testnet [options]

  --runs N       testnets started per size (default 3)
  --sizes LIST   peer counts, comma-separated, each 2..200 (default 6,20,50)
  --quick        a short run to try things out: --runs 1 --sizes 6,20
  --keep         keep the testnets' data dirs and logs instead of removing them`

const REGIONS = 2
const MiB = 1024 * 1024
/** Between two testnets, so that the last one's teardown (and its CPU) is over before the next clock starts. */
const PAUSE_MS = 2000
/** Above this load average per CPU, the notes carry a warning. */
const BUSY_LOAD_PER_CPU = 1
/**
 * After up() gives up, how much longer to watch: a testnet that converges a little late (a slow host) is a different
 * finding from one that never does.
 */
const LATE_WATCH_MS = 60_000

/** From /work/shared/notes/anchors.md, measured elsewhere on the same machine kind; printed for comparison only. */
const REFERENCE = {
  rss: 'serf 15 MB; etcd 29 MB; K3s agent 275 MB',
  converge: 'serf: join seen by all 0.34 s (one agent)'
}

export interface TestnetOptions {
  runs: number
  sizes: number[]
  quick: boolean
  keep: boolean
}

export function parseTestnetArgs (argv: string[]): TestnetOptions {
  let values: Record<string, string | boolean | undefined>
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { runs: { type: 'string' }, sizes: { type: 'string' }, quick: { type: 'boolean' }, keep: { type: 'boolean' } }
    }))
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0])
  }
  const quick = values.quick === true
  const runs = values.runs === undefined ? (quick ? 1 : 3) : Number(values.runs)
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs: expected an integer ≥ 1, got "${String(values.runs)}"`)
  const sizes = values.sizes === undefined
    ? (quick ? [6, 20] : [6, 20, 50])
    : String(values.sizes).split(',').map(s => s.trim()).filter(s => s !== '').map(Number)
  for (const n of sizes) {
    // up() allows 1..200; two regions need two peers.
    if (!Number.isInteger(n) || n < REGIONS || n > 200) throw new UsageError(`--sizes: each size must be an integer from ${REGIONS} to 200, got "${String(values.sizes)}"`)
  }
  if (sizes.length === 0) throw new UsageError('--sizes: name at least one peer count')
  return { runs, sizes, quick, keep: values.keep === true }
}

// ---------------------------------------------------------------------------------------------------------------
// One testnet.

interface TestnetSample {
  peers: number
  run: number
  basePort: number
  /** Calling up() → it returned converged; when it threw instead, null (and `error` says why). */
  ms: number | null
  /** How long up() ran before it threw: a lower bound for a testnet that did not converge. */
  failedAfterMs?: number
  error?: string
  /** When up() gave up: ms from calling up() until the testnet did converge after all; null if not within the watch. */
  lateConvergedMs?: number | null
  /** When up() gave up: who saw whom at that moment, per peer and per region. */
  diagnosis?: string
  regions?: string[]
  /** The same at the end of the late watch, when it did not converge even then. */
  regionsAfterWatch?: string[]
  /** "is dead" lines in the daemons' logs before down(): nothing was killed, so each one is a false death. */
  deathLines: number
  /** The kernel's CPU pressure (share of time some task waited for a CPU, last 60 s) before up() and before down(). */
  cpuPressure: { start: number | null, end: number | null }
  /** VmRSS of each daemon once converged, in peer order (peer-0 first). */
  rssBytes: number[]
  totalRssBytes: number | null
  /** The bare node's VmRSS read at the same moment as the daemons'. */
  bareRssBytes: number | null
  downMs: number
  down: { stopped: number, killed: number } | null
  /** Processes still naming the testnet's dir after down(), and recorded daemon pids still alive. */
  leftover: Array<{ pid: number, cmd: string }>
  loadavg: { start: number[], end: number[] }
}

async function oneTestnet (peers: number, run: number, root: string, ports: PortBlocks, bare: ChildProcess, cleanup: Cleanup, say: Progress): Promise<TestnetSample> {
  const dir = join(root, `peers-${peers}-run-${run}`)
  const basePort = await ports.next(peers)
  let downResult: TestnetSample['down'] = null
  const teardown = onCleanup(cleanup, `testnet ${dir}`, async () => {
    downResult = await down({ dir, progress: () => {} })
  })
  const sample: TestnetSample = {
    peers, run, basePort, ms: null, deathLines: 0, cpuPressure: { start: await cpuPressure(), end: null },
    rssBytes: [], totalRssBytes: null, bareRssBytes: null, downMs: NaN, down: null, leftover: [],
    loadavg: { start: loadavg(), end: [] }
  }
  let t: TestnetFile | undefined
  try {
    const t0 = performance.now()
    try {
      t = await up({
        // The same profile `grove testnet up` picks by default for this size.
        peers, regions: REGIONS, dir, runtime: 'process', profile: peers <= 24 ? 'local' : 'lan', basePort, isolation: 'none',
        progress: line => {
          const text = `${peers} peers, run ${run}: ${line.replace(/^\[testnet\] /, '')}`
          if (line.includes('converging:')) say.live(text, false)
          else say(text)
        }
      })
      sample.ms = performance.now() - t0
    } catch (err) {
      // Every way up() gives up (a peer that exits, an API that never answers, no convergence) is a TestnetError;
      // anything else is the benchmark's own failure.
      if (!(err instanceof TestnetError)) throw err
      sample.failedAfterMs = performance.now() - t0
      sample.error = err.message
      say(`${peers} peers, run ${run}: did NOT converge: ${err.message}`)
      const recorded = await readTestnet(dir)
      if (recorded !== undefined && recorded.peers.every(p => p.peerId !== '')) {
        const views = await viewTestnet(recorded)
        sample.diagnosis = describeViews(views)
        sample.regions = summariseViews(views)
        say(`${peers} peers, run ${run}: at that moment:\n${sample.diagnosis}\n  ${sample.regions.join('\n  ')}`)
        say(`${peers} peers, run ${run}: watching for up to ${s2(LATE_WATCH_MS)} more whether it converges late`)
        try {
          await eventually(async () => (await convergence(recorded)).converged, LATE_WATCH_MS, 'a late convergence', 250)
          sample.lateConvergedMs = performance.now() - t0
          say(`${peers} peers, run ${run}: converged late, ${s2(sample.lateConvergedMs)} after up() was called`)
        } catch {
          sample.lateConvergedMs = null
          const views = await viewTestnet(recorded)
          sample.regionsAfterWatch = summariseViews(views)
          say(`${peers} peers, run ${run}: still not converged ${s2(performance.now() - t0)} after up() was called:\n${describeViews(views)}\n  ${sample.regionsAfterWatch.join('\n  ')}`)
        }
      }
    }
    if (t !== undefined) {
      const pids = t.peers.map(p => p.pid).filter((pid): pid is number => pid !== null)
      const [rss, bareRss] = await Promise.all([Promise.all(pids.map(rssBytes)), rssBytes(bare.pid!)])
      sample.rssBytes = rss
      sample.totalRssBytes = rss.reduce((a, b) => a + b, 0)
      sample.bareRssBytes = bareRss
      say(`${peers} peers, run ${run}: converged in ${s2(sample.ms!)}; RSS ${mib(sample.totalRssBytes)} together, median ${mib(median(rss))} per daemon (bare node ${mib(bareRss)})`)
    }
  } finally {
    sample.loadavg.end = loadavg()
    sample.cpuPressure.end = await cpuPressure()
    sample.deathLines = await countLogLines(dir, / is dead$/)
    const d0 = performance.now()
    await teardown()
    sample.downMs = performance.now() - d0
    sample.down = downResult
  }
  sample.leftover = [
    ...await processesNaming(dir),
    ...(t?.peers ?? []).filter(p => p.pid !== null && isLive(p.pid)).map(p => ({ pid: p.pid!, cmd: `${p.name} (recorded pid)` }))
  ]
  say(`${peers} peers, run ${run}: down in ${s2(sample.downMs)}; ${sample.leftover.length === 0 ? 'nothing left' : `LEFT BEHIND: ${sample.leftover.map(l => `${l.pid} ${l.cmd}`).join('; ')}`}`)
  return sample
}

// ---------------------------------------------------------------------------------------------------------------
// The suite.

const s2 = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`

function buildRows (samples: readonly TestnetSample[], sizes: readonly number[]): Row[] {
  const rows: Row[] = []
  const sec = (v: number): string => `${v.toFixed(2)} s`
  const inMiB = (v: number): string => `${v.toFixed(1)} MiB`
  for (const peers of sizes) {
    const mine = samples.filter(s => s.peers === peers)
    if (mine.length === 0) continue
    const failed = mine.filter(s => s.ms === null).length
    // A run that did not converge counts at the time up() gave up: a lower bound, not an invented figure.
    const times = mine.map(s => (s.ms ?? s.failedAfterMs ?? NaN) / 1000)
    let up = summarise(`up() → converged, ${peers} peers (${peers <= 24 ? 'local' : 'lan'}, process)`, 's', times, null, 'median')
    up = { ...up, pass: failed === 0, ...(failed > 0 ? { measure: `${up.measure} [${failed}/${mine.length} did not converge]`, timedOut: failed } : {}) }
    rows.push(row(up, sec, `${(up.median / peers * 1000).toFixed(0)} ms per peer`, REFERENCE.converge, '— (must converge)'))

    const ok = mine.filter(s => s.totalRssBytes !== null)
    const bare = median(ok.map(s => s.bareRssBytes!)) / MiB
    const vs = (label: string, base: number, value: number): string => Number.isFinite(base) && Number.isFinite(value) ? `${label} ${inMiB(base)}; ×${(value / base).toFixed(2)}` : '— (no converged run)'
    const total = summarise(`RSS of all ${peers} daemons together`, 'MiB', ok.map(s => s.totalRssBytes! / MiB), null, 'median')
    rows.push(row(total, inMiB, vs(`${peers} bare nodes`, bare * peers, total.median), '—'))
    const per = summarise(`RSS per daemon, ${peers} peers (every daemon of every run)`, 'MiB', ok.flatMap(s => s.rssBytes.map(b => b / MiB)), null, 'median')
    rows.push(row(per, inMiB, vs('bare node', bare, per.median), REFERENCE.rss))
    const deaths = summarise(`"is dead" log lines before down(), ${peers} peers`, 'count', mine.map(s => s.deathLines), null, 'median')
    rows.push(row(deaths, v => v.toFixed(0), 'nothing was killed: each is a false death', '—'))

    const left = summarise(`processes left after down(), ${peers} peers`, 'count', mine.map(s => s.leftover.length), 0, 'max')
    rows.push(row(left, v => v.toFixed(0), `down() took ${s2(median(mine.map(s => s.downMs)))} (median)`, '—', '0 (every run)'))
  }
  return rows
}

export async function runTestnet (argv: string[], cleanup: Cleanup): Promise<void> {
  const opts = parseTestnetArgs(argv)
  const say = progress('testnet')
  cleanup.keepDirs = opts.keep
  const root = cleanup.dir(await mkdtemp(join(tmpdir(), 'grove-bench-testnet-')))
  const ports = new PortBlocks()
  const started = new Date()
  const header = {
    suite: 'testnet',
    date: started.toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    platform: `${process.platform} ${process.arch}`,
    options: opts,
    layout: { regions: REGIONS, profile: 'local', runtime: 'process', isolation: 'none' },
    targets: { converge: 'every testnet converges (up() returns)', leftover: 0, other: 'none given by the issue: information' },
    reference: { source: '/work/shared/notes/anchors.md (not measured here)', ...REFERENCE }
  }
  const samples: TestnetSample[] = []
  say(`sizes ${opts.sizes.join(', ')} peers in ${REGIONS} regions, ${opts.runs} run(s) each; data in ${root}`)
  // The baseline runs through the whole suite and is read next to every testnet's daemons.
  const bare = cleanup.child(spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }))
  try {
    for (const peers of opts.sizes) {
      for (let run = 1; run <= opts.runs; run++) {
        samples.push(await oneTestnet(peers, run, root, ports, bare, cleanup, say))
        await sleep(PAUSE_MS)
      }
    }
  } catch (err) {
    if (!cleanup.closed) {
      const paths = await writeResults('testnet', { ...header, error: (err as Error).stack ?? String(err), samples }, { complete: false })
      say(`partial results in ${paths[0]}`)
    }
    throw err
  } finally {
    bare.kill('SIGKILL')
  }

  const rows = buildRows(samples, opts.sizes)
  const notes: string[] = []
  const loads = samples.flatMap(s => [...s.loadavg.start, ...s.loadavg.end])
  const busy = loads.some(l => l > BUSY_LOAD_PER_CPU * header.cpus)
  notes.push(`${busy ? 'WARNING: a busy host; ' : ''}1-minute load average from ${Math.min(...samples.map(s => s.loadavg.start[0])).toFixed(1)} to ${Math.max(...samples.flatMap(s => [s.loadavg.start[0], s.loadavg.end[0]])).toFixed(1)} over the runs (${header.cpus} CPUs)`)
  const pressures = samples.flatMap(s => [s.cpuPressure.start, s.cpuPressure.end]).filter((p): p is number => p !== null)
  if (pressures.length > 0) notes.push(`CPU pressure (some tasks waiting for a CPU, 60 s average) from ${Math.min(...pressures).toFixed(0)} % to ${Math.max(...pressures).toFixed(0)} % around the runs`)
  for (const s of samples) {
    if (s.error !== undefined) {
      const late = s.lateConvergedMs === undefined ? '' : s.lateConvergedMs === null ? `; still not converged ${s2(LATE_WATCH_MS)} later` : `; converged late, ${s2(s.lateConvergedMs)} after up() was called`
      // The log paths and the advice to inspect the peers are for a person at the CLI; the suite has stopped them.
      const why = s.error.replace(/ \(log: [^)]*\)/g, '').replace(/ The peers keep running:.*$/, '')
        .replace(/not converged: ([^.]*)\./, (_, list: string) => {
          const names = list.split(', ')
          return `not converged: ${names.length} peer(s): ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', …' : '.'}`
        })
      notes.push(`${s.peers} peers, run ${s.run}: up() failed after ${s2(s.failedAfterMs!)}${late}: ${why}`)
      // Per region only: the per-peer lines are in the JSON and the progress output.
      if (s.regions !== undefined) notes.push(`${s.peers} peers, run ${s.run}, when up() gave up:\n  ${s.regions.join('\n  ')}`)
      if (s.regionsAfterWatch !== undefined) notes.push(`${s.peers} peers, run ${s.run}, at the end of the late watch:\n  ${s.regionsAfterWatch.join('\n  ')}`)
    }
    if (s.down !== null && s.down.killed > 0) notes.push(`${s.peers} peers, run ${s.run}: down() had to SIGKILL ${s.down.killed} peer(s) that did not stop within 10 s`)
    for (const l of s.leftover) notes.push(`${s.peers} peers, run ${s.run}: left behind: pid ${l.pid} ${l.cmd}`)
  }
  // Cleanup already under way means a Ctrl-C raced the end of the run: kept, but not as the figure to compare with.
  const paths = await writeResults('testnet', { ...header, summary: rows.map(r => r.summary), notes, samples }, { complete: !cleanup.closed })
  process.stdout.write(`\ntestnet: up() of ${opts.sizes.join(', ')} peers in ${REGIONS} regions (process runtime; profile local up to 24 peers, lan above, as grove testnet up chooses), ${opts.runs} run(s) each, on ${header.cpus} CPU(s), node ${header.node}, ${header.date}\n\n`)
  process.stdout.write(formatTable(TABLE_HEADERS, rows.map(r => r.cells)) + '\n')
  process.stdout.write('\ntargets: the issue gives none for these figures; a testnet that does not converge, or leaves a process behind, fails.\n')
  process.stdout.write('reference: figures from anchors.md, measured elsewhere on the same machine kind; not part of pass/fail.\n')
  if (notes.length > 0) process.stdout.write(`\nnotes:\n${notes.map(n => `- ${n}`).join('\n')}\n`)
  process.stdout.write(`\nresults: ${paths.join(', ')}\n`)
}

// ---------------------------------------------------------------------------------------------------------------
// Shared with deploy.ts.

/** Thrown from inside a poll to stop it at once instead of retrying until the timeout. */
export class Abort extends Error {
  override name = 'Abort'
}

/** A timed wait that never completed: the caller turns it into a sample of its own, counted as a failure. */
export class PollTimeout extends Error {
  override name = 'PollTimeout'
  constructor (readonly what: string, readonly timeoutMs: number, last: unknown) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : ` (last error: ${(last as Error).message})`}`)
  }
}

/**
 * Calls `check` every `intervalMs` (from the start of one call to the start of the next) until it returns a value,
 * and returns the time since `t0` at which that answer arrived: late by at most one interval plus one round trip.
 * Errors are retried (a daemon under load may miss a poll), except Abort.
 */
export async function pollFrom<T> (t0: number, intervalMs: number, timeoutMs: number, what: string, check: () => Promise<T | undefined>): Promise<{ ms: number, value: T }> {
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
    if (performance.now() - t0 > timeoutMs) throw new PollTimeout(what, timeoutMs, last)
    await sleep(Math.max(0, intervalMs - (performance.now() - started)))
  }
}

/**
 * Runs `teardown` once: when the returned function is called, or when the suite's Cleanup runs (success, crash or
 * Ctrl-C), whichever comes first; both wait for the same run.
 *
 * Cleanup knows daemons, child processes and dirs, and a testnet from up() is none of them: its peers are detached,
 * and their service instances (processes, containers) are not even our descendants. So the teardown stands in for a
 * daemon whose SIGTERM runs it. Cleanup awaits its daemons before it removes the dirs, which is the order a teardown
 * needs. (A generic hook in Cleanup would say this more plainly; cleanup.ts is not this suite's to change.)
 */
export function onCleanup (cleanup: Cleanup, name: string, teardown: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined
  let exit: (code: number) => void = () => {}
  const exited = new Promise<number | null>(resolve => { exit = resolve })
  const proc = {
    exitCode: null as number | null,
    signalCode: null,
    // stopDaemon sends SIGTERM, then SIGKILL after its grace period: both just wait for the one run.
    kill: (): boolean => {
      run().catch((err: Error) => { process.stderr.write(`${name}: teardown failed: ${err.message}\n`) })
      return true
    }
  }
  const run = async (): Promise<void> => {
    running ??= teardown().finally(() => {
      proc.exitCode = 0
      exit(0)
    })
    await running
  }
  const stand = {
    spec: { name, dataDir: '', p2pPort: 0, apiPort: 0 },
    proc: proc as unknown as ChildProcess,
    pid: 0,
    peerId: '',
    token: '',
    api: '',
    multiaddr: '',
    logFile: '',
    exited
  } satisfies RunningDaemon
  cleanup.daemon(stand)
  return async () => {
    await run()
    cleanup.forget(stand)
  }
}

/**
 * Base ports for up(), which lays a testnet out as p2p ports base..base+n-1 and API ports base+max(80, n)..: a block
 * below the kernel's ephemeral range (so freePort() elsewhere never hands out one of ours), at a random offset (so two
 * benchmarks on one host rarely collide), every port of it free now, and never the same block twice in a run.
 */
export class PortBlocks {
  private readonly used: Array<[number, number]> = []
  private static readonly LOW = 20_000
  private static readonly HIGH = 32_000

  async next (peers: number): Promise<number> {
    const apiOffset = Math.max(80, peers)
    const span = apiOffset + peers
    for (let attempt = 0; attempt < 100; attempt++) {
      const base = PortBlocks.LOW + Math.floor(Math.random() * (PortBlocks.HIGH - PortBlocks.LOW - span))
      if (this.used.some(([lo, hi]) => base < hi && base + span > lo)) continue
      const ports = Array.from({ length: peers }, (_, i) => [base + i, base + apiOffset + i]).flat()
      if ((await Promise.all(ports.map(portFree))).every(Boolean)) {
        this.used.push([base, base + span])
        return base
      }
    }
    throw new Error(`no block of ${span} ports with ${2 * peers} free ones between ${PortBlocks.LOW} and ${PortBlocks.HIGH}`)
  }
}

async function portFree (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const s = createServer()
    s.once('error', () => { resolve(false) })
    s.listen(port, '127.0.0.1', () => { s.close(() => { resolve(true) }) })
  })
}

/** Whether a process exists and is not a zombie (a zombie still answers kill(pid, 0)). */
export function isLive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The state is the first field after the command name, which is in parentheses and may hold anything.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z'
  } catch {
    // Gone between the two looks.
    return false
  }
}

/** Every process (but this one) with an argument that mentions `dir`: daemons, `ip netns exec` wrappers, and so on. */
export async function processesNaming (dir: string): Promise<Array<{ pid: number, cmd: string }>> {
  const found: Array<{ pid: number, cmd: string }> = []
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').filter(a => a !== '')
      if (args.some(a => a.includes(dir))) found.push({ pid: Number(entry), cmd: args.join(' ').slice(0, 200) })
    } catch {}
  }
  return found
}

/** The kernel's CPU pressure: % of the last 60 s in which some runnable task waited for a CPU; null without PSI. */
export async function cpuPressure (): Promise<number | null> {
  try {
    const m = /^some avg10=[\d.]+ avg60=([\d.]+)/m.exec(await readFile('/proc/pressure/cpu', 'utf8'))
    return m === null ? null : Number(m[1])
  } catch {
    return null
  }
}

/** Lines matching `pattern` in every peer's daemon.log of a testnet dir. */
export async function countLogLines (dir: string, pattern: RegExp): Promise<number> {
  let n = 0
  for (const entry of (await readdir(dir).catch(() => [] as string[])).filter(e => /^peer-\d+$/.test(e))) {
    const text = await readFile(join(dir, entry, 'daemon.log'), 'utf8').catch(() => '')
    for (const line of text.split('\n')) if (pattern.test(line)) n++
  }
  return n
}

interface PeerStatus { role: string, leader: string | null, term: number }
interface PeerNodes { nodes: Array<{ peerId: string, name: string, state: string }> }

/** One peer's view of its region, for when a testnet does not converge. */
export interface PeerView {
  name: string
  region: string
  role?: string
  term?: number
  leader?: string
  /** The peers of its region it does not list alive, as name:state. */
  notAlive: string[]
  regionSize: number
  error?: string
}

export async function viewTestnet (t: TestnetFile): Promise<PeerView[]> {
  const names = new Map(t.peers.map(p => [p.peerId, p.name]))
  return await Promise.all(t.peers.map(async (p): Promise<PeerView> => {
    const region = t.peers.filter(q => q.region === p.region)
    try {
      const [status, view] = await Promise.all([apiGet<PeerStatus>(p, '/api/v1/status'), apiGet<PeerNodes>(p, '/api/v1/nodes')])
      const notAlive = region.filter(q => !view.nodes.some(n => n.peerId === q.peerId && n.state === 'alive'))
        .map(q => `${q.name}:${view.nodes.find(n => n.peerId === q.peerId)?.state ?? 'unknown'}`)
      const leader = status.leader === null ? 'none' : names.get(status.leader) ?? status.leader
      return { name: p.name, region: p.region, role: status.role, term: status.term, leader, notAlive, regionSize: region.length }
    } catch (err) {
      return { name: p.name, region: p.region, notAlive: [], regionSize: region.length, error: (err as Error).message }
    }
  }))
}

/** One line per peer: its role and leader, and the peers of its region it does not see alive. */
export function describeViews (views: readonly PeerView[]): string {
  return views.map(v => v.error !== undefined
    ? `  ${v.name} (${v.region}): API error: ${v.error}`
    : `  ${v.name} (${v.region}): ${v.role ?? '?'}, term ${v.term ?? '?'}, leader ${v.leader ?? '?'}; ${v.notAlive.length === 0 ? `sees all ${v.regionSize} alive` : `does not see alive: ${v.notAlive.join(' ')}`}`
  ).join('\n')
}

/**
 * One line per region: who claims to lead it and how many follow each, how many peers miss a region peer, and the
 * islands (peers that see no other peer of their region alive: a join that never happened).
 */
export function summariseViews (views: readonly PeerView[]): string[] {
  const regions = [...new Set(views.map(v => v.region))]
  return regions.map(region => {
    const mine = views.filter(v => v.region === region)
    const leaders = mine.filter(v => v.role === 'leader')
      .map(l => `${l.name} (term ${l.term ?? '?'}, ${mine.filter(v => v !== l && v.leader === l.name).length} followers)`)
    const missing = mine.filter(v => v.notAlive.length > 0).length
    const islands = mine.filter(v => v.error === undefined && v.regionSize > 1 && v.notAlive.length >= v.regionSize - 1).map(v => v.name)
    const errors = mine.filter(v => v.error !== undefined).length
    return `${region}: ${leaders.length} leader(s)${leaders.length === 0 ? '' : `: ${leaders.join(', ')}`}; ${missing}/${mine.length} peers miss a region peer` +
      `${islands.length === 0 ? '' : `; ${islands.length} island(s), seeing no region peer alive: ${islands.join(', ')}`}${errors === 0 ? '' : `; ${errors} API error(s)`}`
  })
}

/** The columns every suite but mesh prints: mesh keeps its own (max instead of p90). */
export const TABLE_HEADERS = ['measure', 'median', 'p90', 'target', 'pass', 'baseline/ratio', 'reference (not measured here)'] as const

export interface Row { cells: string[], summary: unknown }

/**
 * A row of the table. The p90 is left out for a single sample, where it would only repeat the median. `targetText`
 * replaces the generated "≤ target (median)" where a target needs words.
 */
export function row (summary: Summary, fmt: (v: number) => string, baseline: string, reference: string, targetText?: string): Row {
  const value = (v: number): string => Number.isFinite(v) ? fmt(v) : '—'
  const p90 = summary.n <= 1 ? '—' : value(summary.p90)
  const target = targetText ?? (summary.target === null ? '—' : `≤ ${fmt(summary.target)}${summary.n <= 1 ? '' : summary.judgedOn === 'max' ? ' (every run)' : ' (median)'}`)
  const pass = summary.pass === null ? '—' : summary.pass ? 'pass' : 'FAIL'
  return { cells: [summary.measure, value(summary.median), p90, target, pass, baseline, reference], summary }
}
