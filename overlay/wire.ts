// The overlay's wire format, shared by /grove/overlay/tcp/1.0.0 and /grove/overlay/udp/1.0.0.
//
//   client ──▶ frame(JSON { v: 1, ip, port })          the service or instance IP and the container port
//   client ◀── frame(JSON { ok: true } | { ok: false, error })
//   then   tcp: raw bytes both ways, FIN = half-close, reset = error
//          udp: one frame per datagram, both ways
//
// A frame is a 2-byte big-endian length and that many bytes, so a frame carries at most 65535 bytes: every IPv4
// UDP payload fits. The header and the answer are limited to MAX_CONTROL_BYTES and must arrive within a deadline.
import { z } from 'zod'
import type { Stream, StreamMessageEvent } from '@libp2p/interface'
import { OverlayProtocolError } from './errors.js'

export const WIRE_VERSION = 1
export const MAX_FRAME_BYTES = 0xffff
export const MAX_CONTROL_BYTES = 1024

export const headerSchema = z.object({
  v: z.literal(WIRE_VERSION),
  ip: z.string().max(15).regex(/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/, 'must be an IPv4 address'),
  port: z.number().int().min(1).max(65535)
})
export type Header = z.infer<typeof headerSchema>

export const answerSchema = z.object({
  ok: z.boolean(),
  error: z.string().max(512).optional()
})
export type Answer = z.infer<typeof answerSchema>

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** A 2-byte big-endian length prefix and the payload. */
export function frame (payload: Uint8Array): Uint8Array {
  if (payload.byteLength > MAX_FRAME_BYTES) throw new OverlayProtocolError(`a frame carries at most ${MAX_FRAME_BYTES} bytes, not ${payload.byteLength}`)
  const out = new Uint8Array(2 + payload.byteLength)
  out[0] = payload.byteLength >>> 8
  out[1] = payload.byteLength & 0xff
  out.set(payload, 2)
  return out
}

export function encodeControl (value: Header | Answer): Uint8Array {
  return frame(encoder.encode(JSON.stringify(value)))
}

export function decodeControl<S extends z.ZodType> (bytes: Uint8Array, schema: S, what: string): z.infer<S> {
  let raw: unknown
  try {
    raw = JSON.parse(decoder.decode(bytes))
  } catch {
    throw new OverlayProtocolError(`${what} is not UTF-8 JSON`)
  }
  const parsed = schema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw new OverlayProtocolError(`${what}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`.trim())
  }
  return parsed.data
}

/** The bytes of a stream message, without copying a single-chunk list. */
export function chunksOf (data: StreamMessageEvent['data']): Uint8Array[] {
  return data instanceof Uint8Array ? [data] : [...data]
}

/** Splits a byte stream into frames. Refuses a frame longer than `maxBytes` as soon as its length is known. */
export class FrameDecoder {
  private chunks: Uint8Array[] = []
  private length = 0

  constructor (private readonly maxBytes = MAX_FRAME_BYTES) {}

  get buffered (): number { return this.length }

  push (chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return
    this.chunks.push(chunk)
    this.length += chunk.byteLength
  }

  /** The next complete frame, or undefined until more bytes arrive. */
  next (): Uint8Array | undefined {
    if (this.length < 2) return undefined
    const head = this.peek(2)
    const size = (head[0] << 8) | head[1]
    if (size > this.maxBytes) throw new OverlayProtocolError(`frame of ${size} bytes exceeds the limit of ${this.maxBytes}`)
    if (this.length < 2 + size) return undefined
    this.take(2)
    return this.take(size)
  }

  /**
   * Consumes `expected` from the front: true once it has, false until enough bytes arrived.
   * @throws OverlayProtocolError when the bytes differ (`what` names them)
   */
  expect (expected: Uint8Array, what: string): boolean {
    if (this.length < expected.byteLength) return false
    const got = this.peek(expected.byteLength)
    if (!got.every((b, i) => b === expected[i])) throw new OverlayProtocolError(`unexpected ${what}: ${JSON.stringify(new TextDecoder().decode(got))}`)
    this.take(expected.byteLength)
    return true
  }

  /** Whatever was pushed past the frames taken so far, emptying the decoder. */
  rest (): Uint8Array[] {
    const out = this.chunks
    this.chunks = []
    this.length = 0
    return out
  }

  private peek (n: number): Uint8Array {
    const first = this.chunks[0]
    if (first.byteLength >= n) return first.subarray(0, n)
    const out = new Uint8Array(n)
    let off = 0
    for (const c of this.chunks) {
      const part = c.subarray(0, n - off)
      out.set(part, off)
      off += part.byteLength
      if (off === n) break
    }
    return out
  }

  private take (n: number): Uint8Array {
    this.length -= n
    const first = this.chunks[0]
    if (first !== undefined && first.byteLength >= n) {
      if (first.byteLength === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
      return first.subarray(0, n)
    }
    const out = new Uint8Array(n)
    let off = 0
    while (off < n) {
      const c = this.chunks[0]
      const need = n - off
      if (c.byteLength <= need) {
        out.set(c, off)
        off += c.byteLength
        this.chunks.shift()
      } else {
        out.set(c.subarray(0, need), off)
        this.chunks[0] = c.subarray(need)
        off += need
      }
    }
    return out
  }
}

/**
 * Reads one control frame from a stream, within `signal`, after the bytes `expect` names if given (a lazily
 * negotiated stream's multistream-select reply). Resolves with the frame and the bytes that arrived after it
 * (which belong to the data phase). The listener is attached before the first await, so the stream never sits
 * without a reader; after this resolves, later data waits in the stream's read buffer until the caller's listener
 * (the pipe) attaches.
 */
export async function readControl (stream: Stream, signal: AbortSignal, what: string, expect?: { bytes: Uint8Array, what: string }): Promise<{ frame: Uint8Array, rest: Uint8Array[] }> {
  const decoder = new FrameDecoder(MAX_CONTROL_BYTES)
  let expecting = expect
  return await new Promise((resolve, reject) => {
    const cleanup = (): void => {
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('close', onClose)
      stream.removeEventListener('remoteCloseWrite', onEof)
      signal.removeEventListener('abort', onAbort)
    }
    const fail = (err: Error): void => { cleanup(); reject(err) }
    const onMessage = (evt: StreamMessageEvent): void => {
      for (const c of chunksOf(evt.data)) decoder.push(c)
      let f: Uint8Array | undefined
      try {
        if (expecting !== undefined) {
          if (!decoder.expect(expecting.bytes, expecting.what)) return
          expecting = undefined
        }
        f = decoder.next()
      } catch (err) {
        fail(err as Error)
        return
      }
      if (f === undefined) return
      cleanup()
      resolve({ frame: f, rest: decoder.rest() })
    }
    const onClose = (evt: Event): void => {
      const error = (evt as Event & { error?: Error }).error
      fail(error ?? new OverlayProtocolError(`stream closed before the ${what}`))
    }
    const onEof = (): void => {
      // 'remoteCloseWrite' is dispatched after any data that came before the FIN was delivered.
      queueMicrotask(() => { fail(new OverlayProtocolError(`stream ended before the ${what}`)) })
    }
    const onAbort = (): void => { fail(new OverlayProtocolError(`no ${what} within the deadline: ${String((signal.reason as Error | undefined)?.message ?? signal.reason)}`)) }
    if (signal.aborted) { onAbort(); return }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', onClose)
    stream.addEventListener('remoteCloseWrite', onEof)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
