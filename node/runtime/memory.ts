// An in-memory Runtime for the agent's unit tests: nothing runs, but every observable behaviour of the real
// runtimes is there (ids, list per peer, logs with tail and follow, exit reports, stop idempotence, adoption by a new
// runtime after a "restart"), driven by test hooks instead of by processes.
//
// The instances live in a MemoryEngine, which plays the part of the Docker engine or of the data directory: it
// outlives a MemoryRuntime, so `new MemoryRuntime({ engine })` on the same engine adopts what an earlier one started.
// What an instance "does" is up to an optional FakeProgram: by default it runs, silent, until stopped or exit()ed.
import { RuntimeError } from './types.js'
import type { Endpoint, InstanceSpec, InstanceStats, LogOptions, Runtime, RuntimeInstance } from './types.js'

/** What a FakeProgram may do to its instance. */
export interface FakeInstance {
  readonly id: string
  readonly spec: InstanceSpec
  /** The endpoints the fake assigned: the requested host port, or a made-up one, on 127.0.0.1. */
  readonly endpoints: Endpoint[]
  /** Appends a line to the instance's output. */
  log: (line: string) => void
  /** Ends the instance on its own with this code, as a crash would; onExit listeners hear of it. */
  exit: (code: number) => void
}

/**
 * Simulates an instance's program. It may return the endpoints it really serves on (a test can start a real HTTP
 * server and point the instance at it) and a stop function, called when the instance is stopped or exits.
 */
export type FakeProgram = (instance: FakeInstance) => void | FakeProgramHandle | Promise<void | FakeProgramHandle>

export interface FakeProgramHandle {
  endpoints?: Endpoint[]
  stop?: () => void | Promise<void>
}

interface MemoryInstance {
  id: string
  spec: InstanceSpec
  state: 'running' | 'exited'
  exitCode?: number
  startedAt: number
  endpoints: Endpoint[]
  lines: string[]
  stats: InstanceStats
  stopProgram?: () => void | Promise<void>
  /** Wakes log followers: on new output, exit and removal. */
  waiters: Set<() => void>
}

/** The fake's "engine": where instances live, shared by every MemoryRuntime made on it. */
export class MemoryEngine {
  /** @internal */ readonly instances = new Map<string, MemoryInstance>()
  /** @internal */ readonly runtimes = new Set<MemoryRuntime>()
  private nextId = 1
  private nextPort = 30_000

  /** @internal */ newId (): string {
    return `mem:${this.nextId++}`
  }

  /** @internal */ newPort (): number {
    return this.nextPort++
  }

  /** @internal */ exit (id: string, code: number): void {
    const inst = this.instances.get(id)
    if (inst === undefined || inst.state !== 'running') return
    inst.state = 'exited'
    inst.exitCode = code
    wake(inst)
    void Promise.resolve(inst.stopProgram?.()).catch(() => {})
    for (const r of this.runtimes) r.notifyExit(id, code)
  }
}

function wake (inst: MemoryInstance): void {
  const waiters = [...inst.waiters]
  inst.waiters.clear()
  for (const w of waiters) w()
}

/** Options of a MemoryRuntime; all optional. */
export interface MemoryRuntimeInit {
  /**
   * Where instances live. Pass the engine of an earlier MemoryRuntime to simulate a daemon restart.
   *
   * @default a new, empty engine
   */
  engine?: MemoryEngine
  /**
   * What each started instance does.
   *
   * @default nothing: it runs, with no output, until stopped or exit()ed
   */
  program?: FakeProgram
  /**
   * What available() answers; setAvailable() changes it.
   *
   * @default true
   */
  available?: boolean
}

export class MemoryRuntime implements Runtime {
  readonly kind = 'memory' as const
  readonly engine: MemoryEngine
  private readonly program: FakeProgram | undefined
  private readonly listeners = new Set<(id: string, exitCode: number) => void>()
  private isAvailable: boolean
  private nextStartError: Error | undefined
  private closed = false
  /** Every spec start() was called with, in order, successful or not: for assertions. */
  readonly starts: InstanceSpec[] = []

  constructor (init: MemoryRuntimeInit = {}) {
    this.engine = init.engine ?? new MemoryEngine()
    this.program = init.program
    this.isAvailable = init.available ?? true
    this.engine.runtimes.add(this)
  }

  // ---- test hooks -------------------------------------------------------------------------------------------

  /** Ends a running instance on its own, with this exit code: onExit listeners of every open runtime hear it. */
  exit (id: string, code: number): void {
    this.engine.exit(id, code)
  }

  /** Makes the next start() reject with this error (a RuntimeError, typically), without creating anything. */
  failNextStart (error: Error): void {
    this.nextStartError = error
  }

  /** Appends a line to an instance's output. */
  log (id: string, line: string): void {
    const inst = this.engine.instances.get(id)
    if (inst === undefined) return
    inst.lines.push(line)
    wake(inst)
  }

