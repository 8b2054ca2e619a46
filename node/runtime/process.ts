// The process runtime: each instance is a plain host process, for hosts without Docker and for fast local testnets.
//
// An instance lives in <dataDir>/instances/<service>-<instance>/:
//   instance.json  who it is (pid + start time, service, instance, peer, endpoints), and its exit code once known
//   output.log     its stdout and stderr, appended
// The files, not this object, are the truth: a new ProcessRuntime on the same dataDir (the daemon restarted) lists,
// stops, tails and watches the instances an earlier one started, since children are detached and outlive the daemon.
//
// A pid alone is not an identity (the kernel reuses them), so every record also holds the process's start time
// (/proc/<pid>/stat field 22). An instance is running only when its pid is alive with that same start time.
//
// Each instance runs in its own process group (spawn with detached: true makes it a session and group leader), so
// stop() signals the whole group: a shell's background children go too. An instance that moves its processes to
// another group or session escapes that; the runtime does not chase them.
//
// Limits: memoryMiB and vcpus are NOT enforced for processes. Doing it would take cgroups (root, or a delegated
// cgroup v2 subtree), which this runtime deliberately does without; the scheduler still counts them when it places
// instances, so a host is not overcommitted on paper, but a greedy process can use more than it asked for.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import { closeSync, mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, rm, stat as fileStat, writeFile } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { sleep } from '../clock.js'
import { logger } from '../log.js'
import { LineSplitter, linkSignals } from './lines.js'
import { CLOCK_TICKS_PER_SECOND, groupMembers, isLive, readProcStat, readProcStatSync, residentBytes } from './proc.js'
import { RuntimeError } from './types.js'
import type { Endpoint, InstanceSpec, InstanceStats, LogOptions, PortRequest, Runtime, RuntimeInstance } from './types.js'

const log = logger('runtime:process')

const RECORD = 'instance.json'
const OUTPUT = 'output.log'
const DEFAULT_STOP_TIMEOUT_MS = 5000
/** After SIGKILL, how long stop() waits to see the group gone before it gives up waiting (the kill is not undone). */
const KILL_WAIT_MS = 2000
/** How often stop() looks whether the group is gone yet. */
const STOP_POLL_MS = 25
/** How often a follow()ing log reader looks for new output. */
const FOLLOW_POLL_MS = 100
/** The window of the first stats() sample of an instance; later calls measure since the previous call. */
const STATS_WINDOW_MS = 100
const TAIL_CHUNK = 64 * 1024
/** The daemon's variables an instance inherits; everything else it gets from its spec. */
const INHERITED_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR']

/** Options of a ProcessRuntime. */
export interface ProcessRuntimeInit {
  /** Grove's data directory; instances live under `<dataDir>/instances`. */
  dataDir: string
  /**
   * How often instances this runtime did not spawn itself (adopted after a restart) are checked for having exited.
   *
   * @default 500
   */
  pollIntervalMs?: number
}

/** instance.json. Append-only in spirit: fields may be added, never renamed. */
interface InstanceRecord {
  version: 1
  id: string
  pid: number
  /** /proc/<pid>/stat field 22 at spawn. */
  startTime: number
  service: string
  instance: number
  peer: string
  /** Wall-clock ms. */
  startedAt: number
  endpoints: Endpoint[]
  cmd: string[]
  /** Set once the exit is known: the real code for our own children, -1 for adopted ones (their parent reaped it). */
  exitCode?: number
  /**
   * Set by stop() before it signals: whichever runtime object sees the process die then knows it was stopped, not
   * crashed, even if another one (or an earlier daemon) was stopping it.
   */
  stopping?: boolean
}

interface Found { dir: string, record: InstanceRecord }

