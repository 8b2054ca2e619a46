// Small helpers the runtimes share: turning byte chunks into log lines, and a queue that lets a push-based source
// (a Docker log stream) feed a pull-based consumer (an async iterator) without losing or reordering lines.
import { StringDecoder } from 'node:string_decoder'

/**
 * Splits a byte stream into lines. A chunk may end mid-line or even mid-character (UTF-8), so the remainder is kept
 * until the next chunk, and handed out by flush() when the source ends without a final newline.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8')
  private rest = ''

  push (chunk: Buffer | string): string[] {
    const text = this.rest + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk))
    const parts = text.split('\n')
    this.rest = parts.pop() ?? ''
    return parts.map(stripCr)
  }

  /** The last line when it had no newline; [] otherwise. */
  flush (): string[] {
    const text = this.rest + this.decoder.end()
    this.rest = ''
    return text === '' ? [] : [stripCr(text)]
  }
}

function stripCr (line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line
}

/**
 * An unbounded FIFO that one producer pushes into and one consumer drains with `for await`. end() lets the consumer
 * finish after the items already queued; fail() makes it throw once it reaches that point.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = []
  private ended = false
  private error: Error | undefined
  private wake: (() => void) | undefined

  push (item: T): void {
    if (this.ended) return
    this.items.push(item)
    this.notify()
  }

  end (): void {
    this.ended = true
    this.notify()
  }

  fail (err: Error): void {
    if (this.ended) return
    this.error = err
    this.end()
  }

  private notify (): void {
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  async * [Symbol.asyncIterator] (): AsyncIterator<T> {
    for (;;) {
      if (this.items.length > 0) {
        yield this.items.shift() as T
        continue
      }
      if (this.ended) {
        if (this.error !== undefined) throw this.error
        return
      }
      await new Promise<void>(resolve => { this.wake = resolve })
    }
  }
}

/**
 * A signal that aborts when any of the given ones does. Not AbortSignal.any, which on Node 20 holds its sources
 * weakly (see deadline() in node/clock.ts). Call clear() when done, so long-lived parents do not collect listeners.
 */
export function linkSignals (...signals: Array<AbortSignal | undefined>): { signal: AbortSignal, clear: () => void } {
  const controller = new AbortController()
  const cleanups: Array<() => void> = []
  for (const s of signals) {
    if (s === undefined) continue
    if (s.aborted) {
      controller.abort(s.reason)
      break
    }
    const onAbort = (): void => { controller.abort(s.reason) }
    s.addEventListener('abort', onAbort, { once: true })
    cleanups.push(() => { s.removeEventListener('abort', onAbort) })
  }
  return { signal: controller.signal, clear: () => { for (const c of cleanups) c() } }
}
