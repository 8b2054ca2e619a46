// Measures the host this peer runs on: the Resources it announces in its NodeInfo. A thin shell over the OS; the
// only logic worth the name (the CPU delta, the nvidia-smi parser) is in small functions tested on their own.
//
// Two loops, each never overlapping itself: a cheap sample (CPU, memory, disk) every intervalMs, and the slow
// probes (a docker ping, an nvidia-smi run) every dockerIntervalMs, since they cost a socket or a process each.
// Both sleep on unref'ed timers, so a monitor never keeps the process alive, and both end when stop() aborts.
import { deadline } from './clock.js'
import { execFile } from 'node:child_process'
import { readFile, statfs } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { logger } from '@libp2p/logger'
import { engineAddress, pingEngine } from './runtime/docker-ping.js'
import { loadDockerode } from './runtime/dockerode.js'
import type { Gpu, Resources, RuntimeName } from './wire/schemas.js'

const log = logger('grove:resources')

const execFileAsync = promisify(execFile)

/** How long the first CPU reading waits for a second one: long enough for the kernel's tick counters to move. */
const FIRST_CPU_WINDOW_MS = 100
const DOCKER_PING_TIMEOUT_MS = 1000
const NVIDIA_SMI_TIMEOUT_MS = 2000
/** Bounds one round of the slow probes, whatever probe was injected; the default ones time out well before. */
const PROBE_TIMEOUT_MS = 5000
const MIB = 1024 * 1024
/** gpuSchema and resourcesSchema limits. */
const MAX_GPUS = 64
const MAX_GPU_NAME = 128

/** Options of a ResourceMonitor. Only dataDir is required. */
export interface ResourceMonitorInit {
  /** Grove's data directory; disk space is that of the file system it lives on. */
  dataDir: string
  /**
   * How often CPU, memory and disk are sampled, in ms.
   *
   * @default 5000
   */
  intervalMs?: number
  /**
   * How often docker and the GPUs are probed, in ms.
   *
   * @default 30000
   */
  dockerIntervalMs?: number
  /**
   * Tells whether a docker engine answers.
   *
   * @default dockerProbe()
   */
  docker?: DockerProbe
  /**
   * Lists the host's GPUs. It is handed a signal that aborts on stop() or after a few seconds.
   *
   * @default nvidiaGpus
   */
  gpuProbe?: (signal: AbortSignal) => Promise<Gpu[]>
}

/** The one question the monitor asks docker. */
export interface DockerProbe {
  /** Resolves true when an engine answers before the signal aborts, and false otherwise; never rejects. */
  ping(signal: AbortSignal): Promise<boolean>
}

// @types/dockerode declares ping() without options, but dockerode passes abortSignal through to the HTTP request,
// which is what lets a ping to a hung engine be cut off rather than merely ignored.
interface Pingable { ping(opts: { abortSignal?: AbortSignal }): Promise<unknown> }

/**
 * A DockerProbe that goes where dockerode would: an explicit socketPath, else DOCKER_HOST, else the local socket.
 * A plain HTTP `GET /_ping` where that is enough (sockets, tcp:// without TLS), so the daemon does not load dockerode
 * (and ssh2's WebAssembly) just to ask; dockerode, loaded on first use, for the rest. Each ping gives up after 1 s.
 */
export function dockerProbe (opts: { socketPath?: string } = {}): DockerProbe {
  const at = engineAddress(opts.socketPath)
  let client: Promise<Pingable | undefined> | undefined
  const viaDockerode = async (): Promise<Pingable | undefined> => {
    try {
      const Docker = loadDockerode()
      return new Docker() as unknown as Pingable
    } catch (err) {
      // dockerode throws here on a malformed DOCKER_HOST; that host has no usable docker, not a broken monitor.
      log.error('cannot use docker: %e', err)
      return undefined
    }
  }

  return {
    async ping (signal) {
      const bounded = deadline(DOCKER_PING_TIMEOUT_MS, signal)
      try {
        if (at !== undefined) return await pingEngine(at, bounded.signal)
        client ??= viaDockerode()
        const docker = await client
        if (docker === undefined) return false
        await docker.ping({ abortSignal: bounded.signal })
        return true
      } catch (err) {
        log.trace('docker ping failed: %e', err)
        return false
      } finally {
        bounded.clear()
      }
    }
  }
}

/**
 * The host's NVIDIA GPUs, as nvidia-smi lists them; [] when it is missing, fails, or takes over 2 s.
 */
export async function nvidiaGpus (signal?: AbortSignal): Promise<Gpu[]> {
  try {
    const { stdout } = await execFileAsync('nvidia-smi', [
      '--query-gpu=name,memory.total,memory.free,utilization.gpu',
      '--format=csv,noheader,nounits'
    ], { timeout: NVIDIA_SMI_TIMEOUT_MS, signal, windowsHide: true })
    return parseNvidiaSmi(stdout)
  } catch (err) {
    // Most hosts have no nvidia-smi at all; that is the common case, not an error.
    log.trace('no NVIDIA GPUs: %e', err)
    return []
  }
}

