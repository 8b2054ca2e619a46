// /grove/overlay/udp/1.0.0: UDP datagrams to a service, one libp2p stream per flow (a client address:port talking
// to a service IP:port), each datagram a 2-byte-length frame. Same header and answer as TCP.
//
//   proxy: dgram listener ── per client flow ──▶ DatagramTunnel(stream) ──▶ hosting peer: one dgram socket per flow,
//          ◀──────── replies to the client ◀──                         ◀──  connected to the instance's endpoint
//
// UDP has no end: a flow ends after `idleMs` without a datagram either way (default 30 s), and then closes its
// stream cleanly. Datagrams are dropped, never queued, while the stream cannot take more (UDP may lose them anyway,
// and queuing would let one flow take unbounded memory).
import { createSocket, type Socket as DgramSocket } from 'node:dgram'
import { isIPv6 } from 'node:net'
import type { Connection, Stream, StreamHandler, StreamMessageEvent } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { OVERLAY_UDP_PROTOCOL } from '../node/protocols.js'
import { deadline } from '../node/clock.js'
import { FrameDecoder, chunksOf, decodeControl, encodeControl, frame, headerSchema, readControl, type Header } from './wire.js'
import { openTunnel, pathOf, refuse, type OverlayDialer, type ResolveLocal, type Tunnel } from './tcp.js'
import { FlowClosedError } from './errors.js'

const log = logger('grove:overlay:udp')

export const DEFAULT_UDP_IDLE_MS = 30_000

export interface DatagramTunnelInit {
  /** Called with each datagram from the far side. */
  onDatagram: (payload: Uint8Array) => void
  /** @default 30000 */
  idleMs?: number
  /** Frames already read past the answer. */
  leftover?: Uint8Array[]
}

/** Datagrams over one stream, both ways, with an idle timeout. */
export class DatagramTunnel implements DatagramFlow {
  /** Datagrams and bytes sent into the stream / received from it; dropped: not sent for want of stream capacity. */
  sent = 0
  received = 0
  bytesSent = 0
  bytesReceived = 0
  dropped = 0
  readonly done: Promise<Error | undefined>
  private settle!: (err: Error | undefined) => void
  private readonly decoder = new FrameDecoder()
  private readonly idle: ReturnType<typeof setTimeout>
  private closed = false

  constructor (readonly stream: Stream, private readonly init: DatagramTunnelInit) {
    this.done = new Promise(resolve => { this.settle = resolve })
    const idleMs = init.idleMs ?? DEFAULT_UDP_IDLE_MS
    this.idle = setTimeout(() => { this.end() }, idleMs)
    this.idle.unref()
    for (const c of init.leftover ?? []) this.decoder.push(c)
    stream.addEventListener('message', (evt: StreamMessageEvent) => {
      for (const c of chunksOf(evt.data)) this.decoder.push(c)
      this.drainFrames()
    })
    stream.addEventListener('remoteCloseWrite', () => { queueMicrotask(() => { this.end() }) })
    stream.addEventListener('close', (evt) => { this.finish(evt.error) })
    if (stream.status !== 'open' && stream.status !== 'closing') {
      this.finish(new FlowClosedError(`the stream is already ${stream.status}`))
      return
    }
    this.drainFrames()
    // The far side may have ended before this listener was attached.
    if (stream.remoteWriteStatus === 'closed') queueMicrotask(() => { this.end() })
  }

  /** Sends one datagram; false when it was dropped. */
  send (payload: Uint8Array): boolean {
    if (this.closed || this.stream.writeStatus !== 'writable' || this.stream.writableNeedsDrain) {
      this.dropped++
      return false
    }
    try {
      this.stream.send(frame(payload))
    } catch (err) {
      this.abort(err as Error)
      return false
    }
    this.sent++
    this.bytesSent += payload.byteLength
    this.idle.refresh()
    return true
  }

  /** Ends the flow cleanly: the far side sees the stream end and closes its side too. */
  end (): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.idle)
    this.stream.close().catch((err: Error) => { this.abort(err) })
    // A far side that never closes its half must not hold the flow open.
    const grace = setTimeout(() => { this.abort(new FlowClosedError('the far side did not close the flow')) }, 2_000)
    grace.unref()
    void this.done.then(() => { clearTimeout(grace) })
  }

  abort (err: Error): void {
    this.closed = true
    clearTimeout(this.idle)
    if (this.stream.status === 'open' || this.stream.status === 'closing') this.stream.abort(err)
    this.finish(err)
  }

  private drainFrames (): void {
    for (;;) {
      let payload: Uint8Array | undefined
      try {
        payload = this.decoder.next()
      } catch (err) {
        this.abort(err as Error)
        return
      }
      if (payload === undefined) return
      this.received++
      this.bytesReceived += payload.byteLength
      this.idle.refresh()
      try {
        this.init.onDatagram(payload)
      } catch (err) {
        log('datagram handler failed: %s', (err as Error).message)
      }
    }
  }

  private finish (err: Error | undefined): void {
    this.closed = true
    clearTimeout(this.idle)
    this.settle(err)
  }
}