export class ProcessRuntime implements Runtime {
  readonly kind = 'process' as const
  private readonly root: string
  private readonly pollIntervalMs: number
  private readonly listeners = new Set<(id: string, exitCode: number) => void>()
  /** Instances this object spawned, by id: their exit comes from the 'exit' event, with the real code. */
  private readonly children = new Map<string, { child: ChildProcess, exited: Promise<void> }>()
  /** Exit codes being written into instance records, by instance directory: a restart waits for them. */
  private readonly recording = new Map<string, Promise<void>>()
  /** Ids stop() was called on: their exit is not reported. Never pruned: ids are never reused, and they are short. */
  private readonly stopped = new Set<string>()
  /** id → instance directory, a cache of what the records say. */
  private readonly dirs = new Map<string, string>()
  /** Previous stats() sample per id, so CPU use is measured between calls. */
  private readonly cpuSamples = new Map<string, { ticks: number, at: number }>()
  private readonly closing = new AbortController()
  private poller: ReturnType<typeof setTimeout> | undefined
  private polling = false

  constructor (init: ProcessRuntimeInit) {
    this.root = path.join(init.dataDir, 'instances')
    this.pollIntervalMs = init.pollIntervalMs ?? 500
  }

  async available (): Promise<boolean> {
    // Everything here reads /proc and signals process groups.
    return process.platform === 'linux'
  }

  async start (spec: InstanceSpec, signal?: AbortSignal): Promise<RuntimeInstance> {
    signal?.throwIfAborted()
    this.assertOpen()
    const name = `${spec.service}/${spec.instance}`
    const [command, ...args] = spec.cmd
    if (command === undefined || command === '') {
      throw new RuntimeError(`cannot start ${name}: the process runtime needs a command (cmd is empty)`, 'command')
    }
    const dir = path.join(this.root, instanceDirName(spec))
    // The exit of a previous life may still be being recorded: its late write would replace the new record.
    await this.recording.get(dir)
    const previous = await readRecord(dir)
    if (previous !== undefined && await this.isRunning(previous)) {
      throw new RuntimeError(`cannot start ${name}: it is already running (${previous.id})`, 'other')
    }

    const hostPorts = await assignPorts(spec.ports, signal)
    signal?.throwIfAborted()
    await mkdir(dir, { recursive: true })

    const endpoints: Endpoint[] = spec.ports.map((p, i) => ({ containerPort: p.container, protocol: p.protocol, host: '127.0.0.1', port: hostPorts[i] }))
    const out = openSync(path.join(dir, OUTPUT), 'a')
    let child: ChildProcess
    try {
      child = spawn(command, args, { cwd: dir, env: instanceEnv(spec, endpoints), detached: true, stdio: ['ignore', out, out] })
    } catch (err) {
      // spawn throws synchronously only for malformed arguments (a NUL byte in an argument, say).
      throw new RuntimeError(`cannot start ${name}: ${(err as Error).message}`, 'command')
    } finally {
      closeSync(out)
    }

    const pid = child.pid
    if (pid === undefined) {
      // ENOENT, EACCES: reported by an 'error' event on the next tick.
      const err = await new Promise<NodeJS.ErrnoException>(resolve => { child.once('error', resolve) })
      if (previous === undefined) await rm(dir, { recursive: true, force: true })
      const why = err.code === 'ENOENT' ? 'command not found' : err.code === 'EACCES' ? 'permission denied' : err.message
      throw new RuntimeError(`cannot start ${name}: ${command}: ${why}`, 'command')
    }
    child.on('error', err => { log.error('instance %s: %s', name, err.message) })

    // Read now, synchronously: the child cannot have been reaped yet (that needs a turn of the event loop), so its
    // /proc entry exists even if it has already exited.
    const startTime = readProcStatSync(pid)?.startTime ?? 0
    const record: InstanceRecord = {
      version: 1,
      id: `pid:${pid}:${startTime}`,
      pid,
      startTime,
      service: spec.service,
      instance: spec.instance,
      peer: spec.peer,
      startedAt: Date.now(),
      endpoints,
      cmd: spec.cmd
    }
    // Written synchronously too, so the exit handler below always finds the record to add the exit code to.
    try {
      writeRecordSync(dir, record)
    } catch (err) {
      // Untracked, it would run on unseen: a failed start undoes what did start.
      signalGroup(pid, 'SIGKILL')
      throw new RuntimeError(`cannot start ${name}: cannot write its record: ${(err as Error).message}`, 'other')
    }
    this.dirs.set(record.id, dir)

    const exited = new Promise<void>(resolve => {
      child.once('exit', (code, sig) => {
        resolve()
        this.childExited(record.id, dir, code ?? 128 + (sig === null ? 0 : os.constants.signals[sig] ?? 0))
      })
    })
    this.children.set(record.id, { child, exited })
    // The daemon must be able to exit while instances run on: they are adopted by the next daemon.
    child.unref()
    log('started %s as %s: %s', name, record.id, spec.cmd.join(' '))
    return describe(record, true)
  }

