// User-space latency emulation for the netns testnet on kernels without sch_netem. A connection protector that
// wraps each raw TCP connection whose remote address falls in one of the configured subnets (the other regions)
// and holds every chunk it receives for `ms` before passing it on. Both ends do the same, so a round trip between
// regions gains 2 × ms, as with `tc netem delay ms` on each side's egress. Enabled only through
// GROVE_EMULATE_DELAY="<ms>@<cidr>,<cidr>..." which the testnet sets; never in production.
import { AbstractMultiaddrConnection } from '@libp2p/utils'
import type { ConnectionProtector, MessageStream, AbortOptions, MultiaddrConnection } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { logger } from './log.js'

const log = logger('emulate-delay')

export interface DelaySpec { ms: number, cidrs: Array<{ base: number, mask: number }> }

function ipv4ToInt (ip: string): number | undefined {
  const parts = ip.split('.').map(Number)
  if (parts.length !== 4 || parts.some(p => !Number.isInteger(p) || p < 0 || p > 255)) return undefined
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3]
}

/** Parses "<ms>@<cidr>,<cidr>"; throws with a message naming the variable. */
export function parseDelaySpec (text: string): DelaySpec {
  const m = /^(\d+(?:\.\d+)?)@(.+)$/.exec(text.trim())
  if (m === null) throw new Error(`GROVE_EMULATE_DELAY: expected <ms>@<cidr>,..., got "${text}"`)
  const cidrs = m[2].split(',').map(c => {
    const [ip, bits] = c.trim().split('/')
    const base = ipv4ToInt(ip)
    const n = Number(bits ?? 32)
    if (base === undefined || !Number.isInteger(n) || n < 0 || n > 32) throw new Error(`GROVE_EMULATE_DELAY: "${c}" is not an IPv4 CIDR`)
    const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0
    return { base: (base & mask) >>> 0, mask }
  })
  return { ms: Number(m[1]), cidrs }
}

export function matches (spec: DelaySpec, ip: string): boolean {
  const n = ipv4ToInt(ip)
  return n !== undefined && spec.cidrs.some(c => ((n & c.mask) >>> 0) === c.base)
}

class DelayedConnection extends AbstractMultiaddrConnection {
  private readonly inner: MultiaddrConnection

  constructor (inner: MultiaddrConnection, ms: number) {
    super({ remoteAddr: inner.remoteAddr, direction: inner.direction, log: inner.log.newScope('delay') })
    this.inner = inner
    // Equal delays keep the order: timers of the same duration fire in the order they were set.
    inner.addEventListener('message', (evt) => {
      const data = evt.data
      setTimeout(() => { this.onData(data) }, ms)
    })
    inner.addEventListener('drain', () => { this.onMuxerDrain() })
    inner.addEventListener('close', (evt) => {
      setTimeout(() => {
        if (evt.error != null) {
          if (evt.local) this.abort(evt.error)
          else this.onRemoteReset()
        } else {
          this.onTransportClosed()
        }
      }, ms)
    })
  }

  async sendClose (options?: AbortOptions): Promise<void> { await this.inner.close(options) }
  sendData (data: Uint8ArrayList): { sentBytes: number, canSendMore: boolean } {
    return { sentBytes: data.byteLength, canSendMore: this.inner.send(data) }
  }

  sendReset (err: Error): void { this.inner.abort(err) }
  sendPause (): void { this.inner.pause() }
  sendResume (): void { this.inner.resume() }
}

/** Wraps `inner` (the swarm-key protector, if any) so that connections to the given subnets are delayed. */
export function delayingProtector (spec: DelaySpec, inner?: (components: unknown) => ConnectionProtector): (components: unknown) => ConnectionProtector {
  return (components) => {
    const protector = inner?.(components)
    return {
      async protect (connection: MessageStream, options?: AbortOptions): Promise<MessageStream> {
        const maConn = connection as MultiaddrConnection
        const host = maConn.remoteAddr?.getComponents().find(c => c.name === 'ip4')?.value
        let stream: MessageStream = connection
        if (host !== undefined && matches(spec, host)) {
          log('delaying %s by %d ms', host, spec.ms)
          stream = new DelayedConnection(maConn, spec.ms)
        }
        return protector === undefined ? stream : await protector.protect(stream, options)
      }
    }
  }
}