export interface InboundUdpFlow {
  header: Header
  peerId: string
  path: 'direct' | 'relay'
  target: { host: string, port: number }
  tunnel: DatagramTunnel
}

export interface UdpServerInit {
  resolveLocal: ResolveLocal
  onFlow?: (flow: InboundUdpFlow) => void
  /** @default 30000 */
  idleMs?: number
  /** @default 5000 */
  headerTimeoutMs?: number
}

/** The server side: one dgram socket per flow, connected to the instance's endpoint. */
export function udpHandler (init: UdpServerInit): StreamHandler {
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
    const target = init.resolveLocal(header.ip, header.port, 'udp')
    if (target === undefined) {
      await refuse(stream, `no RUNNING instance behind ${header.ip}:${header.port}/udp is hosted on this peer`)
      return
    }
    let socket: DgramSocket
    try {
      socket = await connectDgram(target)
    } catch (err) {
      await refuse(stream, `cannot reach the instance at ${target.host}:${target.port}/udp: ${(err as Error).message}`)
      return
    }
    const tunnel = new DatagramTunnel(stream, {
      idleMs: init.idleMs,
      leftover: rest,
      onDatagram: (payload) => { socket.send(payload, (err) => { if (err != null) log('send to instance failed: %s', err.message) }) }
    })
    socket.on('message', (msg) => { tunnel.send(msg) })
    // ICMP port unreachable and the like: UDP carries on, the instance may come back.
    socket.on('error', (err) => { log('instance socket error: %s', err.message) })
    void tunnel.done.then(() => { closeDgram(socket) })
    try {
      stream.send(encodeControl({ ok: true }))
    } catch (err) {
      tunnel.abort(err as Error)
      return
    }
    init.onFlow?.({ header, peerId: connection.remotePeer.toString(), path: pathOf(connection), target, tunnel })
  }
}

export function closeDgram (socket: DgramSocket): void {
  try {
    socket.close()
  } catch {} // already closed
}

/** A dgram socket connected to `target`, so it only hears the instance's replies. */
export async function connectDgram (target: { host: string, port: number }): Promise<DgramSocket> {
  const socket = createSocket(isIPv6(target.host) ? 'udp6' : 'udp4')
  return await new Promise((resolve, reject) => {
    socket.once('error', (err) => { socket.close(); reject(err) })
    socket.connect(target.port, target.host, () => {
      socket.removeAllListeners('error')
      resolve(socket)
    })
  })
}

/** The client side of the UDP protocol: a tunnel for one flow; wrap its stream in a DatagramTunnel. */
export async function openUdp (libp2p: OverlayDialer, peerId: string, ip: string, port: number, signal: AbortSignal): Promise<Tunnel> {
  return await openTunnel(libp2p, OVERLAY_UDP_PROTOCOL, peerId, ip, port, signal)
}

/** What the proxy needs of a UDP flow, whether it goes through a stream or straight to a local instance. */
export interface DatagramFlow {
  readonly done: Promise<Error | undefined>
  bytesSent: number
  bytesReceived: number
  dropped: number
  send (payload: Uint8Array): boolean
  end (): void
  abort (err: Error): void
}

/** A UDP flow to an instance on this peer: a dgram socket connected to its endpoint, with the same idle timeout. */
export class LocalDatagramFlow implements DatagramFlow {
  bytesSent = 0
  bytesReceived = 0
  dropped = 0
  readonly done: Promise<Error | undefined>
  private settle!: (err: Error | undefined) => void
  private readonly idle: ReturnType<typeof setTimeout>
  private closed = false

  constructor (private readonly socket: DgramSocket, onDatagram: (payload: Uint8Array) => void, idleMs = DEFAULT_UDP_IDLE_MS) {
    this.done = new Promise(resolve => { this.settle = resolve })
    this.idle = setTimeout(() => { this.end() }, idleMs)
    this.idle.unref()
    socket.on('message', (msg) => {
      this.bytesReceived += msg.byteLength
      this.idle.refresh()
      onDatagram(msg)
    })
    socket.on('error', (err) => { log('local instance socket error: %s', err.message) })
  }

  send (payload: Uint8Array): boolean {
    if (this.closed) {
      this.dropped++
      return false
    }
    this.bytesSent += payload.byteLength
    this.idle.refresh()
    this.socket.send(payload, (err) => { if (err != null) log('send to local instance failed: %s', err.message) })
    return true
  }

  end (): void {
    this.finish(undefined)
  }

  abort (err: Error): void {
    this.finish(err)
  }

  private finish (err: Error | undefined): void {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.idle)
    closeDgram(this.socket)
    this.settle(err)
  }
}