  async stop (id: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    const found = await this.find(id)
    if (found === undefined) return
    this.stopped.add(id)
    if (found.record.stopping !== true) {
      try {
        await writeRecord(found.dir, { ...found.record, stopping: true })
      } catch {} // a concurrent stop removed it already
    }
    await this.killGroup(found.record, opts.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS)
    const own = this.children.get(id)
    if (own !== undefined) await Promise.race([own.exited, sleep(KILL_WAIT_MS)])
    // Retried: a late write by another runtime object on the same directory can make one pass find it non-empty.
    await rm(found.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 })
    this.dirs.delete(id)
    this.cpuSamples.delete(id)
    log('stopped %s', id)
  }

  async list (peer: string): Promise<RuntimeInstance[]> {
    const all = await this.readAll()
    const mine = all.filter(f => f.record.peer === peer)
    return await Promise.all(mine.map(async f => describe(f.record, await this.isRunning(f.record))))
  }

  async * logs (id: string, opts: LogOptions = {}): AsyncIterable<string> {
    const found = await this.find(id)
    if (found === undefined) throw new RuntimeError(`no instance ${id}`, 'other')
    const file = path.join(found.dir, OUTPUT)
    const stop = linkSignals(opts.signal, this.closing.signal)
    let handle: FileHandle
    try {
      handle = await open(file, 'r')
    } catch {
      stop.clear()
      return
    }
    try {
      const splitter = new LineSplitter()
      let position = opts.tail === undefined ? 0 : await tailOffset(handle, opts.tail)
      const buf = Buffer.alloc(TAIL_CHUNK)
      // Reads to the current end of the file; returns whether anything was read.
      const drain = async function * (): AsyncGenerator<string, boolean> {
        let any = false
        for (;;) {
          const { bytesRead } = await handle.read(buf, 0, buf.length, position)
          if (bytesRead === 0) return any
          any = true
          position += bytesRead
          yield * splitter.push(buf.subarray(0, bytesRead))
        }
      }
      yield * drain()
      if (opts.follow === true) {
        for (;;) {
          if (stop.signal.aborted) return
          if ((await handle.stat()).size < position) position = 0 // truncated: start over
          if (yield * drain()) continue
          const current = await this.find(id)
          if (current === undefined || !(await this.isRunning(current.record))) {
            yield * drain() // whatever it wrote just before exiting
            break
          }
          try {
            await sleep(FOLLOW_POLL_MS, stop.signal)
          } catch {
            return
          }
        }
      }
      yield * splitter.flush()
    } finally {
      stop.clear()
      await handle.close()
    }
  }

  async stats (id: string): Promise<InstanceStats | undefined> {
    const found = await this.find(id)
    if (found === undefined || !(await this.isRunning(found.record))) return undefined
    const sample = async (): Promise<{ ticks: number, at: number, pids: number[] }> => {
      const members = await groupMembers(found.record.pid)
      return { ticks: members.reduce((sum, m) => sum + m.cpuTicks, 0), at: performance.now(), pids: members.map(m => m.pid) }
    }
    let before = this.cpuSamples.get(id)
    if (before === undefined) {
      before = await sample()
      await sleep(STATS_WINDOW_MS)
    }
    const now = await sample()
    this.cpuSamples.set(id, { ticks: now.ticks, at: now.at })
    // Ticks of processes that ended between the samples drop out of the sum, so the delta can dip below zero.
    const seconds = (now.at - before.at) / 1000
    const cpuPercent = seconds > 0 ? Math.max(0, (now.ticks - before.ticks) / CLOCK_TICKS_PER_SECOND / seconds * 100) : 0
    const memory = await Promise.all(now.pids.map(residentBytes))
    return { cpuPercent, memoryBytes: memory.reduce((a, b) => a + b, 0) }
  }

  onExit (listener: (id: string, exitCode: number) => void): () => void {
    this.listeners.add(listener)
    this.schedulePoll()
    return () => { this.listeners.delete(listener) }
  }

  async close (): Promise<void> {
    if (this.closing.signal.aborted) return
    this.closing.abort()
    if (this.poller !== undefined) clearTimeout(this.poller)
    this.poller = undefined
    this.listeners.clear()
  }

  private assertOpen (): void {
    if (this.closing.signal.aborted) throw new RuntimeError('the process runtime is closed', 'other')
  }

  private async isRunning (record: InstanceRecord): Promise<boolean> {
    const stat = await readProcStat(record.pid)
    return isLive(stat) && stat.startTime === record.startTime
  }

  private childExited (id: string, dir: string, exitCode: number): void {
    this.children.delete(id)
    if (this.closing.signal.aborted || this.stopped.has(id)) return
    void this.recordExit(id, dir, exitCode).then(recorded => {
      if (recorded) this.emit(id, exitCode)
    }, (err: Error) => { log.error('cannot record the exit of %s: %s', id, err.message) })
  }

  /**
   * Adds the exit code to an instance's record; false when the record is gone (stopped meanwhile). Registered in
   * `recording` while it runs, so that a start of the same instance waits: a read-then-write finishing after the
   * start would put the old life's record over the new one.
   */
  private async recordExit (id: string, dir: string, exitCode: number): Promise<boolean> {
    const writing = this.writeExit(id, dir, exitCode)
    const done = writing.then(() => {}, () => {})
    this.recording.set(dir, done)
    try {
      return await writing
    } finally {
      if (this.recording.get(dir) === done) this.recording.delete(dir)
    }
  }

  private async writeExit (id: string, dir: string, exitCode: number): Promise<boolean> {
    const record = await readRecord(dir)
    if (record?.id !== id || record.stopping === true || this.stopped.has(id)) return false
    record.exitCode = exitCode
    try {
      await writeRecord(dir, record)
    } catch (err) {
      log.error('cannot record the exit of %s: %e', id, err)
    }
    return true
  }

  private emit (id: string, exitCode: number): void {
    log('%s exited with %d', id, exitCode)
    for (const l of this.listeners) {
      try {
        l(id, exitCode)
      } catch (err) {
        log.error('exit listener failed: %e', err)
      }
    }
  }

  private schedulePoll (): void {
    if (this.poller !== undefined || this.closing.signal.aborted) return
    this.poller = setTimeout(() => {
      this.poller = undefined
      void this.poll().finally(() => { if (this.listeners.size > 0) this.schedulePoll() })
    }, this.pollIntervalMs)
    this.poller.unref()
  }

  /**
   * Finds instances that exited while nobody was their parent here: spawned by an earlier daemon, or by another
   * ProcessRuntime object. Their exit status went to whoever reaped them, so the code is unknown: -1. Recording it
   * in the file reports each such exit once, across restarts too.
   */
  private async poll (): Promise<void> {
    if (this.polling) return
    this.polling = true
    try {
      for (const { dir, record } of await this.readAll()) {
        if (record.exitCode !== undefined || record.stopping === true || this.children.has(record.id) || this.stopped.has(record.id)) continue
        if (await this.isRunning(record)) continue
        if (this.closing.signal.aborted) return
        if (await this.recordExit(record.id, dir, -1)) this.emit(record.id, -1)
      }
    } catch (err) {
      log.error('polling instances failed: %e', err)
    } finally {
      this.polling = false
    }
  }

  /**
   * SIGTERM to the group, SIGKILL to whatever is left after timeoutMs. Group members are found through /proc, so
   * zombies (exited, not yet reaped by whoever their parent now is) do not count as left.
   */
  private async killGroup (record: InstanceRecord, timeoutMs: number): Promise<void> {
    if (!(await groupAlive(record))) return
    signalGroup(record.pid, 'SIGTERM')
    if (await waitGone(record, timeoutMs)) return
    log('%s did not stop within %d ms: SIGKILL', record.id, timeoutMs)
    signalGroup(record.pid, 'SIGKILL')
    if (!(await waitGone(record, KILL_WAIT_MS))) log.error('%s: processes of group %d survived SIGKILL', record.id, record.pid)
  }

  private async find (id: string): Promise<Found | undefined> {
    const cached = this.dirs.get(id)
    if (cached !== undefined) {
      const record = await readRecord(cached)
      if (record?.id === id) return { dir: cached, record }
      this.dirs.delete(id)
    }
    return (await this.readAll()).find(f => f.record.id === id)
  }

  private async readAll (): Promise<Found[]> {
    let names: string[]
    try {
      names = await readdir(this.root)
    } catch {
      return []
    }
    const found = await Promise.all(names.map(async name => {
      const dir = path.join(this.root, name)
      const record = await readRecord(dir)
      return record === undefined ? undefined : { dir, record }
    }))
    const all = found.filter((f): f is Found => f !== undefined)
    for (const f of all) this.dirs.set(f.record.id, f.dir)
    return all
  }
}

