// The local multi-peer testnet: real `grove` processes, detached, each with its own data dir, log and API port.
// `up` founds region-0 (a new private mesh), founds the other regions with region-0's ticket, and joins the rest
// with their region's ticket, all through the CLI; then it waits for convergence. testnet.json records the result;
// other tools and tests read it, so its shape is kept stable.
import { spawn, execFile } from 'node:child_process'
import { openSync, closeSync, existsSync, readFileSync } from 'node:fs'
import { mkdir, readFile, writeFile, rename, readdir, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { groveBin, sleep, NODE_FLAGS } from './daemons.js'
import { DockerRuntime, ProcessRuntime, type Runtime } from '../node/runtime/index.js'
import { netnsAvailable, setupNetns, teardownNetns, peerAddress, partitionPeers, healAll, type NetnsPlan } from './netns.js'

const run = promisify(execFile)

export type Isolation = 'none' | 'netns'
export type RuntimeChoice = 'process' | 'docker' | 'none'

export interface TestnetPeer {
  name: string
  region: string
  peerId: string
  api: string
  token: string
  dataDir: string
  pid: number | null
  multiaddrs: string[]
  /** Where it listens; kept so that `restart` brings it back at the same addresses. */
  listen: string
  apiListen: string
  netns?: string
}

export interface TestnetFile {
  dir: string
  profile: 'local' | 'lan'
  runtime: RuntimeChoice
  isolation: Isolation
  latencyMs?: number
  latencyMode?: 'netem' | 'userspace'
  peers: TestnetPeer[]
}

export interface UpOptions {
  peers: number
  regions: number
  dir: string
  runtime: RuntimeChoice
  profile: 'local' | 'lan'
  basePort: number
  isolation: Isolation
  latencyMs?: number
  /** Progress lines go here (stderr by default). */
  progress?: (line: string) => void
  timeoutMs?: number
}

export class TestnetError extends Error {
  static readonly NAME = 'TestnetError'
  override name = TestnetError.NAME
}

export const TESTNET_FILE = 'testnet.json'

export async function readTestnet (dir: string): Promise<TestnetFile | undefined> {
  try {
    return JSON.parse(await readFile(join(resolve(dir), TESTNET_FILE), 'utf8')) as TestnetFile
  } catch {
    return undefined
  }
}

async function writeTestnet (t: TestnetFile): Promise<void> {
  const path = join(t.dir, TESTNET_FILE)
  await writeFile(`${path}.tmp`, JSON.stringify(t, null, 2) + '\n')
  await rename(`${path}.tmp`, path)
}

/** Whether `pid` is alive and is a grove process of this testnet (pids are reused). */
function ownsPid (pid: number | null, dataDir: string): boolean {
  if (pid === null) return false
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    return cmdline.includes(dataDir)
  } catch {
    return true
  }
}

async function portFree (port: number, host: string): Promise<boolean> {
  return await new Promise(resolvePort => {
    const s = createServer()
    s.once('error', () => { resolvePort(false) })
    s.listen(port, host, () => { s.close(() => { resolvePort(true) }) })
  })
}

async function apiJson<T> (p: { api: string, token: string }, path: string): Promise<T> {
  const res = await fetch(`${p.api}${path}`, { headers: { authorization: `Bearer ${p.token}` }, signal: AbortSignal.timeout(3000) })
  if (!res.ok) throw new Error(`HTTP ${res.status}`)
  return await res.json() as T
}

interface Launch {
  args: string[]
  dataDir: string
  netns?: string
  env?: NodeJS.ProcessEnv
}

/** Starts a detached grove process logging to <dataDir>/daemon.log; returns its pid. */
function launch (l: Launch): number {
  const logFd = openSync(join(l.dataDir, 'daemon.log'), 'a')
  const command = l.netns === undefined ? process.execPath : 'ip'
  // The same V8 flag the grove command's shebang passes: a small young generation keeps an idle daemon's RSS down.
  const args = l.netns === undefined ? [...NODE_FLAGS, groveBin(), ...l.args] : ['netns', 'exec', l.netns, process.execPath, ...NODE_FLAGS, groveBin(), ...l.args]
  const child = spawn(command, args, { detached: true, stdio: ['ignore', logFd, logFd], env: { ...process.env, ...l.env } })
  closeSync(logFd)
  child.unref()
  if (child.pid === undefined) throw new TestnetError(`cannot start ${command}`)
  return child.pid
}

