// The Docker runtime: each instance is a container on the local engine, driven through dockerode.
//
// dockerode is loaded on first use, and not before the engine answers a plain ping (docker-ping.ts), and without ssh2
// (dockerode.ts), whose WebAssembly alone costs ~15 MiB resident.
//
// The engine is the truth, as instance.json is for processes: every container Grove makes carries the labels
// grove.service, grove.instance and grove.peer, so list() is one labelled query, a new DockerRuntime (the daemon
// restarted) finds what an earlier one started, and containers of other peers sharing the engine are told apart.
//
// Habits borrowed from Nomad's docker driver:
//   - an image is pulled once however many instances start from it at the same time (one shared promise per image);
//   - no Docker restart policy: the agent decides about restarts, so the engine must not race it;
//   - Init: true, so SIGTERM reaches the program even when it is a shell, which as PID 1 would ignore it.
//
// Exits come from the engine's event stream ('die' of containers labelled grove.peer), reconnected when it drops;
// on reconnect it asks for the events since the last one seen, so a short outage loses none.
import { Readable, Writable } from 'node:stream'
import type Docker from 'dockerode'
import type { ContainerCreateOptions, ContainerInspectInfo } from 'dockerode'
import { engineAddress, pingEngine, type EngineAddress } from './docker-ping.js'
import { loadDockerode } from './dockerode.js'
import { deadline, sleep } from '../clock.js'
import { logger } from '../log.js'
import { AsyncQueue, LineSplitter, linkSignals } from './lines.js'
import { RuntimeError } from './types.js'
import type { Endpoint, InstanceSpec, InstanceStats, LogOptions, Runtime, RuntimeInstance } from './types.js'

const log = logger('runtime:docker')

export const LABEL_SERVICE = 'grove.service'
export const LABEL_INSTANCE = 'grove.instance'
export const LABEL_PEER = 'grove.peer'

const PING_TIMEOUT_MS = 1000
const DEFAULT_STOP_TIMEOUT_MS = 5000
const MAX_EVENTS_RETRY_MS = 30_000
/** How long a stopped container's id is remembered, so its late 'die' event is not reported as a crash. */
const STOPPED_MEMORY_MS = 10 * 60_000
const MIB = 1024 * 1024

/** Options of a DockerRuntime; all optional. */
export interface DockerRuntimeInit {
  /**
   * The engine's socket. Without it, dockerode's defaults apply: DOCKER_HOST when set, else /var/run/docker.sock.
   */
  socketPath?: string
  /** A dockerode client to use instead of making one (tests wrap one to count calls). Overrides socketPath. */
  docker?: Docker
  /**
   * How long pulling a missing image may take before start() gives up with a RuntimeError 'image'.
   *
   * @default 300000
   */
  pullTimeoutMs?: number
  /**
   * The first wait before reconnecting a dropped event stream; it doubles on each failure, up to 30 s.
   *
   * @default 1000
   */
  eventsRetryMs?: number
}

interface DockerEvent {
  Type?: string
  Action?: string
  status?: string
  id?: string
  Actor?: { ID?: string, Attributes?: Record<string, string> }
  time?: number
  timeNano?: number
}

export class DockerRuntime implements Runtime {
  readonly kind = 'docker' as const
  /** The dockerode client, once something needed it (or the one init gave). */
  private docker: Promise<Docker> | undefined
  private readonly socketPath: string | undefined
  /** Where a plain ping reaches the engine; undefined when only dockerode can tell (TLS, ssh). */
  private readonly engine: EngineAddress | undefined
  private readonly pullTimeoutMs: number
  private readonly eventsRetryMs: number
  /** One pending "make sure this image is here" per image: concurrent starts share it. */
  private readonly pulls = new Map<string, Promise<void>>()
  private readonly listeners = new Set<(id: string, exitCode: number) => void>()
  /** Containers stop() was called on, with when: their 'die' is not an exit "on its own". */
  private readonly stopped = new Map<string, number>()
  private readonly closing = new AbortController()
  private events: NodeJS.ReadableStream | undefined
  private eventsStarted = false
  /** Where a (re)connected event stream starts, as the engine wants it: "<unix seconds>.<nanoseconds>". */
  private eventsSince = '0'
  /** Recently seen events, so the overlap replayed on reconnect is not reported twice. */
  private readonly seenEvents = new Set<string>()

