// The narrow port between the node agent and whatever runs instances: Docker (dockerode), plain processes, or an
// in-memory fake for unit tests. One shared suite (test/unit/runtime-suite.ts) runs against every implementation.

export type RuntimeKind = 'docker' | 'process' | 'memory'

export interface PortRequest {
  /** Host port; undefined lets the runtime pick a free one. */
  host?: number
  container: number
  protocol: 'tcp' | 'udp'
}

/** Everything a runtime needs to start one instance. */
export interface InstanceSpec {
  /** The service's ID and the instance number: together they name the instance (labels, file names). */
  service: string
  instance: number
  /** This peer's ID, recorded on the instance so that another daemon's leftovers are never adopted. */
  peer: string
  /** Container image (docker); ignored by the process runtime. */
  image?: string
  /** The command: for docker it overrides the image's; for processes it is required (argv[0] is looked up in PATH). */
  cmd: string[]
  /** "KEY=VALUE" entries. */
  env: string[]
  /** MiB; 0 = no limit. */
  memoryMiB: number
  /** Cores; 0 = no limit. */
  vcpus: number
  ports: PortRequest[]
}

/** Where an instance can be reached from this host. */
export interface Endpoint {
  /** The port the service listens on inside its instance (the SLA's container port). */
  containerPort: number
  protocol: 'tcp' | 'udp'
  host: string
  port: number
}

export type InstanceState = 'running' | 'exited'

/** What a runtime reports about one of its instances. */
export interface RuntimeInstance {
  /** The runtime's own handle: a container ID, or "pid:<pid>:<starttime>". */
  id: string
  service: string
  instance: number
  peer: string
  state: InstanceState
  /** Exit code once exited. */
  exitCode?: number
  /** Wall-clock ms. */
  startedAt: number
  endpoints: Endpoint[]
}

export interface LogOptions {
  /** Last N lines; undefined = all. */
  tail?: number
  follow?: boolean
  signal?: AbortSignal
}

export interface InstanceStats {
  cpuPercent: number
  memoryBytes: number
}

export interface Runtime {
  readonly kind: RuntimeKind
  /** Whether this runtime can run anything on this host now (for docker: the engine answers). */
  available (): Promise<boolean>
  /**
   * Creates and starts an instance. Resolves once it is started (not necessarily ready to serve). Rejects with a
   * RuntimeError whose message says why (image missing and not pullable, command not found, port in use, ...).
   */
  start (spec: InstanceSpec, signal?: AbortSignal): Promise<RuntimeInstance>
  /** Stops (SIGTERM, then SIGKILL after timeoutMs) and removes an instance. Idempotent. */
  stop (id: string, opts?: { timeoutMs?: number }): Promise<void>
  /** Every instance this runtime holds for `peer` (running or exited), including ones started before a restart. */
  list (peer: string): Promise<RuntimeInstance[]>
  /** Log lines (stdout and stderr interleaved), demultiplexed. */
  logs (id: string, opts?: LogOptions): AsyncIterable<string>
  stats (id: string): Promise<InstanceStats | undefined>
  /** Called when an instance exits on its own (not through stop()). */
  onExit (listener: (id: string, exitCode: number) => void): () => void
  /** Releases watchers; running instances keep running (the agent adopts them after a restart). */
  close (): Promise<void>
}

export class RuntimeError extends Error {
  static readonly NAME = 'RuntimeError'
  override name = RuntimeError.NAME
  constructor (message: string, readonly reason: 'image' | 'command' | 'port' | 'resources' | 'engine' | 'other' = 'other') {
    super(message)
  }
}
