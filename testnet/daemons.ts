// Spawning real `grove daemon` processes through the CLI, for the tests, the benchmarks and (later) the testnet.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { openSync, closeSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PACKAGE_ROOT } from '../node/version.js'

/** Node flags for daemons, as in the shebang of node/cli/main.ts. */
export const NODE_FLAGS = ['--max-semi-space-size=1']

/** The built CLI (dist/cli/grove.js, the bundle that package.json's bin names), wherever this module runs from. */
export function groveBin (): string {
  if (PACKAGE_ROOT === undefined) throw new Error('cannot find grove\'s package.json above this module: run grove from its package')
  return join(PACKAGE_ROOT, 'dist', 'cli', 'grove.js')
}

/** Ports that were free a moment ago: bind to port 0 and let the kernel choose. */
export async function freePort (): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => { resolvePort(port) })
    })
  })
}

export interface DaemonSpec {
  name: string
  region?: string
  dataDir: string
  p2pPort: number
  /** Listen addresses instead of 127.0.0.1:p2pPort (e.g. only /p2p-circuit). */
  listen?: string[]
  apiPort: number
  profile?: 'local' | 'lan' | 'wan'
  join?: string[]
  extraArgs?: string[]
  env?: NodeJS.ProcessEnv
  /** Extra node flags, e.g. --expose-gc. */
  nodeArgs?: string[]
}

export interface RunningDaemon {
  spec: DaemonSpec
  proc: ChildProcess
  pid: number
  peerId: string
  token: string
  api: string
  multiaddr: string
  logFile: string
  exited: Promise<number | null>
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Polls `fn` until it returns a value other than undefined/false, or throws the last error after `timeoutMs`. */
export async function eventually<T> (fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, what = 'condition', intervalMs = 100): Promise<T> {
  const started = Date.now()
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
      last = undefined
    } catch (err) {
      last = err
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${(last as Error).message}`}`)
    }
    await sleep(intervalMs)
  }
}

export async function startDaemon (spec: DaemonSpec): Promise<RunningDaemon> {
  await mkdir(spec.dataDir, { recursive: true })
  const logFile = join(spec.dataDir, 'daemon.log')
  const args = [
    ...(spec.nodeArgs ?? NODE_FLAGS), groveBin(), 'daemon',
    '--data-dir', spec.dataDir,
    '--name', spec.name,
    ...(spec.listen ?? [`/ip4/127.0.0.1/tcp/${spec.p2pPort}`]).flatMap(l => ['--listen', l]),
    '--api', `127.0.0.1:${spec.apiPort}`,
    '--profile', spec.profile ?? 'local',
    ...(spec.region === undefined ? [] : ['--region', spec.region]),
    ...(spec.join ?? []).flatMap(j => ['--join', j]),
    ...(spec.extraArgs ?? [])
  ]
  const fd = openSync(logFile, 'a')
  const proc = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...spec.env } })
  closeSync(fd)
  const exited = new Promise<number | null>(resolve => proc.once('exit', (code) => { resolve(code) }))
  let exitCode: number | null | undefined
  void exited.then(c => { exitCode = c })
  const api = `http://127.0.0.1:${spec.apiPort}`
  const token = await eventually(async () => {
    if (exitCode !== undefined) throw new Error(`daemon ${spec.name} exited with ${exitCode}; see ${logFile}`)
    const t = (await readFile(join(spec.dataDir, 'api-token'), 'utf8')).trim()
    const res = await fetch(`${api}/healthz`)
    return res.ok ? t : undefined
  }, 30_000, `daemon ${spec.name} to answer on ${api}`)
  const status = await apiGet<{ peerId: string, addrs: string[] }>({ api, token }, '/api/v1/status')
  return { spec, proc, pid: proc.pid!, peerId: status.peerId, token, api, multiaddr: status.addrs[0], logFile, exited }
}

export async function apiGet<T> (d: { api: string, token: string }, path: string): Promise<T> {
  const res = await fetch(`${d.api}${path}`, { headers: { authorization: `Bearer ${d.token}` }, signal: AbortSignal.timeout(10_000) })
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${await res.text()}`)
  return await res.json() as T
}

export async function apiPost<T> (d: { api: string, token: string }, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${d.api}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000)
  })
  if (!res.ok) throw new Error(`POST ${path}: HTTP ${res.status} ${await res.text()}`)
  return await res.json() as T
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null when killed by a signal). */
export async function stopDaemon (d: RunningDaemon, graceMs = 10_000): Promise<number | null> {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null) return d.proc.exitCode
  d.proc.kill('SIGTERM')
  const timer = setTimeout(() => { d.proc.kill('SIGKILL') }, graceMs)
  const code = await d.exited
  clearTimeout(timer)
  return code
}

export async function killDaemon (d: RunningDaemon): Promise<void> {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null) return
  d.proc.kill('SIGKILL')
  await d.exited
}