/**
 * Parses `nvidia-smi --query-gpu=name,memory.total,memory.free,utilization.gpu --format=csv,noheader,nounits`:
 * one line per GPU, memory in MiB, utilization in percent. Lines it cannot read are skipped.
 */
export function parseNvidiaSmi (text: string): Gpu[] {
  const gpus: Gpu[] = []
  for (const line of text.split(/\r?\n/)) {
    const fields = line.split(',').map(f => f.trim())
    if (fields.length < 4) continue
    // Parsed from the right, so a comma in a product name cannot shift the numbers.
    const [total, free, utilization] = fields.slice(-3).map(decimal)
    const name = fields.slice(0, -3).join(', ')
    if (name === '' || Number.isNaN(total) || Number.isNaN(free)) continue
    gpus.push({
      name: name.slice(0, MAX_GPU_NAME),
      memTotal: total * MIB,
      memFree: Math.min(free, total) * MIB,
      // Some GPUs (MIG slices, some datacenter boards) report utilization as [N/A]: count them as idle.
      usage: Number.isNaN(utilization) ? 0 : Math.min(1, utilization / 100)
    })
  }
  return gpus.slice(0, MAX_GPUS)
}

const ARCH_NAMES: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' }

/** Node's process.arch in Oakestra's (and Go's) spelling, which SLAs use: x64 → amd64, ia32 → 386. */
export function archName (nodeArch: string): string {
  return Object.hasOwn(ARCH_NAMES, nodeArch) ? ARCH_NAMES[nodeArch] : nodeArch
}

type Host = Pick<Resources, 'cpuCores' | 'cpuUsage' | 'memTotal' | 'memFree' | 'diskTotal' | 'diskFree'>

/**
 * Keeps a current measurement of this host's Resources.
 *
 * Before start() resolves, `current` is a rough guess (no disk, no CPU use, no docker); after, it always holds
 * the latest successful measurement of each part, since a part that fails to measure keeps its last value.
 */
export class ResourceMonitor {
  private readonly dataDir: string
  private readonly intervalMs: number
  private readonly dockerIntervalMs: number
  private readonly docker: DockerProbe
  private readonly gpuProbe: (signal: AbortSignal) => Promise<Gpu[]>
  private readonly listeners = new Set<(r: Resources) => void>()
  private host: Host
  private gpus: Gpu[] = []
  private runtimes: RuntimeName[] = ['process']
  private resources: Resources
  private cpuTimes: CpuTimes | undefined
  private controller: AbortController | undefined
  private started: Promise<void> | undefined
  /** Set once the first full sample is in, so a probe finishing first cannot announce the guessed values. */
  private sampled = false

  constructor (init: ResourceMonitorInit) {
    this.dataDir = init.dataDir
    this.intervalMs = init.intervalMs ?? 5000
    this.dockerIntervalMs = init.dockerIntervalMs ?? 30_000
    this.docker = init.docker ?? dockerProbe()
    this.gpuProbe = init.gpuProbe ?? nvidiaGpus
    const memTotal = os.totalmem()
    this.host = { cpuCores: cpuCount(), cpuUsage: 0, memTotal, memFree: Math.min(os.freemem(), memTotal), diskTotal: 0, diskFree: 0 }
    this.resources = this.compose()
  }

  /** The latest measurement. A new object on each change, so a caller may keep one as a snapshot. */
  get current (): Resources {
    return this.resources
  }

  /** Calls cb with each new measurement that differs from the last; returns the function that unsubscribes. */
  onChange (cb: (r: Resources) => void): () => void {
    this.listeners.add(cb)
    return () => { this.listeners.delete(cb) }
  }

  /** Takes a first full sample, probes docker and the GPUs, and then keeps measuring until stop(). Idempotent. */
  async start (): Promise<void> {
    if (this.started === undefined) {
      const controller = new AbortController()
      this.controller = controller
      this.started = this.run(controller.signal)
    }
    await this.started
  }

  /** Stops measuring; `current` keeps its last value. Idempotent. */
  stop (): void {
    this.controller?.abort()
    this.controller = undefined
    this.started = undefined
  }

  private async run (signal: AbortSignal): Promise<void> {
    // A CPU share is a difference between two readings, so the first sample needs a second reading shortly after
    // the first. The slow probes run meanwhile, so start() costs the longer of the two, not their sum.
    this.cpuTimes = readCpuTimes()
    await Promise.all([
      sleep(FIRST_CPU_WINDOW_MS, undefined, { signal, ref: false }).catch(() => {}),
      this.probe(signal)
    ])
    await this.sample(signal)
    if (signal.aborted) return
    this.sampled = true
    this.publish()

    void every(this.intervalMs, async () => { await this.sample(signal) }, signal)
    void every(this.dockerIntervalMs, async () => { await this.probe(signal) }, signal)
  }

