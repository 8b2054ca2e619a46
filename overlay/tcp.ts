// /grove/overlay/tcp/1.0.0: a TCP connection to a service, carried on a libp2p stream to the peer that hosts the
// chosen instance.
//
//   proxy peer                                   hosting peer
//   openTcp() ── header { v:1, ip, port } ──▶    resolveLocal(ip, port, 'tcp') → a RUNNING instance hosted here?
//                                                  no  → { ok:false, error }, close
//                                                  yes → net.connect(endpoint)
//             ◀── { ok:true } ────────────────    (only once the instance accepted the connection)
//   pipeSocketStream(client socket, stream)  ⇄    pipeSocketStream(instance socket, stream)
//
// The header carries along what the client had already sent when its connection was accepted (early data: an HTTP
// request, say), which saves a round trip; the hosting peer writes it to the instance first. After that the client
// sends nothing until the answer, so a refusal is clean: the proxy still holds the early data and tries the next
// backend with it. The server side is not an open proxy: it connects only to endpoints of instances it hosts.
import { connect, type Socket } from 'node:net'
import type { Connection, Libp2p, Stream, StreamHandler } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { concat } from 'uint8arrays/concat'
import { logger } from '@libp2p/logger'
import { OVERLAY_TCP_PROTOCOL } from '../node/protocols.js'
import { deadline } from '../node/clock.js'
import { answerSchema, decodeControl, encodeControl, headerSchema, readControl, type Header } from './wire.js'
import { OverlayRefusedError } from './errors.js'
import { pipeSocketStream, type Pipe } from './pipe.js'
import type { Protocol } from './routes.js'

const log = logger('grove:overlay:tcp')
const ms = (x: number): string => x.toFixed(2)

/** Streams per protocol and connection: the libp2p defaults (32 in, 64 out) are far too few for a busy service. */
export const MAX_OVERLAY_STREAMS = 1024

export const STREAM_OPTIONS = { maxInboundStreams: MAX_OVERLAY_STREAMS, maxOutboundStreams: MAX_OVERLAY_STREAMS, runOnLimitedConnection: true } as const

export type FlowPath = 'local' | 'direct' | 'relay'

/** A relayed connection (circuit relay v2) carries `/p2p-circuit` in its address, or has relay limits. */
export function pathOf (connection: Pick<Connection, 'remoteAddr' | 'limits'>): 'direct' | 'relay' {
  return connection.limits != null || connection.remoteAddr.toString().includes('/p2p-circuit') ? 'relay' : 'direct'
}

export type ResolveLocal = (ip: string, port: number, protocol: Protocol) => { host: string, port: number } | undefined

export interface InboundFlow {
  header: Header
  peerId: string
  path: 'direct' | 'relay'
  target: { host: string, port: number }
  pipe: Pipe
}

export interface TcpServerInit {
  resolveLocal: ResolveLocal
  /** Called for each accepted flow, so the overlay can list it and close it when its instance goes. */
  onFlow?: (flow: InboundFlow) => void
  /** The header must arrive within this. @default 5000 */
  headerTimeoutMs?: number
  /** The instance must accept the connection within this. @default 5000 */
  connectTimeoutMs?: number
}

/** The server side: the handler to register for OVERLAY_TCP_PROTOCOL with STREAM_OPTIONS. */
export function tcpHandler (init: TcpServerInit): StreamHandler {
  return async (stream: Stream, connection: Connection) => {
    const headerDeadline = deadline(init.headerTimeoutMs ?? 5_000)
    let header: Header
    let rest: Uint8Array[]
    try {
      const read = await readControl(stream, headerDeadline.signal, 'overlay header')
      header = decodeControl(read.frame, headerSchema, 'overlay header')
      rest = read.rest
    } catch (err) {
      log('bad header from %s: %s', connection.remotePeer.toString(), (err as Error).message)
      stream.abort(err as Error)
      return
    } finally {
      headerDeadline.clear()
    }

    const tHeader = performance.now()
    const target = init.resolveLocal(header.ip, header.port, 'tcp')
    if (target === undefined) {
      await refuse(stream, `no RUNNING instance behind ${header.ip}:${header.port}/tcp is hosted on this peer`)
      return
    }
    let socket: Socket
    try {
      socket = await connectTo(target, init.connectTimeoutMs ?? 5_000)
    } catch (err) {
      await refuse(stream, `the instance at ${target.host}:${target.port} refused: ${(err as Error).message}`)
      return
    }
    try {
      stream.send(encodeControl({ ok: true }))
    } catch (err) {
      socket.destroy()
      stream.abort(err as Error)
      return
    }
    if (log.enabled) log('stream for %s:%d answered %s ms after its header (instance connect included)', header.ip, header.port, ms(performance.now() - tHeader))
    const pipe = pipeSocketStream(socket, stream, rest)
    init.onFlow?.({ header, peerId: connection.remotePeer.toString(), path: pathOf(connection), target, pipe })
  }
}

/** Answers `{ ok: false }`, half-closes, and resets the stream if the client does not close its side soon. */
export async function refuse (stream: Stream, error: string): Promise<void> {
  log('refused stream: %s', error)
  try {
    stream.send(encodeControl({ ok: false, error }))
    const grace = setTimeout(() => { stream.abort(new OverlayRefusedError(error)) }, 2_000)
    grace.unref()
    stream.addEventListener('close', () => { clearTimeout(grace) }, { once: true })
    await stream.close()
  } catch (err) {
    stream.abort(err as Error)
  }
}