  constructor (init: DockerRuntimeInit = {}) {
    if (init.docker !== undefined) this.docker = Promise.resolve(init.docker)
    this.socketPath = init.socketPath
    this.engine = init.docker === undefined ? engineAddress(init.socketPath) : undefined
    this.pullTimeoutMs = init.pullTimeoutMs ?? 300_000
    this.eventsRetryMs = init.eventsRetryMs ?? 1000
  }

  async available (): Promise<boolean> {
    const bounded = deadline(PING_TIMEOUT_MS, this.closing.signal)
    try {
      if (this.engine !== undefined && this.docker === undefined) return await pingEngine(this.engine, bounded.signal)
      const docker = await this.client()
      // @types/dockerode declares ping() without options; dockerode passes abortSignal on to the request.
      await (docker as unknown as { ping: (o: { abortSignal: AbortSignal }) => Promise<unknown> }).ping({ abortSignal: bounded.signal })
      return true
    } catch (err) {
      log.trace('docker ping failed: %e', err)
      return false
    } finally {
      bounded.clear()
    }
  }

  /** The dockerode client, loaded and made on the first call. */
  private async client (): Promise<Docker> {
    this.docker ??= Promise.resolve().then(() => {
      const Dockerode = loadDockerode()
      // An explicit socket must win over DOCKER_HOST, which dockerode would otherwise prefer: clear what it read.
      const options = this.socketPath === undefined ? undefined : { socketPath: this.socketPath, host: undefined, port: undefined, protocol: 'http' as const }
      return new Dockerode(options)
    })
    try {
      return await this.docker
    } catch (err) {
      // A malformed DOCKER_HOST: no engine to talk to, now or later.
      throw engineError('cannot use docker', err)
    }
  }

  /** Throws unless the engine answers; before dockerode is loaded, so a host without Docker never loads it. */
  private async assertEngine (what: string): Promise<void> {
    if (this.docker !== undefined || this.engine === undefined) return
    if (!await this.available()) throw new RuntimeError(`${what}: no Docker engine answers (is dockerd running?)`, 'engine')
  }

  async start (spec: InstanceSpec, signal?: AbortSignal): Promise<RuntimeInstance> {
    signal?.throwIfAborted()
    this.assertOpen()
    const name = `${spec.service}/${spec.instance}`
    const image = spec.image ?? ''
    if (image === '') throw new RuntimeError(`cannot start ${name}: the docker runtime needs an image`, 'image')
    await raceSignal(this.ensureImage(image), signal)

    const options = createOptions(spec, image)
    const docker = await this.client()
    let container: Docker.Container
    try {
      container = await docker.createContainer({ ...options, ...withSignal(signal) })
    } catch (err) {
      if (statusOf(err) !== 409) throw startError(name, err)
      container = await this.replaceLeftover(options, spec, signal)
    }
    try {
      await container.start(withSignal(signal))
      const info = await container.inspect(withSignal(signal))
      log('started %s as %s (%s)', name, container.id.slice(0, 12), image)
      return describe(info)
    } catch (err) {
      // A failed start undoes what did start: no half-made container is left for list() to report.
      this.stopped.set(container.id, Date.now())
      await container.remove({ force: true }).catch(() => {})
      throw startError(name, err)
    }
  }