async function waitForApi (p: { api: string, dataDir: string, pid: number | null }, timeoutMs: number): Promise<{ token: string, peerId: string, multiaddrs: string[] }> {
  const started = Date.now()
  for (;;) {
    if (p.pid !== null && !ownsPid(p.pid, p.dataDir) && Date.now() - started > 500) {
      throw new TestnetError(`the peer in ${p.dataDir} exited during start-up; see ${join(p.dataDir, 'daemon.log')}`)
    }
    try {
      const token = (await readFile(join(p.dataDir, 'api-token'), 'utf8')).trim()
      const s = await apiJson<{ peerId: string, addrs: string[] }>({ api: p.api, token }, '/api/v1/status')
      return { token, peerId: s.peerId, multiaddrs: s.addrs }
    } catch {}
    if (Date.now() - started > timeoutMs) throw new TestnetError(`the peer in ${p.dataDir} did not answer on ${p.api} within ${timeoutMs} ms; see ${join(p.dataDir, 'daemon.log')}`)
    await sleep(100)
  }
}

/** The arguments that start (or restart) a peer at its recorded addresses. */
function daemonArgs (t: { profile: string, runtime: RuntimeChoice, isolation: Isolation }, p: TestnetPeer): string[] {
  // --runtime docker offers both runtimes (a process service still runs); process offers processes only.
  const runtimes = t.runtime === 'docker' ? 'docker,process' : t.runtime
  // In its own namespace a peer can put service IPs on its loopback interface; on a shared host each peer maps
  // them into its own 127.N/16 so that the proxies of different peers do not collide.
  const index = Number(p.name.slice('peer-'.length))
  const overlay = t.isolation === 'netns' ? ['--overlay', 'privileged'] : ['--overlay', 'unprivileged', '--overlay-loopback', `127.${40 + (index % 200)}`]
  return ['--data-dir', p.dataDir, '--name', p.name, '--listen', p.listen, '--api', p.apiListen, '--profile', t.profile, '--runtimes', runtimes, ...overlay]
}

interface Convergence { converged: boolean, up: number, leaders: number, complete: number, missing: string[] }

/** One look at the testnet: which peers answer, which regions have one agreed leader, who sees their whole region. */
export async function convergence (t: TestnetFile): Promise<Convergence> {
  const regions = [...new Set(t.peers.map(p => p.region))]
  const views = await Promise.all(t.peers.map(async p => {
    try {
      const [status, nodes] = await Promise.all([
        apiJson<{ role: string, leader: string | null, peerId: string }>(p, '/api/v1/status'),
        apiJson<{ nodes: Array<{ peerId: string, state: string }> }>(p, '/api/v1/nodes')
      ])
      return { p, status, nodes: nodes.nodes }
    } catch {
      return { p, status: undefined, nodes: undefined }
    }
  }))
  let leaders = 0
  let complete = 0
  const missing: string[] = []
  for (const region of regions) {
    const members = views.filter(v => v.p.region === region)
    const ids = members.map(m => m.p.peerId).sort()
    const agreed = new Set(members.map(m => m.status?.leader ?? null))
    const leader = [...agreed][0]
    if (agreed.size === 1 && leader !== null && members.some(m => m.status?.peerId === leader && m.status.role === 'leader')) leaders++
    for (const m of members) {
      const alive = (m.nodes ?? []).filter(n => n.state === 'alive').map(n => n.peerId).sort()
      if (m.status !== undefined && JSON.stringify(alive) === JSON.stringify(ids)) complete++
      else missing.push(m.p.name)
    }
  }
  const up = views.filter(v => v.status !== undefined).length
  return { converged: leaders === regions.length && complete === t.peers.length, up, leaders, complete, missing }
}