/** net.connect with a deadline; the socket allows half-open connections, which the pipe relies on. */
export async function connectTo (target: { host: string, port: number }, timeoutMs: number): Promise<Socket> {
  return await new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no connection within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.removeAllListeners('error')
      resolve(socket)
    })
    socket.once('error', (err) => {
      clearTimeout(timer)
      socket.destroy()
      reject(err)
    })
  })
}

export interface Tunnel {
  stream: Stream
  connection: Connection
  path: 'direct' | 'relay'
  /** Bytes the hosting peer sent right after its answer: they go to the client first. */
  leftover: Uint8Array[]
}

export type OverlayDialer = Pick<Libp2p, 'dial'>

/** multistream-select 1.0's proposal of one protocol: its header line and the protocol's, each length-prefixed. */
export function mssProposal (protocol: string): Uint8Array {
  const lines = [MSS_HEADER, `${protocol}\n`].map(l => new TextEncoder().encode(l))
  const out = new Uint8Array(lines.reduce((n, l) => n + 1 + l.byteLength, 0))
  let off = 0
  for (const l of lines) {
    // A one-byte varint: protocol names here are far shorter than 128 bytes.
    if (l.byteLength > 127) throw new Error(`protocol name too long for a one-byte length: ${protocol}`)
    out[off++] = l.byteLength
    out.set(l, off)
    off += l.byteLength
  }
  return out
}

const MSS_HEADER = '/multistream/1.0.0\n'

interface Muxer { createStream: (options?: { signal?: AbortSignal }) => Promise<Stream> }

/**
 * A stream for `protocol` whose first bytes are `first`, sent with the protocol proposal in one write, and the
 * bytes its reply must start with. libp2p 3's newStream() waits a round trip for the remote to accept the
 * protocol (`negotiateFully: false` is declared but not implemented), and merges the protocol into the peer store
 * before it returns; a new overlay flow cannot afford either. The proposal goes out with the header instead, and
 * the remote's acceptance (multistream-select echoes the proposal) is read in front of the answer. The muxer is
 * not part of libp2p's public Connection type: without one, this falls back to newStream().
 */
async function openLazily (connection: Connection, protocol: string, first: Uint8Array, signal: AbortSignal): Promise<{ stream: Stream, expect?: { bytes: Uint8Array, what: string } }> {
  const muxer = (connection as unknown as { muxer?: Muxer }).muxer
  const lazy = muxer !== undefined && typeof muxer.createStream === 'function'
  const stream = lazy
    ? await muxer.createStream({ signal })
    : await connection.newStream(protocol, { signal, maxOutboundStreams: MAX_OVERLAY_STREAMS, runOnLimitedConnection: true })
  const proposal = mssProposal(protocol)
  try {
    if (lazy) stream.protocol = protocol
    stream.send(lazy ? concat([proposal, first]) : first)
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
  return lazy ? { stream, expect: { bytes: proposal, what: `reply to the proposal of ${protocol}` } } : { stream }
}

/**
 * Opens a stream to `peerId` for `protocol`, sends the header and waits for the answer. Relayed connections are
 * allowed, so a peer reachable only through a relay is still served.
 * @throws OverlayRefusedError when the hosting peer has no such instance
 */
export async function openTunnel (libp2p: OverlayDialer, protocol: string, peerId: string, ip: string, port: number, signal: AbortSignal, early?: Uint8Array): Promise<Tunnel> {
  const t0 = performance.now()
  const connection = await libp2p.dial(peerIdFromString(peerId), { signal })
  const tDial = performance.now()
  const header = encodeControl({ v: 1, ip, port })
  const { stream, expect } = await openLazily(connection, protocol, early === undefined ? header : concat([header, early]), signal)
  try {
    const tStream = performance.now()
    const { frame, rest } = await readControl(stream, signal, 'overlay answer', expect)
    const answer = decodeControl(frame, answerSchema, 'overlay answer')
    if (!answer.ok) throw new OverlayRefusedError(`${peerId} refused ${ip}:${port}: ${answer.error ?? 'no reason given'}`)
    if (log.enabled) log('tunnel to %s:%d open in %s ms: dial %s, stream %s, answer %s', ip, port, ms(performance.now() - t0), ms(tDial - t0), ms(tStream - tDial), ms(performance.now() - tStream))
    return { stream, connection, path: pathOf(connection), leftover: rest }
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/**
 * The client side of the TCP protocol: a tunnel to pipe a net.Socket into (`pipeSocketStream(socket, t.stream,
 * t.leftover)`). `early` holds bytes the client has already sent: they go out with the header, and the hosting peer
 * passes them to the instance first (once it accepts; after a refusal they are still the caller's to send elsewhere).
 */
export async function openTcp (libp2p: OverlayDialer, peerId: string, ip: string, port: number, signal: AbortSignal, early?: Uint8Array): Promise<Tunnel> {
  return await openTunnel(libp2p, OVERLAY_TCP_PROTOCOL, peerId, ip, port, signal, early)
}