  async stop (id: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    await this.assertEngine(`cannot stop ${id}`)
    const container = (await this.client()).getContainer(id)
    // Only what Grove made is Grove's to remove: a wrong id must not take down someone else's container.
    try {
      const info = await container.inspect()
      if (info.Config.Labels?.[LABEL_PEER] === undefined) {
        throw new RuntimeError(`container ${id} is not Grove's (it has no ${LABEL_PEER} label): not stopping it`, 'other')
      }
    } catch (err) {
      if (statusOf(err) === 404) return
      throw engineError(`cannot stop ${id}`, err)
    }
    this.rememberStopped(id)
    // The engine counts whole seconds; rounding up never cuts a grace period short.
    const t = Math.ceil((opts.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS) / 1000)
    try {
      await container.stop({ t })
    } catch (err) {
      // 304: already stopped; 404: already gone. Both are what stop() wants.
      const status = statusOf(err)
      if (status === 404) return
      if (status !== 304) throw engineError(`cannot stop ${id}`, err)
    }
    try {
      await container.remove({ force: true })
    } catch (err) {
      // 404: gone; 409: "removal already in progress" (a concurrent stop).
      const status = statusOf(err)
      if (status !== 404 && status !== 409) throw engineError(`cannot remove ${id}`, err)
    }
    log('stopped %s', id.slice(0, 12))
  }

  async list (peer: string): Promise<RuntimeInstance[]> {
    await this.assertEngine('cannot list containers')
    const docker = await this.client()
    let summaries: Docker.ContainerInfo[]
    try {
      summaries = await docker.listContainers({ all: true, filters: { label: [`${LABEL_PEER}=${peer}`] } })
    } catch (err) {
      throw engineError('cannot list containers', err)
    }
    // The summaries lack the exit code and the start time: inspect each (a few ms apiece, in parallel).
    const infos = await Promise.all(summaries.map(async s => {
      try {
        return await docker.getContainer(s.Id).inspect()
      } catch (err) {
        if (statusOf(err) === 404) return undefined // removed meanwhile
        throw engineError(`cannot inspect ${s.Id}`, err)
      }
    }))
    return infos.filter((i): i is ContainerInspectInfo => i !== undefined).map(describe)
  }

  async * logs (id: string, opts: LogOptions = {}): AsyncIterable<string> {
    const docker = await this.client()
    const stop = linkSignals(opts.signal, this.closing.signal)
    const container = docker.getContainer(id)
    const base = { stdout: true, stderr: true, abortSignal: stop.signal, ...(opts.tail === undefined ? {} : { tail: opts.tail }) }
    let source: NodeJS.ReadableStream
    try {
      source = opts.follow === true
        ? await container.logs({ ...base, follow: true })
        : Readable.from([await container.logs({ ...base, follow: false })])
    } catch (err) {
      stop.clear()
      if (stop.signal.aborted) return
      if (statusOf(err) === 404) throw new RuntimeError(`no instance ${id}`, 'other')
      throw engineError(`cannot read the logs of ${id}`, err)
    }

    // stdout and stderr each get their own splitter (a frame may end mid-line), feeding one queue in frame order.
    const queue = new AsyncQueue<string>()
    const splitters = [new LineSplitter(), new LineSplitter()]
    const sink = (splitter: LineSplitter): Writable => new Writable({
      write (chunk: Buffer, _enc, cb) {
        for (const line of splitter.push(chunk)) queue.push(line)
        cb()
      }
    })
    const finish = (): void => {
      for (const s of splitters) for (const line of s.flush()) queue.push(line)
      queue.end()
    }
    source.on('end', finish)
    source.on('close', finish)
    source.on('error', err => {
      if (stop.signal.aborted) finish()
      else queue.fail(engineError(`reading the logs of ${id} failed`, err))
    })
    const onAbort = (): void => { destroy(source) }
    stop.signal.addEventListener('abort', onAbort, { once: true })
    docker.modem.demuxStream(source, sink(splitters[0]), sink(splitters[1]))
    try {
      yield * queue
    } finally {
      stop.signal.removeEventListener('abort', onAbort)
      stop.clear()
      destroy(source)
    }
  }