  /** Measures CPU, memory and disk; a part that fails keeps its last value. Never rejects. */
  private async sample (signal: AbortSignal): Promise<void> {
    const [memory, disk] = await Promise.allSettled([readMemory(), readDisk(this.dataDir)])
    if (signal.aborted) return

    const host = { ...this.host }
    const times = readCpuTimes()
    host.cpuCores = cpuCount()
    const usage = this.cpuTimes === undefined ? undefined : cpuUsageBetween(this.cpuTimes, times)
    if (usage !== undefined) host.cpuUsage = usage
    this.cpuTimes = times

    if (memory.status === 'fulfilled') Object.assign(host, memory.value)
    else log.error('cannot read memory, keeping the last value: %e', memory.reason)
    if (disk.status === 'fulfilled') Object.assign(host, disk.value)
    else log.error('cannot read disk space of %s, keeping the last value: %e', this.dataDir, disk.reason)

    this.host = host
    this.publish()
  }

  /** Asks docker and the GPU probe. Never rejects. */
  private async probe (signal: AbortSignal): Promise<void> {
    const bounded = deadline(PROBE_TIMEOUT_MS, signal)
    const [docker, gpus] = await Promise.allSettled([this.docker.ping(bounded.signal), this.gpuProbe(bounded.signal)])
    bounded.clear()
    if (signal.aborted) return

    // A probe that throws has broken its contract; the safe reading is that docker is not there.
    this.runtimes = docker.status === 'fulfilled' && docker.value ? ['process', 'docker'] : ['process']
    if (gpus.status === 'fulfilled') this.gpus = gpus.value.slice(0, MAX_GPUS)
    else log.error('GPU probe failed, keeping the last value: %e', gpus.reason)
    this.publish()
  }

  private compose (): Resources {
    return { ...this.host, arch: archName(process.arch), gpus: this.gpus, runtimes: this.runtimes }
  }

  private publish (): void {
    if (!this.sampled) return
    const next = this.compose()
    if (JSON.stringify(next) === JSON.stringify(this.resources)) return
    this.resources = next
    for (const cb of this.listeners) {
      try {
        cb(next)
      } catch (err) {
        // One faulty listener must not starve the others or stop the loop.
        log.error('resource listener threw: %e', err)
      }
    }
  }
}

/** Runs fn every ms until signal aborts, each run starting ms after the previous one ended, so runs never overlap. */
async function every (ms: number, fn: () => Promise<void>, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      await sleep(ms, undefined, { signal, ref: false })
    } catch {
      return
    }
    try {
      await fn()
    } catch (err) {
      // The runs catch what they expect; this is the backstop that keeps an unexpected throw from ending the loop.
      log.error('periodic measurement failed: %e', err)
    }
  }
}

interface CpuTimes { idle: number, total: number, cores: number }

function readCpuTimes (): CpuTimes {
  const cpus = os.cpus()
  let idle = 0
  let total = 0
  for (const { times } of cpus) {
    idle += times.idle
    total += times.user + times.nice + times.sys + times.idle + times.irq
  }
  return { idle, total, cores: cpus.length }
}

/** Host-wide busy share between two readings, or undefined when they cannot be compared. */
function cpuUsageBetween (before: CpuTimes, after: CpuTimes): number | undefined {
  const total = after.total - before.total
  // No tick between the readings, or a CPU came or went (hotplug): nothing to compare.
  if (total <= 0 || before.cores !== after.cores) return undefined
  // Clamped because Linux's idle counter has been seen to step backwards on tickless kernels.
  return Math.min(1, Math.max(0, 1 - (after.idle - before.idle) / total))
}

function cpuCount (): number {
  // os.cpus() is empty where /proc/cpuinfo or /sys is hidden (some containers, Android).
  return os.cpus().length || os.availableParallelism()
}

async function readMemory (): Promise<Pick<Resources, 'memTotal' | 'memFree'>> {
  const memTotal = os.totalmem()
  // MemAvailable counts the page cache the kernel would give back; MemFree, and os.freemem() on older libuv,
  // do not, and make a busy file server look out of memory.
  let memFree = os.freemem()
  try {
    const match = /^MemAvailable:\s+(\d+)\s+kB$/m.exec(await readFile('/proc/meminfo', 'utf8'))
    if (match !== null) memFree = Number(match[1]) * 1024
  } catch {
    // Not Linux, or /proc is not mounted: os.freemem() is the best there is.
  }
  return { memTotal, memFree: Math.min(memFree, memTotal) }
}

async function readDisk (dataDir: string): Promise<Pick<Resources, 'diskTotal' | 'diskFree'>> {
  // The data directory may not exist yet; its nearest existing ancestor is on the file system it will be on.
  let dir = path.resolve(dataDir)
  for (;;) {
    try {
      const s = await statfs(dir)
      // bavail, not bfree: blocks reserved for root are not ours to use.
      return { diskTotal: s.blocks * s.bsize, diskFree: Math.min(s.bavail, s.blocks) * s.bsize }
    } catch (err) {
      const parent = path.dirname(dir)
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === dir) throw err
      dir = parent
    }
  }
}

/** A plain non-negative decimal, or NaN: Number() would read '' as 0 and '[N/A]' needs rejecting anyway. */
function decimal (s: string): number {
  return /^\d+(?:\.\d+)?$/.test(s) ? Number(s) : NaN
}
