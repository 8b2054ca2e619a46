// Request/response over libp2p streams: one length-prefixed JSON request, one length-prefixed JSON response.
// Every read has a byte limit and a deadline, so a slow or hostile peer can hold a stream for at most timeoutMs.
import { lpStream } from '@libp2p/utils'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { z } from 'zod'
import { decode, encode, WireError } from './codec.js'
import { logger } from '../log.js'
import { deadline } from '../clock.js'

const log = logger('rpc')

export interface RpcOptions {
  /** Largest message accepted, in bytes. @default 65536 */
  maxBytes?: number
  /** Deadline for the whole exchange. @default 5000 */
  timeoutMs?: number
  signal?: AbortSignal
}


/** Sends one request and reads one response, validated against `responseSchema`. */
export async function request<S extends z.ZodType> (
  libp2p: Libp2p, peer: PeerId | Multiaddr, protocol: string, body: unknown, responseSchema: S, opts: RpcOptions = {}
): Promise<z.infer<S>> {
  const { signal, clear } = deadline(opts.timeoutMs ?? 5000, opts.signal)
  const maxBytes = opts.maxBytes ?? 65536
  let stream: Stream | undefined
  try {
    stream = await libp2p.dialProtocol(peer, protocol, { signal })
    const lp = lpStream(stream, { maxDataLength: maxBytes })
    await lp.write(encode(body), { signal })
    const reply = await lp.read({ signal })
    await stream.close({ signal }).catch(() => {})
    return decode(reply.subarray(), responseSchema, maxBytes)
  } catch (err) {
    stream?.abort(err as Error)
    throw err
  } finally {
    clear()
  }
}

export interface HandlerOptions extends RpcOptions {
  /** Concurrent inbound streams of this protocol per connection. @default 32 */
  maxInboundStreams?: number
}

/**
 * Registers a handler that reads one request, validates it, and writes back what `handler` returns. A request
 * that fails validation is answered with `{ error }` and the stream is closed; nothing invalid reaches `handler`.
 */
export async function handle<S extends z.ZodType> (
  libp2p: Libp2p, protocol: string, requestSchema: S,
  handler: (req: z.infer<S>, connection: Connection, signal: AbortSignal) => Promise<unknown>,
  opts: HandlerOptions = {}
): Promise<void> {
  const maxBytes = opts.maxBytes ?? 65536
  await libp2p.handle(protocol, async (stream: Stream, connection: Connection) => {
    const { signal, clear } = deadline(opts.timeoutMs ?? 5000)
    try {
      const lp = lpStream(stream, { maxDataLength: maxBytes })
      const raw = await lp.read({ signal })
      let reply: unknown
      try {
        reply = await handler(decode(raw.subarray(), requestSchema, maxBytes), connection, signal)
      } catch (err) {
        if (!(err instanceof WireError)) throw err
        log('rejected %s request from %p: %s', protocol, connection.remotePeer, err.message)
        reply = { error: err.message }
      }
      await lp.write(encode(reply), { signal })
      await stream.close({ signal })
    } catch (err) {
      log('%s stream from %p failed: %s', protocol, connection.remotePeer, (err as Error).message)
      stream.abort(err as Error)
    } finally {
      clear()
    }
  }, { maxInboundStreams: opts.maxInboundStreams ?? 32, maxOutboundStreams: 64 })
}