  async stats (id: string): Promise<InstanceStats | undefined> {
    const docker = await this.client()
    let s: Docker.ContainerStats
    try {
      // stream: false makes the engine take two samples about a second apart, which is what fills precpu_stats.
      s = await docker.getContainer(id).stats({ stream: false })
    } catch (err) {
      if (statusOf(err) === 404) return undefined
      throw engineError(`cannot read the stats of ${id}`, err)
    }
    // A container that is not running reports zeros and no memory usage at all.
    if (s.memory_stats?.usage === undefined) return undefined
    const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0)
    const systemDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0)
    const cpus = s.cpu_stats?.online_cpus ?? s.cpu_stats?.cpu_usage?.percpu_usage?.length ?? 1
    // As `docker stats` counts: 100 % is one core.
    const cpuPercent = systemDelta > 0 && cpuDelta > 0 ? cpuDelta / systemDelta * cpus * 100 : 0
    // Page cache is reclaimable, so it is not the container's to answer for: cgroup v2 names it inactive_file,
    // v1 total_inactive_file.
    const memStats = (s.memory_stats.stats ?? {}) as Partial<Record<string, number>>
    const cache = memStats.inactive_file ?? memStats.total_inactive_file ?? 0
    return { cpuPercent, memoryBytes: Math.max(0, s.memory_stats.usage - cache) }
  }

  onExit (listener: (id: string, exitCode: number) => void): () => void {
    this.listeners.add(listener)
    this.watchEvents()
    return () => { this.listeners.delete(listener) }
  }

  async close (): Promise<void> {
    if (this.closing.signal.aborted) return
    this.closing.abort()
    this.listeners.clear()
    if (this.events !== undefined) destroy(this.events)
    this.events = undefined
  }

  private assertOpen (): void {
    if (this.closing.signal.aborted) throw new RuntimeError('the docker runtime is closed', 'other')
  }

  /** Resolves once the image is on this host, pulling it if needed; one pull per image at a time. */
  private async ensureImage (image: string): Promise<void> {
    let pending = this.pulls.get(image)
    if (pending === undefined) {
      pending = this.fetchImage(image).finally(() => { this.pulls.delete(image) })
      this.pulls.set(image, pending)
    }
    await pending
  }

  private async fetchImage (image: string): Promise<void> {
    const docker = await this.client()
    try {
      await docker.getImage(image).inspect()
      return
    } catch (err) {
      if (statusOf(err) !== 404) throw engineError(`cannot look up image ${image}`, err)
    }
    log('pulling %s', image)
    const bounded = deadline(this.pullTimeoutMs, this.closing.signal)
    try {
      const stream = await docker.pull(image, { abortSignal: bounded.signal })
      await followPull(docker, stream, bounded.signal)
      log('pulled %s', image)
    } catch (err) {
      const why = bounded.signal.aborted && !this.closing.signal.aborted
        ? `timed out after ${this.pullTimeoutMs} ms`
        : messageOf(err)
      throw new RuntimeError(`image ${image} is not on this host and could not be pulled: ${why}`, 'image')
    } finally {
      bounded.clear()
    }
  }

  /**
   * A container of that name exists already: a leftover of this instance (exited, the agent is restarting it)
   * is removed and replaced; a running one, or one that is not ours, is an error.
   */
  private async replaceLeftover (options: ContainerCreateOptions, spec: InstanceSpec, signal?: AbortSignal): Promise<Docker.Container> {
    const name = `${spec.service}/${spec.instance}`
    const docker = await this.client()
    const existing = docker.getContainer(options.name ?? '')
    let info: ContainerInspectInfo
    try {
      info = await existing.inspect()
    } catch (err) {
      throw startError(name, err)
    }
    const labels = info.Config.Labels ?? {}
    if (labels[LABEL_PEER] !== spec.peer || labels[LABEL_SERVICE] !== spec.service || labels[LABEL_INSTANCE] !== String(spec.instance)) {
      throw new RuntimeError(`cannot start ${name}: a container named ${options.name} exists and is not this instance's`, 'other')
    }
    if (info.State.Running) throw new RuntimeError(`cannot start ${name}: it is already running (${info.Id})`, 'other')
    this.rememberStopped(info.Id)
    await existing.remove({ force: true }).catch(() => {})
    try {
      return await docker.createContainer({ ...options, ...withSignal(signal) })
    } catch (err) {
      throw startError(name, err)
    }
  }

  private rememberStopped (id: string): void {
    const now = Date.now()
    for (const [k, at] of this.stopped) if (now - at > STOPPED_MEMORY_MS) this.stopped.delete(k)
    this.stopped.set(id, now)
  }

  private isStopped (id: string): boolean {
    for (const k of this.stopped.keys()) if (k === id || k.startsWith(id) || id.startsWith(k)) return true
    return false
  }

  /** Starts the event watch on the first onExit listener. It runs until close(). */
  private watchEvents (): void {
    if (this.eventsStarted || this.closing.signal.aborted) return
    this.eventsStarted = true
    // From the moment someone listens, even though the stream connects a few ms later.
    const now = Date.now()
    this.eventsSince = `${Math.floor(now / 1000)}.${String(now % 1000).padStart(3, '0')}000000`
    void this.eventLoop()
  }

  private async eventLoop (): Promise<void> {
    let retryMs = this.eventsRetryMs
    while (!this.closing.signal.aborted) {
      try {
        if (!await this.available()) throw new Error('no Docker engine answers')
        const stream = await (await this.client()).getEvents({
          // A string: the engine reads "<s>.<ns>", which a JS number cannot carry exactly.
          since: this.eventsSince as unknown as number,
          filters: { type: ['container'], event: ['die'], label: [LABEL_PEER] }
        })
        if (this.closing.signal.aborted) {
          destroy(stream)
          return
        }
        this.events = stream
        retryMs = this.eventsRetryMs
        log('watching container events since %s', this.eventsSince)
        await this.readEvents(stream)
        if (this.closing.signal.aborted) return
        log('the event stream ended; reconnecting')
        // Everything up to now was delivered on this stream; the next one starts a second before, to be safe.
        const from = Math.floor(Date.now() / 1000) - 1
        if (from > Number(this.eventsSince)) this.eventsSince = String(from)
      } catch (err) {
        if (this.closing.signal.aborted) return
        log.error('cannot watch container events (retrying in %d ms): %s', retryMs, messageOf(err))
        try {
          await sleep(retryMs, this.closing.signal)
        } catch {
          return
        }
        retryMs = Math.min(retryMs * 2, MAX_EVENTS_RETRY_MS)
        continue
      }
      try {
        await sleep(this.eventsRetryMs, this.closing.signal)
      } catch {
        return
      }
    }
  }

  /** Reads one connection of the event stream until it ends, for whatever reason. */
  private async readEvents (stream: NodeJS.ReadableStream): Promise<void> {
    const splitter = new LineSplitter()
    await new Promise<void>(resolve => {
      stream.on('data', (chunk: Buffer) => {
        for (const line of splitter.push(chunk)) this.handleEvent(line)
      })
      stream.once('end', resolve)
      stream.once('close', resolve)
      stream.once('error', err => {
        if (!this.closing.signal.aborted) log.error('container event stream failed: %s', err.message)
        resolve()
      })
    })
    if (this.events === stream) this.events = undefined
  }

  private handleEvent (line: string): void {
    if (line.trim() === '') return
    let event: DockerEvent
    try {
      event = JSON.parse(line) as DockerEvent
    } catch {
      log.error('unreadable container event: %s', line.slice(0, 200))
      return
    }
    const id = event.Actor?.ID ?? event.id
    if ((event.Action ?? event.status) !== 'die' || id === undefined) return
    // A reconnect replays from the last event's second; the key below drops what was already seen.
    if (typeof event.time === 'number' && event.time > Number(this.eventsSince)) this.eventsSince = String(event.time)
    const key = `${id}@${event.timeNano ?? event.time}`
    if (this.seenEvents.has(key)) return
    this.seenEvents.add(key)
    if (this.seenEvents.size > 1000) this.seenEvents.delete(this.seenEvents.values().next().value as string)
    if (this.closing.signal.aborted || this.isStopped(id)) return
    const code = Number(event.Actor?.Attributes?.exitCode ?? -1)
    log('%s exited with %d', id.slice(0, 12), code)
    for (const l of this.listeners) {
      try {
        l(id, Number.isFinite(code) ? code : -1)
      } catch (err) {
        log.error('exit listener failed: %e', err)
      }
    }
  }
}