function describe (record: InstanceRecord, running: boolean): RuntimeInstance {
  const instance: RuntimeInstance = {
    id: record.id,
    service: record.service,
    instance: record.instance,
    peer: record.peer,
    state: running ? 'running' : 'exited',
    startedAt: record.startedAt,
    endpoints: record.endpoints.map(e => ({ ...e }))
  }
  if (!running) instance.exitCode = record.exitCode ?? -1
  return instance
}

/** `<service>-<instance>`, with the service ID made safe for a file name (it is ours, but a '/' would escape). */
function instanceDirName (spec: InstanceSpec): string {
  return `${encodeURIComponent(spec.service)}-${spec.instance}`
}

/**
 * The daemon's basic variables (PATH, HOME, locale; not its secrets or NODE_OPTIONS), then the spec's, then the
 * ports: PORT is the first port request's host port, PORT_<containerPort> each one's, since a process cannot be
 * told to listen on its container port the way a container can be mapped.
 */
function instanceEnv (spec: InstanceSpec, endpoints: Endpoint[]): Record<string, string> {
  const env: Record<string, string> = {}
  for (const k of INHERITED_ENV) {
    const v = process.env[k]
    if (v !== undefined) env[k] = v
  }
  for (const entry of spec.env) {
    const eq = entry.indexOf('=')
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1)
  }
  if (endpoints.length > 0) env.PORT = String(endpoints[0].port)
  for (const e of endpoints) env[`PORT_${e.containerPort}`] = String(e.port)
  return env
}

