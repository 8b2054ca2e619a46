// /grove/probe/1.0.0: direct and indirect liveness probes, and the round-trip samples Vivaldi feeds on.
//
// A direct probe sends two pings on one stream and times the second: the first pays for protocol negotiation and
// stream setup, the second is one clean round trip, sub-millisecond on loopback (libp2p's ping protocol only
// reports whole milliseconds). An indirect probe asks a helper to probe the target and report ack or nack, so a
// peer that cannot reach the target itself learns whether others can (SWIM's ping-req).
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import { z } from 'zod'
import { PROBE_PROTOCOL } from '../protocols.js'
import { coordinateSchema, peerIdString, type Coordinate } from '../wire/schemas.js'
import { decode, encode } from '../wire/codec.js'
import { logger } from '../log.js'
import { deadline } from '../clock.js'

const log = logger('probe')
const MAX_BYTES = 4096

const requestSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('ping'), n: z.number().int().nonnegative() }),
  z.object({ t: z.literal('req'), target: peerIdString, timeoutMs: z.number().int().positive().max(30_000) })
])
const replySchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('ack'), n: z.number().int().nonnegative(), coordinate: coordinateSchema.nullable() }),
  z.object({ t: z.literal('nack') })
])

export interface ProbeResult {
  ok: boolean
  /** The clean round trip in ms, when ok. */
  rttMs?: number
  /** The target's coordinate as it reported it, when ok. */
  coordinate?: Coordinate | null
}

export interface ProbeService {
  start (): Promise<void>
  stop (): Promise<void>
  /** Probes `peer` directly within `timeoutMs`. Never throws. */
  direct (peer: string, timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult>
  /** Asks `helper` to probe `target`: 'ack', 'nack' (the helper could not reach it), or 'silent' (no answer). */
  indirect (helper: string, target: string, timeoutMs: number, signal?: AbortSignal): Promise<'ack' | 'nack' | 'silent'>
}

export interface ProbeComponents {
  libp2p: Libp2p
  /** This peer's current coordinate, returned with every ack. */
  coordinate (): Coordinate
  /** Whether `peer` may use this peer as an indirect-probe helper (it must be a known mesh member). */
  allowHelper (peer: string): boolean
}

export function probeService (components: ProbeComponents): ProbeService {
  const { libp2p } = components

  async function direct (peer: string, timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
    const { signal: until, clear } = deadline(timeoutMs, signal)
    let stream: Stream | undefined
    try {
      stream = await libp2p.dialProtocol(peerIdFromString(peer), PROBE_PROTOCOL, { signal: until })
      const lp = lpStream(stream, { maxDataLength: MAX_BYTES })
      await lp.write(encode({ t: 'ping', n: 0 }), { signal: until })
      decode((await lp.read({ signal: until })).subarray(), replySchema, MAX_BYTES)
      const started = performance.now()
      await lp.write(encode({ t: 'ping', n: 1 }), { signal: until })
      const reply = decode((await lp.read({ signal: until })).subarray(), replySchema, MAX_BYTES)
      const rttMs = performance.now() - started
      await stream.close({ signal: until }).catch(() => {})
      if (reply.t !== 'ack') return { ok: false }
      return { ok: true, rttMs, coordinate: reply.coordinate }
    } catch (err) {
      log('direct probe of %s failed: %s', peer, (err as Error).message)
      stream?.abort(err as Error)
      return { ok: false }
    } finally {
      clear()
    }
  }

  async function indirect (helper: string, target: string, timeoutMs: number, signal?: AbortSignal): Promise<'ack' | 'nack' | 'silent'> {
    // The helper gets most of the budget for its own probe; we keep the rest for the round trip to it.
    const { signal: until, clear } = deadline(timeoutMs, signal)
    let stream: Stream | undefined
    try {
      stream = await libp2p.dialProtocol(peerIdFromString(helper), PROBE_PROTOCOL, { signal: until })
      const lp = lpStream(stream, { maxDataLength: MAX_BYTES })
      await lp.write(encode({ t: 'req', target, timeoutMs: Math.max(1, Math.floor(timeoutMs * 0.7)) }), { signal: until })
      const reply = decode((await lp.read({ signal: until })).subarray(), replySchema, MAX_BYTES)
      await stream.close({ signal: until }).catch(() => {})
      return reply.t === 'ack' ? 'ack' : 'nack'
    } catch (err) {
      log('indirect probe of %s via %s failed: %s', target, helper, (err as Error).message)
      stream?.abort(err as Error)
      return 'silent'
    } finally {
      clear()
    }
  }

  async function onStream (stream: Stream, connection: Connection): Promise<void> {
    const { signal, clear } = deadline(30_000)
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_BYTES })
      // A prober sends at most two pings, or one request.
      for (let i = 0; i < 2; i++) {
        const req = decode((await lp.read({ signal })).subarray(), requestSchema, MAX_BYTES)
        if (req.t === 'ping') {
          await lp.write(encode({ t: 'ack', n: req.n, coordinate: components.coordinate() }), { signal })
          continue
        }
        if (!components.allowHelper(connection.remotePeer.toString())) {
          await lp.write(encode({ t: 'nack' }), { signal })
          break
        }
        const result = await direct(req.target, req.timeoutMs, signal)
        await lp.write(encode(result.ok ? { t: 'ack', n: 0, coordinate: result.coordinate ?? null } : { t: 'nack' }), { signal })
        break
      }
      await stream.close({ signal })
    } catch (err) {
      // The prober closing after its first ping (or its second) ends the loop here; that is normal.
      log('probe stream from %p ended: %s', connection.remotePeer, (err as Error).message)
      stream.abort(err as Error)
    } finally {
      clear()
    }
  }

  return {
    async start () {
      await libp2p.handle(PROBE_PROTOCOL, onStream, { maxInboundStreams: 64, maxOutboundStreams: 64 })
    },
    async stop () {
      await libp2p.unhandle(PROBE_PROTOCOL)
    },
    direct,
    indirect
  }
}