/** The container for a spec: labelled, limited, published on loopback only, and left for the agent to restart. */
function createOptions (spec: InstanceSpec, image: string): ContainerCreateOptions {
  const exposed: Record<string, object> = {}
  const bindings: Record<string, Array<{ HostIp: string, HostPort: string }>> = {}
  for (const p of spec.ports) {
    const key = `${p.container}/${p.protocol}`
    exposed[key] = {}
    // HostPort '' lets Docker pick a free port; the real one is read back by inspect after start.
    ;(bindings[key] ??= []).push({ HostIp: '127.0.0.1', HostPort: p.host === undefined ? '' : String(p.host) })
  }
  const options: ContainerCreateOptions = {
    name: containerName(spec),
    Image: image,
    Env: [...spec.env],
    Labels: {
      [LABEL_SERVICE]: spec.service,
      [LABEL_INSTANCE]: String(spec.instance),
      [LABEL_PEER]: spec.peer
    },
    ExposedPorts: exposed,
    HostConfig: {
      Init: true,
      PortBindings: bindings,
      RestartPolicy: { Name: 'no' },
      ...(spec.memoryMiB > 0 ? { Memory: Math.round(spec.memoryMiB * MIB) } : {}),
      ...(spec.vcpus > 0 ? { NanoCpus: Math.round(spec.vcpus * 1e9) } : {})
    }
  }
  if (spec.cmd.length > 0) options.Cmd = [...spec.cmd]
  return options
}

