// /grove/logs/1.0.0: an instance's log lines, served by the peer that runs it, so `grove logs` works from any peer.
// The request is one length-prefixed JSON message; the answer is a sequence of length-prefixed JSON chunks
// { lines } ending with { end: true, error? }. With follow, chunks keep coming until either side closes.
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { z } from 'zod'
import { LOGS_PROTOCOL } from '../protocols.js'
import { decode, encode } from '../wire/codec.js'
import { deadline } from '../clock.js'
import { logger } from '../log.js'

const log = logger('logs')
const MAX_REQUEST = 4096
const MAX_CHUNK = 256 * 1024

const requestSchema = z.object({
  v: z.literal(1),
  svc: z.string().regex(/^[0-9a-f]{24}$/),
  n: z.number().int().nonnegative(),
  tail: z.number().int().positive().max(100_000).optional(),
  follow: z.boolean()
})
const chunkSchema = z.union([
  z.object({ lines: z.array(z.string().max(64 * 1024)).max(10_000) }),
  z.object({ end: z.literal(true), error: z.string().max(1024).optional() })
])

export type LogSource = (svc: string, n: number, opts: { tail?: number, follow: boolean, signal: AbortSignal }) => AsyncIterable<string> | undefined

/** Serves this peer's instance logs to other peers. `source` answers undefined for instances not running here. */
export async function serveLogs (libp2p: Libp2p, source: LogSource, allow: (peer: string) => boolean): Promise<void> {
  await libp2p.handle(LOGS_PROTOCOL, async (stream: Stream, connection: Connection) => {
    const controller = new AbortController()
    stream.addEventListener('close', () => { controller.abort() })
    const lp = lpStream(stream, { maxDataLength: MAX_CHUNK })
    try {
      const first = deadline(5000)
      let req: z.infer<typeof requestSchema>
      try {
        req = decode((await lp.read({ signal: first.signal })).subarray(), requestSchema, MAX_REQUEST)
      } finally {
        first.clear()
      }
      if (!allow(connection.remotePeer.toString())) {
        await lp.write(encode({ end: true, error: 'not a member of this mesh' }))
        await stream.close()
        return
      }
      const lines = source(req.svc, req.n, { tail: req.tail, follow: req.follow, signal: controller.signal })
      if (lines === undefined) {
        await lp.write(encode({ end: true, error: `instance ${req.n} of service ${req.svc} does not run on this peer` }))
        await stream.close()
        return
      }
      let batch: string[] = []
      let size = 0
      for await (const line of lines) {
        batch.push(line)
        size += line.length
        if (size > 64 * 1024 || batch.length >= 500 || req.follow) {
          await lp.write(encode({ lines: batch }))
          batch = []
          size = 0
        }
      }
      if (batch.length > 0) await lp.write(encode({ lines: batch }))
      await lp.write(encode({ end: true }))
      await stream.close()
    } catch (err) {
      log('logs stream from %p ended: %s', connection.remotePeer, (err as Error).message)
      stream.abort(err as Error)
    } finally {
      controller.abort()
    }
  }, { maxInboundStreams: 64, maxOutboundStreams: 64 })
}

/** Reads an instance's log lines from the peer that runs it. */
export async function * fetchLogs (libp2p: Libp2p, peer: string, svc: string, n: number, opts: { tail?: number, follow: boolean, signal?: AbortSignal }): AsyncIterable<string> {
  const dial = deadline(10_000, opts.signal)
  let stream: Stream
  try {
    stream = await libp2p.dialProtocol(peerIdFromString(peer), LOGS_PROTOCOL, { signal: dial.signal })
  } finally {
    dial.clear()
  }
  const onAbort = (): void => { stream.abort(new Error('aborted')) }
  opts.signal?.addEventListener('abort', onAbort, { once: true })
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_CHUNK })
    await lp.write(encode({ v: 1, svc, n, tail: opts.tail, follow: opts.follow }))
    for (;;) {
      // Without follow the whole answer must come within a deadline; with follow, as long as the caller wants.
      const wait = opts.follow ? undefined : deadline(15_000, opts.signal)
      let chunk
      try {
        chunk = decode((await lp.read({ signal: wait?.signal ?? opts.signal })).subarray(), chunkSchema, MAX_CHUNK)
      } finally {
        wait?.clear()
      }
      if ('end' in chunk) {
        if (chunk.error !== undefined) throw new Error(chunk.error)
        break
      }
      yield * chunk.lines
    }
    await stream.close().catch(() => {})
  } finally {
    opts.signal?.removeEventListener('abort', onAbort)
  }
}
