// Time is injected: the daemon passes the real clock, unit tests pass a manual one.
import { logger } from './log.js'

export interface Clock {
  /** Monotonic milliseconds, for timeouts and ages. */
  now(): number
  /** Wall-clock milliseconds since the epoch, for display and for the hybrid logical clock. */
  wall(): number
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wall: () => Date.now()
}

export interface PeriodicInit {
  name: string
  /** A number, or a function read before each run (an interval that adapts, e.g. to the size of a region). */
  intervalMs: number | (() => number)
  /** Fraction of the interval added or removed at random, so peers do not tick in lockstep. @default 0.1 */
  jitter?: number
  /** Abort a run that takes longer than this. @default intervalMs * 4 */
  timeoutMs?: number
  /** Run once right away instead of after the first interval. @default false */
  immediate?: boolean
}

/**
 * Runs `fn` every interval, never overlapping itself: the next run is scheduled only when the previous one has
 * settled. Each run gets an AbortSignal that fires on stop() or when the run exceeds its timeout. Errors are
 * logged, never thrown: one failing run must not stop the loop or crash the daemon.
 */
export class Periodic {
  private timer: ReturnType<typeof setTimeout> | undefined
  private running = false
  private controller: AbortController | undefined
  private readonly log
  private nextDelay: number | undefined

  constructor (private readonly init: PeriodicInit, private readonly fn: (signal: AbortSignal) => Promise<void> | void) {
    this.log = logger(`periodic:${init.name}`)
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.schedule(this.init.immediate === true ? 0 : this.delay())
  }

  stop (): void {
    this.running = false
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.controller?.abort()
  }

  /** Runs the task as soon as possible, without waiting for the rest of the interval. */
  trigger (): void {
    if (!this.running) return
    if (this.controller !== undefined) {
      this.nextDelay = 0
      return
    }
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.schedule(0)
  }

  private interval (): number {
    const i = this.init.intervalMs
    return typeof i === 'function' ? i() : i
  }

  private delay (): number {
    const jitter = this.init.jitter ?? 0.1
    return Math.max(0, this.interval() * (1 + (Math.random() * 2 - 1) * jitter))
  }

  private schedule (ms: number): void {
    this.timer = setTimeout(() => { void this.run() }, ms)
    this.timer.unref()
  }

  private async run (): Promise<void> {
    this.timer = undefined
    if (!this.running) return
    const controller = new AbortController()
    this.controller = controller
    const timeout = setTimeout(() => { controller.abort(new Error(`${this.init.name} timed out`)) }, this.init.timeoutMs ?? this.interval() * 4)
    timeout.unref()
    try {
      await this.fn(controller.signal)
    } catch (err) {
      if (this.running) this.log.error('run failed: %s', (err as Error).message)
    } finally {
      clearTimeout(timeout)
      this.controller = undefined
    }
    if (this.running) {
      const next = this.nextDelay ?? this.delay()
      this.nextDelay = undefined
      this.schedule(next)
    }
  }
}

/** Resolves after `ms`, or rejects when the signal aborts. */
export async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) { reject(signal.reason); return }
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = (): void => { clearTimeout(t); reject(signal?.reason) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

export interface Deadline {
  signal: AbortSignal
  /** Clears the timer and the link to the parent; call it when the guarded work is done. */
  clear: () => void
}

/**
 * A signal that aborts after `ms`, or when `parent` aborts.
 *
 * Not AbortSignal.any([parent, AbortSignal.timeout(ms)]): on Node 20 the timeout signal inside it is held only
 * weakly and can be garbage-collected before it fires (nodejs/node#57736), so a hung peer could hold a read forever.
 * Here the timer holds the controller strongly.
 */
export function deadline (ms: number, parent?: AbortSignal): Deadline {
  const controller = new AbortController()
  const onAbort = (): void => { controller.abort(parent?.reason) }
  if (parent?.aborted === true) onAbort()
  else parent?.addEventListener('abort', onAbort, { once: true })
  const timer = setTimeout(() => { controller.abort(new DOMException(`timed out after ${Math.round(ms)} ms`, 'TimeoutError')) }, ms)
  timer.unref()
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer)
      parent?.removeEventListener('abort', onAbort)
    }
  }
}