/** grove-<service>-<instance>-<end of the peer ID>: readable in `docker ps`, and distinct per peer on a shared engine. */
function containerName (spec: InstanceSpec): string {
  const clean = (s: string): string => s.replace(/[^a-zA-Z0-9_.-]/g, '_')
  return `grove-${clean(spec.service)}-${spec.instance}-${clean(spec.peer.slice(-8))}`
}

function describe (info: ContainerInspectInfo): RuntimeInstance {
  const labels = info.Config.Labels ?? {}
  const running = info.State.Running || info.State.Restarting || info.State.Paused
  const started = Date.parse(info.State.StartedAt)
  const instance: RuntimeInstance = {
    id: info.Id,
    service: labels[LABEL_SERVICE] ?? '',
    instance: Number(labels[LABEL_INSTANCE] ?? -1),
    peer: labels[LABEL_PEER] ?? '',
    state: running ? 'running' : 'exited',
    // A container that never started has StartedAt "0001-01-01T00:00:00Z".
    startedAt: Number.isFinite(started) && started > 0 ? started : Date.parse(info.Created),
    endpoints: running ? endpointsOf(info) : []
  }
  // A container created but never started (the daemon died in between) has exit code 0, which would read as success.
  if (!running) instance.exitCode = info.State.Status === 'created' ? -1 : info.State.ExitCode
  return instance
}

