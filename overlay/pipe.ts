// Bytes between a TCP socket and a libp2p stream (or a second socket), both ways, with backpressure, half-close and
// error propagation:
//
//   socket 'data'  ──send()──▶ stream        send() false  → socket.pause() until the stream drains
//   socket 'end'   ──close()─▶ stream        (half-close: the stream's write side only)
//   stream 'message' ─write()▶ socket        write() false → stream.pause() until the socket drains
//   stream FIN     ──end()───▶ socket        once every byte before the FIN was written
//   error / reset on either side → abort the other (the socket gets an RST, the stream a reset)
//
// Waiting for the stream to drain listens for its 'drain' event rather than `onDrain()`: in @libp2p/utils 7.4.1
// `onDrain()` keeps its first, already-resolved promise after the first drain, so later calls resolve at once and
// backpressure silently stops working (the write buffer of a fast sender then grows without bound).
import type { Socket } from 'node:net'
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { chunksOf } from './wire.js'

/**
 * yamux lets a sender grow its window up to 16 MiB, and a paused stream keeps buffering what is in flight: a read
 * buffer smaller than that would reset a flow whose consumer is merely slow.
 */
export const STREAM_READ_BUFFER_BYTES = 17 * 1024 * 1024

export interface PipeCounters {
  /** Bytes from the socket into the other side. */
  fromSocket: number
  /** Bytes from the other side into the socket. */
  toSocket: number
}

export interface Pipe extends PipeCounters {
  /** Settles when both sides are closed: undefined after a clean close, the error that ended it otherwise. */
  readonly done: Promise<Error | undefined>
  /** Aborts both sides. */
  close (err: Error): void
}

/** Sends an RST where Node can (so the peer sees an error, not a clean EOF), destroys the socket otherwise. */
export function resetSocket (socket: Socket, err?: Error): void {
  if (socket.destroyed) return
  if (!socket.connecting) socket.resetAndDestroy()
  // resetAndDestroy() does nothing to a socket that has lost its handle.
  if (!socket.destroyed) socket.destroy(err)
}

/** Waits for a stream that needs draining to drain; rejects when it closes first. */
export async function streamDrained (stream: Stream): Promise<void> {
  if (!stream.writableNeedsDrain) return
  await new Promise<void>((resolve, reject) => {
    const onDrain = (): void => { stream.removeEventListener('close', onClose); resolve() }
    const onClose = (evt: StreamCloseEvent): void => {
      stream.removeEventListener('drain', onDrain)
      reject(evt.error ?? new Error('stream closed while waiting to drain'))
    }
    stream.addEventListener('drain', onDrain, { once: true })
    stream.addEventListener('close', onClose, { once: true })
  })
}

/**
 * Pipes `socket` and `stream` into each other until both are closed. `leftover` holds bytes already read from the
 * stream (past the overlay header); they reach the socket first. The socket must allow half-open connections
 * (`allowHalfOpen: true`), or Node would end its write side as soon as the peer ends, breaking half-close.
 */