export async function up (opts: UpOptions): Promise<TestnetFile> {
  const progress = opts.progress ?? ((line: string) => { process.stderr.write(line + '\n') })
  if (!Number.isInteger(opts.peers) || opts.peers < 1 || opts.peers > 200) throw new TestnetError('--peers: must be an integer from 1 to 200')
  if (!Number.isInteger(opts.regions) || opts.regions < 1 || opts.regions > opts.peers) throw new TestnetError(`--regions: must be an integer from 1 to --peers (${opts.peers})`)
  if (opts.isolation === 'netns' && !netnsAvailable()) throw new TestnetError('--isolation netns: needs root and the ip command (run as root, or use the default --isolation none)')
  if (opts.latencyMs !== undefined && opts.isolation !== 'netns') throw new TestnetError('--latency: needs --isolation netns (regions share one loopback otherwise)')
  const dir = resolve(opts.dir)
  const existing = await readTestnet(dir)
  if (existing !== undefined && existing.peers.some(p => ownsPid(p.pid, p.dataDir))) {
    throw new TestnetError(`a testnet is already running in ${dir} (stop it with: grove testnet down --dir ${opts.dir})`)
  }
  if (existing !== undefined || existsSync(join(dir, 'peer-0'))) {
    // A stopped or crashed testnet: start from scratch, including leftover namespaces.
    await down({ dir, progress: () => {} })
    for (const entry of await readdir(dir).catch(() => [])) {
      if (/^peer-\d+$/.test(entry)) await rm(join(dir, entry), { recursive: true, force: true })
    }
  }
  await mkdir(dir, { recursive: true })

  const apiOffset = Math.max(80, opts.peers)
  let plan: NetnsPlan | undefined
  if (opts.isolation === 'netns') {
    progress(`[testnet] creating ${opts.peers} network namespaces`)
    plan = await setupNetns({ dir, peers: opts.peers, regionOf: i => i % opts.regions })
  }
  const peers: TestnetPeer[] = []
  for (let i = 0; i < opts.peers; i++) {
    const name = `peer-${i}`
    const region = `region-${i % opts.regions}`
    const host = plan === undefined ? '127.0.0.1' : peerAddress(plan, i)
    const p2pPort = plan === undefined ? opts.basePort + i : 4100
    const apiPort = plan === undefined ? opts.basePort + apiOffset + i : 4180
    if (plan === undefined) {
      for (const port of [p2pPort, apiPort]) {
        if (!await portFree(port, '127.0.0.1')) throw new TestnetError(`--base-port: port ${port} on 127.0.0.1 is in use; choose another base port`)
      }
    }
    const dataDir = join(dir, name)
    await mkdir(dataDir, { recursive: true })
    peers.push({
      name, region, peerId: '', api: `http://${host}:${apiPort}`, token: '', dataDir, pid: null, multiaddrs: [],
      listen: `/ip4/${host}/tcp/${p2pPort}`, apiListen: `${host}:${apiPort}`, netns: plan?.namespaces[i]
    })
  }
  const t: TestnetFile = { dir, profile: opts.profile, runtime: opts.runtime, isolation: opts.isolation, peers }
  if (plan !== undefined && opts.latencyMs !== undefined) {
    t.latencyMs = opts.latencyMs
    t.latencyMode = plan.netem ? 'netem' : 'userspace'
  }
  const envFor = (i: number): NodeJS.ProcessEnv => plan === undefined || opts.latencyMs === undefined || plan.netem
    ? {}
    : { GROVE_EMULATE_DELAY: `${opts.latencyMs}@${plan.otherRegionCidrs(i).join(',')}` }
  if (plan !== undefined && opts.latencyMs !== undefined && plan.netem) await plan.applyNetem(opts.latencyMs)

  const started = Date.now()
  // Start-up alone takes about 3 s per peer on a 2-core host once dozens run (batches wait for each other).
  const timeoutMs = opts.timeoutMs ?? 60_000 + 3000 * opts.peers
  const bootTimeout = Math.min(timeoutMs, 30_000)
  const tickets = new Map<string, string>()
  const founders = peers.slice(0, opts.regions)
  // region-0's founder creates the mesh; the other founders join it with its ticket and found their regions.
  for (const [i, p] of founders.entries()) {
    const args = ['region', 'bootstrap', p.region, ...daemonArgs(t, p), ...(i === 0 ? [] : ['--ticket', tickets.get('region-0')!])]
    p.pid = launch({ args, dataDir: p.dataDir, netns: p.netns, env: envFor(i) })
    Object.assign(p, await waitForApi(p, bootTimeout))
    const { stdout } = await run(process.execPath, [groveBin(), 'region', 'ticket', '--data-dir', p.dataDir])
    tickets.set(p.region, stdout.trim())
    progress(`[testnet] ${p.name} founded ${p.region} (${p.peerId})`)
    await writeTestnet(t)
  }
  // Start-up costs about 0.4 s of CPU per peer. Starting dozens at once on a small machine starves the ones
  // already running of CPU (their failure detectors then see ghosts), so peers start in batches of BATCH, each
  // batch once the previous one answers.
  const BATCH = 4
  const rest = peers.slice(opts.regions)
  for (let b = 0; b < rest.length; b += BATCH) {
    const batch = rest.slice(b, b + BATCH)
    for (const [k, p] of batch.entries()) {
      p.pid = launch({ args: ['daemon', ...daemonArgs(t, p), '--ticket', tickets.get(p.region)!], dataDir: p.dataDir, netns: p.netns, env: envFor(opts.regions + b + k) })
    }
    for (const p of batch) {
      Object.assign(p, await waitForApi(p, Math.max(bootTimeout, timeoutMs - (Date.now() - started))))
    }
    if (rest.length > BATCH) progress(`[testnet] ${Math.min(b + BATCH, rest.length) + opts.regions}/${peers.length} peers started`)
  }
  await writeTestnet(t)
  progress(`[testnet] ${peers.length} peers started in ${((Date.now() - started) / 1000).toFixed(1)} s; waiting for convergence`)

  let last = ''
  for (;;) {
    const c = await convergence(t)
    const line = `[testnet] converging: ${c.up}/${peers.length} peers up, ${c.leaders}/${opts.regions} regions with one leader, ${c.complete}/${peers.length} peers see their whole region`
    if (line !== last) { progress(line); last = line }
    if (c.converged) break
    if (Date.now() - started > timeoutMs) {
      const missing = c.missing.map(name => `${name} (log: ${join(dir, name, 'daemon.log')})`).join(', ')
      throw new TestnetError(`no convergence within ${Math.round(timeoutMs / 1000)} s; not converged: ${missing === '' ? 'a region has no single leader' : missing}. The peers keep running: inspect them, then grove testnet down --dir ${opts.dir}`)
    }
    await sleep(250)
  }
  progress(`[testnet] converged in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return t
}

export interface DownOptions { dir: string, progress?: (line: string) => void, graceMs?: number }

/** The bundled CLI (dist/cli/grove.js), or the unbundled entry point an older build ran (dist/node/cli/main.js). */
const isGroveEntry = (arg: string): boolean => arg.endsWith('/cli/grove.js') || arg.endsWith('/cli/main.js')

/** Grove processes whose command line names this testnet's directory, recorded or not (a crashed `up`). */
async function strayPids (dir: string): Promise<number[]> {
  const pids: number[] = []
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0')
      if (cmd.some(isGroveEntry) && cmd.some(a => a.startsWith(join(dir, 'peer-')))) pids.push(Number(entry))
    } catch {}
  }
  return pids
}

/** Stops every peer (SIGTERM, then SIGKILL after graceMs) and removes namespaces. Safe to run twice. */
export async function down (opts: DownOptions): Promise<{ stopped: number, killed: number }> {
  const dir = resolve(opts.dir)
  const progress = opts.progress ?? ((line: string) => { process.stderr.write(line + '\n') })
  const t = await readTestnet(dir)
  const pids = new Set<number>(await strayPids(dir))
  for (const p of t?.peers ?? []) if (p.pid !== null && ownsPid(p.pid, p.dataDir)) pids.add(p.pid)
  for (const pid of pids) {
    try { process.kill(pid, 'SIGTERM') } catch {}
  }
  const deadline = Date.now() + (opts.graceMs ?? 10_000)
  const alive = (): number[] => [...pids].filter(pid => { try { process.kill(pid, 0); return true } catch { return false } })
  while (alive().length > 0 && Date.now() < deadline) await sleep(100)
  const stubborn = alive()
  for (const pid of stubborn) {
    try { process.kill(pid, 'SIGKILL') } catch {}
  }
  const instances = await stopInstances(t)
  const removed = await teardownNetns(dir)
  if (t !== undefined) {
    for (const p of t.peers) p.pid = null
    await writeTestnet(t)
  }
  progress(pids.size === 0 && removed === 0
    ? `[testnet] nothing running in ${dir}`
    : `[testnet] stopped ${pids.size - stubborn.length} peers cleanly${stubborn.length > 0 ? `, killed ${stubborn.length} that did not stop within 10 s` : ''}${instances > 0 ? `, stopped ${instances} service instances` : ''}${removed > 0 ? `, removed ${removed} network leftovers` : ''}`)
  return { stopped: pids.size - stubborn.length, killed: stubborn.length }
}

/**
 * Stops the service instances the testnet's peers started. A daemon leaves its instances running when it stops (its
 * next life adopts them), but a testnet that goes down must leave nothing behind.
 */
async function stopInstances (t: TestnetFile | undefined): Promise<number> {
  if (t === undefined) return 0
  let stopped = 0
  const docker = new DockerRuntime({})
  const dockerUp = await docker.available().catch(() => false)
  for (const p of t.peers) {
    if (p.peerId === '') continue
    stopped += await stopLeftInstances(p.dataDir, p.peerId, dockerUp ? docker : undefined)
  }
  await docker.close()
  return stopped
}

/**
 * Stops the instances a stopped daemon left running (its next life would adopt them): its process instances, and
 * its containers when `docker` is given. For daemons that have no next life, such as a test's.
 */
export async function stopLeftInstances (dataDir: string, peerId: string, docker?: Runtime): Promise<number> {
  let stopped = 0
  const processes = new ProcessRuntime({ dataDir })
  try {
    for (const runtime of docker === undefined ? [processes] : [processes, docker]) {
      for (const inst of await runtime.list(peerId).catch(() => [])) {
        await runtime.stop(inst.id, { timeoutMs: 2000 }).catch(() => {})
        stopped++
      }
    }
  } finally {
    await processes.close()
  }
  return stopped
}

export function findPeer (t: TestnetFile, name: string): TestnetPeer {
  const p = t.peers.find(x => x.name === name || x.name === `peer-${name}` || x.peerId === name)
  if (p === undefined) throw new TestnetError(`PEER: no peer "${name}" in this testnet (peers: ${t.peers.map(x => x.name).join(', ')})`)
  return p
}

export async function requireTestnet (dir: string): Promise<TestnetFile> {
  const t = await readTestnet(dir)
  if (t === undefined) throw new TestnetError(`no testnet in ${resolve(dir)} (start one with: grove testnet up --dir ${dir})`)
  return t
}

export async function kill (dir: string, name: string): Promise<TestnetPeer> {
  const t = await requireTestnet(dir)
  const p = findPeer(t, name)
  if (!ownsPid(p.pid, p.dataDir)) throw new TestnetError(`${p.name} is not running (start it with: grove testnet restart ${p.name})`)
  process.kill(p.pid!, 'SIGKILL')
  while (ownsPid(p.pid, p.dataDir)) await sleep(20)
  p.pid = null
  await writeTestnet(t)
  return p
}

export async function restart (dir: string, name: string): Promise<TestnetPeer> {
  const t = await requireTestnet(dir)
  const p = findPeer(t, name)
  if (ownsPid(p.pid, p.dataDir)) {
    process.kill(p.pid!, 'SIGTERM')
    const deadline = Date.now() + 10_000
    while (ownsPid(p.pid, p.dataDir) && Date.now() < deadline) await sleep(50)
    if (ownsPid(p.pid, p.dataDir)) process.kill(p.pid!, 'SIGKILL')
  }
  const index = t.peers.indexOf(p)
  const env = t.latencyMs !== undefined && t.latencyMode === 'userspace' && p.netns !== undefined
    ? { GROVE_EMULATE_DELAY: `${t.latencyMs}@${otherRegionCidrsOf(t, index).join(',')}` }
    : {}
  // config.json in the data dir remembers the region and the bootstrap peers.
  p.pid = launch({ args: ['daemon', ...daemonArgs(t, p)], dataDir: p.dataDir, netns: p.netns, env })
  Object.assign(p, await waitForApi(p, 30_000))
  await writeTestnet(t)
  return p
}

function otherRegionCidrsOf (t: TestnetFile, index: number): string[] {
  const mine = t.peers[index].region
  return [...new Set(t.peers.filter(p => p.region !== mine).map(p => new URL(p.api).hostname + '/32'))]
}

export async function partition (dir: string, names: string[]): Promise<TestnetPeer[]> {
  const t = await requireTestnet(dir)
  if (t.isolation !== 'netns') throw new TestnetError('partition needs a testnet started with --isolation netns')
  const cut = names.map(n => findPeer(t, n))
  await partitionPeers(t, cut)
  return cut
}

export async function heal (dir: string): Promise<void> {
  const t = await requireTestnet(dir)
  if (t.isolation !== 'netns') throw new TestnetError('heal needs a testnet started with --isolation netns')
  await healAll(t)
}

export { ownsPid }