function endpointsOf (info: ContainerInspectInfo): Endpoint[] {
  const endpoints: Endpoint[] = []
  for (const [key, bindings] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
    const [port, protocol] = key.split('/')
    if (bindings === null || bindings === undefined || (protocol !== 'tcp' && protocol !== 'udp')) continue
    const binding = bindings.find(b => b.HostIp === '127.0.0.1') ?? bindings[0]
    if (binding === undefined) continue
    endpoints.push({ containerPort: Number(port), protocol, host: binding.HostIp === '' || binding.HostIp === '0.0.0.0' ? '127.0.0.1' : binding.HostIp, port: Number(binding.HostPort) })
  }
  return endpoints.sort((a, b) => a.containerPort - b.containerPort)
}

/** Reads a pull's progress stream to its end. The engine reports failures inside the stream, as {"error": ...}. */
async function followPull (docker: Docker, stream: NodeJS.ReadableStream, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      destroy(stream)
      reject(signal.reason)
    }
    if (signal.aborted) { onAbort(); return }
    signal.addEventListener('abort', onAbort, { once: true })
    docker.modem.followProgress(stream, (err: Error | null, output: Array<{ error?: string, errorDetail?: { message?: string } }>) => {
      signal.removeEventListener('abort', onAbort)
      if (signal.aborted) return
      const failed = output?.find(o => o.error !== undefined || o.errorDetail !== undefined)
      if (err !== null) reject(err)
      else if (failed !== undefined) reject(new Error(failed.errorDetail?.message ?? failed.error))
      else resolve()
    })
  })
}

function withSignal (signal?: AbortSignal): { abortSignal?: AbortSignal } {
  // Only when there is one: dockerode would otherwise put "abortSignal=" in the query string.
  return signal === undefined ? {} : { abortSignal: signal }
}

async function raceSignal<T> (promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal === undefined) return await promise
  signal.throwIfAborted()
  let onAbort: () => void = () => {}
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => {
      onAbort = () => { reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
    })])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

function destroy (stream: NodeJS.ReadableStream): void {
  (stream as Partial<Readable>).destroy?.()
}

function statusOf (err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | null)?.statusCode
  return typeof status === 'number' ? status : undefined
}

/** The engine's own words when it gave any ("(HTTP code 500) server error - " is dockerode's wrapping). */
function messageOf (err: unknown): string {
  const json = (err as { json?: unknown } | null)?.json
  if (typeof json === 'object' && json !== null && typeof (json as { message?: unknown }).message === 'string') {
    return (json as { message: string }).message
  }
  if (typeof json === 'string' && json.trim() !== '') return json.trim()
  return (err as Error)?.message ?? String(err)
}

function engineError (what: string, err: unknown): RuntimeError {
  if (err instanceof RuntimeError) return err
  const code = (err as NodeJS.ErrnoException | null)?.code
  const unreachable = code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'EACCES' || code === 'ECONNRESET'
  return new RuntimeError(`${what}: ${unreachable ? `the docker engine cannot be reached (${messageOf(err)})` : messageOf(err)}`, unreachable ? 'engine' : 'other')
}

/** A create or start failure, with the reason the agent can act on. */
function startError (name: string, err: unknown): RuntimeError {
  if (err instanceof RuntimeError) return err
  if ((err as Error | null)?.name === 'AbortError') return new RuntimeError(`cannot start ${name}: aborted`, 'other')
  const message = messageOf(err)
  const status = statusOf(err)
  let reason: RuntimeError['reason'] = engineError('', err).reason
  if (/port is already allocated|address already in use/i.test(message)) reason = 'port'
  else if (/executable file not found|no such file or directory.*(exec|start)|permission denied.*exec/i.test(message)) reason = 'command'
  else if (status === 404 && /image/i.test(message)) reason = 'image'
  else if (status === 400 && /memory|cpu/i.test(message)) reason = 'resources'
  return new RuntimeError(`cannot start ${name}: ${message}`, reason)
}