export function pipeSocketStream (socket: Socket, stream: Stream, leftover: Uint8Array[] = []): Pipe {
  let socketEof = false // the socket's peer ended its write side
  let socketEnded = false // we ended the socket's write side
  let socketClosed = false
  let streamClosed = false
  let failure: Error | undefined
  let settle!: (err: Error | undefined) => void
  const done = new Promise<Error | undefined>(resolve => { settle = resolve })

  const pipe: Pipe = { fromSocket: 0, toSocket: 0, done, close: (err) => { fail(err) } }
  stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, STREAM_READ_BUFFER_BYTES)

  const finish = (): void => {
    if (socketClosed && streamClosed) settle(failure)
  }
  const fail = (err: Error): void => {
    failure ??= err
    if (stream.status === 'open' || stream.status === 'closing') stream.abort(err)
    else streamClosed = true
    resetSocket(socket, err)
    finish()
  }

  const write = (chunk: Uint8Array): void => {
    pipe.toSocket += chunk.byteLength
    if (socket.write(chunk)) return
    if (stream.readStatus !== 'readable') return
    stream.pause()
    socket.once('drain', () => {
      if (stream.readStatus === 'paused') stream.resume()
    })
  }
  const maybeEndSocket = (): void => {
    if (socketEnded || failure !== undefined || socket.destroyed) return
    if (stream.status === 'aborted' || stream.status === 'reset') return
    if (stream.remoteWriteStatus === 'closed' && stream.readBufferLength === 0) {
      socketEnded = true
      socket.end()
    }
  }

  // socket → stream
  socket.on('data', (chunk: Buffer) => {
    pipe.fromSocket += chunk.byteLength
    let ok: boolean
    try {
      ok = stream.send(chunk)
    } catch (err) {
      fail(err as Error)
      return
    }
    if (ok) return
    socket.pause()
    streamDrained(stream).then(() => { if (!socket.destroyed) socket.resume() }, (err: Error) => { fail(err) })
  })
  socket.on('end', () => {
    socketEof = true
    stream.close().catch((err: Error) => { fail(err) })
  })
  socket.on('error', (err) => { fail(err) })
  socket.on('close', () => {
    socketClosed = true
    // A socket that closes before both directions ended cleanly was reset or destroyed: so is the stream.
    if (!(socketEof && socketEnded)) fail(failure ?? new Error('the socket closed before the flow ended'))
    finish()
  })

  // stream → socket
  for (const c of leftover) write(c)
  stream.addEventListener('message', (evt: StreamMessageEvent) => {
    if (socket.destroyed) return
    // One writev for a message of several chunks rather than a syscall per chunk.
    const chunks = chunksOf(evt.data)
    if (chunks.length > 1) socket.cork()
    for (const c of chunks) write(c)
    if (chunks.length > 1) socket.uncork()
    maybeEndSocket()
  })
  // A FIN can ride on the frame that carries the last data, and is then announced before that data is dispatched.
  stream.addEventListener('remoteCloseWrite', () => { queueMicrotask(maybeEndSocket) })
  stream.addEventListener('end', maybeEndSocket)
  stream.addEventListener('close', (evt: StreamCloseEvent) => {
    streamClosed = true
    if (evt.error !== undefined) fail(evt.error)
    else maybeEndSocket()
    finish()
  })
  if (socket.destroyed) {
    // The client gave up while the tunnel was being opened: its 'close' has passed already.
    socketClosed = true
    fail(new Error('the socket closed before the flow started'))
  } else if (stream.status !== 'open' && stream.status !== 'closing') {
    streamClosed = true
    fail(new Error(`the stream is already ${stream.status}`))
  } else {
    maybeEndSocket()
    // The socket's peer ended its side before the pipe was attached (while its early data was read).
    if (socket.readableEnded && !socketEof) {
      socketEof = true
      stream.close().catch((err: Error) => { fail(err) })
    }
  }
  return pipe
}

/** Two sockets into each other, for a local instance: Node's own backpressure, half-close passed on, errors reset. */
export function pipeSockets (client: Socket, target: Socket): Pipe {
  let failure: Error | undefined
  const open = new Set([client, target])
  let settle!: (err: Error | undefined) => void
  const done = new Promise<Error | undefined>(resolve => { settle = resolve })
  const pipe: Pipe = { fromSocket: 0, toSocket: 0, done, close: (err) => { fail(err) } }
  const closed = (s: Socket): void => {
    if (open.delete(s) && open.size === 0) settle(failure)
  }
  const fail = (err: Error): void => {
    failure ??= err
    resetSocket(client, err)
    resetSocket(target, err)
  }
  const wire = (from: Socket, to: Socket, count: (n: number) => void): void => {
    let eof = false
    from.on('data', (chunk: Buffer) => {
      count(chunk.byteLength)
      if (!to.write(chunk)) {
        from.pause()
        to.once('drain', () => { from.resume() })
      }
    })
    from.on('end', () => { eof = true; to.end() })
    // Ended before the pipe was attached (while the client's early data was read).
    if (from.readableEnded) { eof = true; to.end() }
    from.on('error', (err) => { fail(err) })
    from.on('close', () => {
      if (!eof || !from.writableFinished) fail(failure ?? new Error('the socket closed before the flow ended'))
      closed(from)
    })
  }
  wire(client, target, n => { pipe.fromSocket += n })
  wire(target, client, n => { pipe.toSocket += n })
  for (const s of [client, target]) {
    if (!s.destroyed) continue
    fail(new Error('the socket closed before the flow started'))
    closed(s)
  }
  return pipe
}
