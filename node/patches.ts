// A fix for a bug in @libp2p/utils 7.4.1, applied once at start-up.
//
// AbstractMessageStream.onDrain() keeps the promise of the first drain for ever: once resolved, every later call
// returns the same resolved promise, even while the stream's write buffer is full. Everything that writes with
// `if (!stream.send(data)) await stream.onDrain()` (circuit relay's pipe, lpStream writers) then loses backpressure
// after the first drain, buffers without bound, and the stream is reset when a buffer limit is hit: a relayed
// transfer of a few megabytes fails. The replacement waits for the next 'drain' (or 'close') of its own.
import { AbstractMessageStream } from '@libp2p/utils'

type DrainingStream = AbstractMessageStream & { writableNeedsDrain?: boolean }

let applied = false

export function applyPatches (): void {
  if (applied) return
  applied = true
  const proto = AbstractMessageStream.prototype as unknown as { onDrain: (options?: { signal?: AbortSignal }) => Promise<void> }
  proto.onDrain = async function (this: DrainingStream, options?: { signal?: AbortSignal }): Promise<void> {
    if (this.writableNeedsDrain !== true) return
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        this.removeEventListener('drain', onDrain)
        this.removeEventListener('close', onClose)
        options?.signal?.removeEventListener('abort', onAbort)
      }
      const onDrain = (): void => { cleanup(); resolve() }
      const onClose = (evt: Event): void => { cleanup(); reject((evt as Event & { error?: Error }).error ?? new Error('the stream closed while waiting for it to drain')) }
      const onAbort = (): void => { cleanup(); reject(options?.signal?.reason) }
      if (options?.signal?.aborted === true) { onAbort(); return }
      this.addEventListener('drain', onDrain)
      this.addEventListener('close', onClose)
      options?.signal?.addEventListener('abort', onAbort)
    })
  }
}