/**
 * A host port for each request: the one asked for, after checking it is free, or a free one the kernel picks.
 * All are held until every one is chosen, so one spec never gets the same port twice. Between this and the process
 * binding it, another program could take a port: the process then fails to bind, and exits.
 */
async function assignPorts (requests: PortRequest[], signal?: AbortSignal): Promise<number[]> {
  const held: Array<() => Promise<void>> = []
  try {
    const ports: number[] = []
    for (const r of requests) {
      signal?.throwIfAborted()
      try {
        const { port, release } = await holdPort(r.protocol, r.host ?? 0)
        held.push(release)
        ports.push(port)
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (r.host !== undefined && (code === 'EADDRINUSE' || code === 'EACCES')) {
          throw new RuntimeError(`port ${r.host}/${r.protocol} is ${code === 'EACCES' ? 'not allowed' : 'in use'} on this host`, 'port')
        }
        throw new RuntimeError(`cannot get a ${r.protocol} port: ${(err as Error).message}`, 'port')
      }
    }
    return ports
  } finally {
    await Promise.all(held.map(async release => { await release() }))
  }
}

async function holdPort (protocol: 'tcp' | 'udp', port: number): Promise<{ port: number, release: () => Promise<void> }> {
  // A free port is taken on loopback, where endpoints point; a requested one is checked on every interface, since
  // the process may well bind all of them.
  const host = port === 0 ? '127.0.0.1' : undefined
  if (protocol === 'udp') {
    const socket = dgram.createSocket('udp4')
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(port, host, () => { socket.off('error', reject); resolve() })
    })
    return { port: socket.address().port, release: async () => { await new Promise<void>(resolve => { socket.close(() => { resolve() }) }) } }
  }
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host, exclusive: true }, () => { server.off('error', reject); resolve() })
  })
  const address = server.address() as net.AddressInfo
  return { port: address.port, release: async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }) }) } }
}