  setStats (id: string, stats: InstanceStats): void {
    const inst = this.engine.instances.get(id)
    if (inst !== undefined) inst.stats = { ...stats }
  }

  setAvailable (available: boolean): void {
    this.isAvailable = available
  }

  // ---- Runtime ----------------------------------------------------------------------------------------------

  async available (): Promise<boolean> {
    return this.isAvailable
  }

  async start (spec: InstanceSpec, signal?: AbortSignal): Promise<RuntimeInstance> {
    signal?.throwIfAborted()
    if (this.closed) throw new RuntimeError('the memory runtime is closed', 'other')
    this.starts.push(structuredClone(spec))
    const error = this.nextStartError
    if (error !== undefined) {
      this.nextStartError = undefined
      throw error
    }
    if (spec.cmd.length === 0 && (spec.image ?? '') === '') {
      throw new RuntimeError(`cannot start ${spec.service}/${spec.instance}: no image and no command`, 'command')
    }
    const inst: MemoryInstance = {
      id: this.engine.newId(),
      spec: structuredClone(spec),
      state: 'running',
      startedAt: Date.now(),
      endpoints: spec.ports.map(p => ({ containerPort: p.container, protocol: p.protocol, host: '127.0.0.1', port: p.host ?? this.engine.newPort() })),
      lines: [],
      stats: { cpuPercent: 0, memoryBytes: 0 },
      waiters: new Set()
    }
    this.engine.instances.set(inst.id, inst)
    if (this.program !== undefined) {
      try {
        const handle = await this.program({
          id: inst.id,
          spec: inst.spec,
          endpoints: inst.endpoints,
          log: line => { this.log(inst.id, line) },
          exit: code => { this.engine.exit(inst.id, code) }
        })
        if (handle !== undefined) {
          if (handle.endpoints !== undefined) inst.endpoints = handle.endpoints.map(e => ({ ...e }))
          inst.stopProgram = handle.stop
        }
      } catch (err) {
        this.engine.instances.delete(inst.id)
        throw err instanceof RuntimeError ? err : new RuntimeError(`cannot start ${spec.service}/${spec.instance}: ${(err as Error).message}`, 'other')
      }
    }
    return describe(inst)
  }

  async stop (id: string): Promise<void> {
    const inst = this.engine.instances.get(id)
    if (inst === undefined) return
    this.engine.instances.delete(id)
    const wasRunning = inst.state === 'running'
    // Marked exited before anything can observe it, so that no exit is reported for a stop.
    inst.state = 'exited'
    inst.exitCode ??= 143
    wake(inst)
    if (wasRunning) await inst.stopProgram?.()
  }

  async list (peer: string): Promise<RuntimeInstance[]> {
    return [...this.engine.instances.values()].filter(i => i.spec.peer === peer).map(describe)
  }

  async * logs (id: string, opts: LogOptions = {}): AsyncIterable<string> {
    const inst = this.engine.instances.get(id)
    if (inst === undefined) throw new RuntimeError(`no instance ${id}`, 'other')
    let next = opts.tail === undefined ? 0 : Math.max(0, inst.lines.length - opts.tail)
    for (;;) {
      while (next < inst.lines.length) yield inst.lines[next++]
      const over = opts.follow !== true || opts.signal?.aborted === true || this.closed ||
        inst.state !== 'running' || !this.engine.instances.has(id)
      if (over) return
      await new Promise<void>(resolve => {
        const done = (): void => {
          inst.waiters.delete(done)
          opts.signal?.removeEventListener('abort', done)
          resolve()
        }
        inst.waiters.add(done)
        opts.signal?.addEventListener('abort', done, { once: true })
      })
    }
  }

  async stats (id: string): Promise<InstanceStats | undefined> {
    const inst = this.engine.instances.get(id)
    return inst?.state === 'running' ? { ...inst.stats } : undefined
  }

  onExit (listener: (id: string, exitCode: number) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  async close (): Promise<void> {
    this.closed = true
    this.listeners.clear()
    this.engine.runtimes.delete(this)
    for (const inst of this.engine.instances.values()) wake(inst)
  }

  /** @internal Called by the engine when an instance exits on its own. */
  notifyExit (id: string, code: number): void {
    for (const l of this.listeners) l(id, code)
  }
}

function describe (inst: MemoryInstance): RuntimeInstance {
  const r: RuntimeInstance = {
    id: inst.id,
    service: inst.spec.service,
    instance: inst.spec.instance,
    peer: inst.spec.peer,
    state: inst.state,
    startedAt: inst.startedAt,
    endpoints: inst.endpoints.map(e => ({ ...e }))
  }
  if (inst.exitCode !== undefined) r.exitCode = inst.exitCode
  return r
}