function signalGroup (pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
  }
}

/**
 * Whether any live process is left in the instance's group. The group ID is the leader's pid. If that pid now
 * names a process with another start time, the group is empty: Linux does not hand out a pid while a process group
 * of that number still has members. That is what makes signalling -pgid safe even after the leader is gone.
 */
async function groupAlive (record: InstanceRecord): Promise<boolean> {
  const leader = await readProcStat(record.pid)
  if (leader !== undefined && leader.startTime !== record.startTime) return false
  if (isLive(leader)) return true
  try {
    process.kill(-record.pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
  }
  return (await groupMembers(record.pid)).length > 0
}

async function waitGone (record: InstanceRecord, timeoutMs: number): Promise<boolean> {
  const until = performance.now() + timeoutMs
  for (;;) {
    if (!(await groupAlive(record))) return true
    if (performance.now() >= until) return false
    await sleep(STOP_POLL_MS)
  }
}

/** The byte offset where the last `lines` lines of the file begin. A last line without a newline counts. */
async function tailOffset (handle: FileHandle, lines: number): Promise<number> {
  const size = (await handle.stat()).size
  if (lines <= 0) return size
  const buf = Buffer.alloc(TAIL_CHUNK)
  let end = size
  let seen = 0
  let first = true
  while (end > 0) {
    const start = Math.max(0, end - buf.length)
    const { bytesRead } = await handle.read(buf, 0, end - start, start)
    for (let i = bytesRead - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) continue
      // The newline that ends the file closes the last line; it does not start one.
      if (first && start + i === size - 1) continue
      if (++seen === lines) return start + i + 1
    }
    first = false
    end = start
  }
  return 0
}

async function readRecord (dir: string): Promise<InstanceRecord | undefined> {
  let text: string
  try {
    text = await readFile(path.join(dir, RECORD), 'utf8')
  } catch {
    return undefined
  }
  try {
    const r = JSON.parse(text) as Partial<InstanceRecord>
    if (typeof r.id !== 'string' || typeof r.pid !== 'number' || typeof r.startTime !== 'number' ||
      typeof r.service !== 'string' || typeof r.instance !== 'number' || typeof r.peer !== 'string' ||
      typeof r.startedAt !== 'number' || !Array.isArray(r.endpoints)) {
      throw new Error('missing fields')
    }
    return r as InstanceRecord
  } catch (err) {
    log.error('ignoring %s: %s', path.join(dir, RECORD), (err as Error).message)
    return undefined
  }
}

/** Written to a temporary file and renamed, so a reader never sees half a record. */
async function writeRecord (dir: string, record: InstanceRecord): Promise<void> {
  await fileStat(dir) // the directory must still exist: stop() removes it, and a late write must not bring it back
  const tmp = path.join(dir, `${RECORD}.tmp`)
  await writeFile(tmp, JSON.stringify(record, null, 2) + '\n')
  await rename(tmp, path.join(dir, RECORD))
}

function writeRecordSync (dir: string, record: InstanceRecord): void {
  mkdirSync(dir, { recursive: true })
  const tmp = path.join(dir, `${RECORD}.tmp`)
  writeFileSync(tmp, JSON.stringify(record, null, 2) + '\n')
  renameSync(tmp, path.join(dir, RECORD))
}
