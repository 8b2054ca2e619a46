// The service proxy: every peer listens on every service IP and port, and sends each new connection (or UDP flow) to
// an instance chosen by the address's policy.
//
//   state (svc/ sip/ inst/) ──onChange, debounced──▶ rebuild: buildRoutes()
//                                                       ├─ open/close listeners (TCP server, dgram socket) per IP:port
//                                                       ├─ privileged: add/remove the IP as a /32 on lo
//                                                       └─ close flows whose backend left the route
//   new connection ──▶ Picker.order(route) ──▶ local instance: net.connect(endpoint), socket ⇄ socket
//                                          └─▶ remote: /grove/overlay/tcp/1.0.0 to the hosting peer, socket ⇄ stream
//                                              (a refused or unreachable backend falls through to the next one)
//   inbound stream ──▶ resolveLocal(): only a RUNNING instance hosted here ──▶ stream ⇄ instance socket
//
// Listen addresses: privileged mode listens on the service IP itself; unprivileged mode maps 10.30.a.b to
// <loopbackPrefix>.a.b (127/8 is all loopback on Linux), and `endpoints()` reports the mapping.
import { createServer, type Server, type Socket } from 'node:net'
import { createSocket, type Socket as DgramSocket, type RemoteInfo } from 'node:dgram'
import type { Libp2p } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { StateMap } from '../node/deploy/state-map.js'
import type { InstanceRecord, IpClaim, ServiceRecord } from '../node/deploy/records.js'
import type { Clock } from '../node/clock.js'
import { deadline } from '../node/clock.js'
import { OVERLAY_TCP_PROTOCOL, OVERLAY_UDP_PROTOCOL } from '../node/protocols.js'
import { inServiceRange } from './addresses.js'
import { Picker, buildRoutes, endpointFor, resolveLocal, type Backend, type Protocol, type Route, type RouteKind } from './routes.js'
import { STREAM_OPTIONS, connectTo, openTcp, tcpHandler, type FlowPath, type InboundFlow } from './tcp.js'
import { DatagramTunnel, LocalDatagramFlow, closeDgram, connectDgram, openUdp, udpHandler, type DatagramFlow, type InboundUdpFlow, DEFAULT_UDP_IDLE_MS } from './udp.js'
import { pipeSocketStream, pipeSockets, resetSocket, type Pipe } from './pipe.js'
import { ipCommandAddresses, type AddressManager } from './host-addresses.js'
import { FlowClosedError } from './errors.js'

const log = logger('grove:overlay')

/** Backends a new flow tries before it gives up: the policy's choice and two fallbacks. */
const MAX_ATTEMPTS = 3
/** Datagrams of a new UDP flow held while its tunnel opens. */
const MAX_PENDING_DATAGRAMS = 64
/** A TCP flow that reached no backend tries again after this, doubling each round, until the dial timeout. */
const RETRY_BASE_MS = 50
/** How soon a listener that could not be opened is tried again. */
const RETRY_MS = 2_000

/** Early data rides with a tunnel's header up to this size; the rest waits in the socket. */
const MAX_EARLY_BYTES = 16 * 1024

/**
 * What the client had sent by the time its connection was accepted, without waiting for anything: one turn of the
 * event loop with the socket reading. A client that speaks first (an HTTP request) has its first bytes carried
 * with the tunnel's header, saving a round trip; a client that waits for the server sends nothing here and loses
 * nothing. The socket is paused again afterwards, keeping whatever arrived meanwhile for the pipe.
 */
async function earlyData (socket: Socket): Promise<Uint8Array | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk)
    size += chunk.byteLength
    if (size >= MAX_EARLY_BYTES) socket.pause()
  }
  socket.on('data', onData)
  socket.resume()
  await new Promise(resolve => setImmediate(resolve))
  socket.pause()
  socket.off('data', onData)
  return size === 0 ? undefined : Buffer.concat(chunks, size)
}

export type OverlayLibp2p = Pick<Libp2p, 'handle' | 'unhandle' | 'dial'>

export interface OverlayInit {
  libp2p: OverlayLibp2p
  state: StateMap
  /** This peer's ID: instances whose peerId is this are local. */
  self: string
  clock: Clock
  /** privileged: service IPs become /32 addresses on lo; unprivileged: they map into 127/8. */
  mode: 'privileged' | 'unprivileged'
  /** unprivileged: 10.30.a.b → <loopbackPrefix>.a.b, e.g. '127.31' */
  loopbackPrefix: string
  /** The measured round-trip time to a peer, for the closest policy. */
  rttMs: (peer: string) => number | undefined
  /** privileged mode: adds/removes /32 addresses; injectable for tests. @default `ip addr` on lo */
  addresses?: AddressManager
  /** Route rebuilds wait this long after a state change, to take a burst of changes at once. @default 20 */
  debounceMs?: number
  /** A UDP flow ends after this long without a datagram. @default 30000 */
  udpIdleMs?: number
  /** Dialing the hosting peer and its answer must take less than this. @default 5000 */
  dialTimeoutMs?: number
  /** An inbound stream's header must arrive within this. @default 5000 */
  headerTimeoutMs?: number
}

export interface OverlayEndpoint {
  ip: string
  port: number
  protocol: Protocol
  policy: RouteKind
  svc: string
  n?: number
  /** Where this peer's proxy listens for the address: the IP itself (privileged) or its 127/8 mapping. */
  local: { host: string, port: number }
  listening: boolean
  /** Why the listener could not be opened, while it cannot. */
  error?: string
}

export interface OverlayFlow {
  id: string
  ip: string
  port: number
  protocol: Protocol
  /** outbound: the hosting peer (this peer for a local instance); inbound: the proxy peer that opened the stream. */
  peerId: string
  path: FlowPath
  /** outbound: a client of this peer's proxy; inbound: a stream from another peer's proxy to an instance here. */
  direction: 'outbound' | 'inbound'
  svc?: string
  n?: number
  /** Bytes toward the instance / from the instance. */
  bytesOut: number
  bytesIn: number
  /** Wall-clock ms. */
  startedAt: number
}

export type PathCounts = Record<FlowPath, number>

interface FlowEntry {
  info: Omit<OverlayFlow, 'bytesIn' | 'bytesOut'>
  bytes: () => { bytesIn: number, bytesOut: number }
  close: (err: Error) => void
  /** The backend an outbound flow goes to, checked against the routes on every rebuild. */
  backend?: { svc: string, n: number, peerId: string }
  /** The endpoint an inbound flow reaches, checked against resolveLocal on every rebuild. */
  target?: { host: string, port: number }
}

interface Listener {
  key: string
  ip: string
  port: number
  protocol: Protocol
  host: string
  server?: Server
  dgram?: DgramSocket
  /** UDP flows by client address:port. */
  udpFlows: Map<string, UdpClientFlow>
  open: boolean
  error?: string
}

/** One client's UDP flow through a listener: datagrams queue while its backend is being reached. */
interface UdpClientFlow {
  pending: Uint8Array[]
  flow?: DatagramFlow
  closed: boolean
}

export class Overlay {
  private readonly init: OverlayInit
  private readonly addressManager: AddressManager
  private readonly picker = new Picker()
  private routes = new Map<string, Route>()
  private readonly listeners = new Map<string, Listener>()
  private readonly flowsById = new Map<string, FlowEntry>()
  private readonly totals = new Map<string, PathCounts>()
  /** privileged mode: the addresses this overlay put on the interface. */
  private readonly added = new Set<string>()
  private started = false
  private unsubscribe: (() => void) | undefined
  private debounce: ReturnType<typeof setTimeout> | undefined
  private retry: ReturnType<typeof setTimeout> | undefined
  private chain: Promise<void> = Promise.resolve()
  private seq = 0

  constructor (init: OverlayInit) {
    if (init.mode === 'unprivileged' && !/^\d{1,3}\.\d{1,3}$/.test(init.loopbackPrefix)) {
      throw new TypeError(`loopbackPrefix must be two octets such as "127.31", not "${init.loopbackPrefix}"`)
    }
    this.init = init
    this.addressManager = init.addresses ?? ipCommandAddresses('lo')
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    try {
      if (this.init.mode === 'privileged') await this.removeStaleAddresses()
      const common = { resolveLocal: this.resolveLocal.bind(this), headerTimeoutMs: this.init.headerTimeoutMs }
      await this.init.libp2p.handle(OVERLAY_TCP_PROTOCOL, tcpHandler({ ...common, onFlow: (f) => { this.addInboundTcp(f) } }), STREAM_OPTIONS)
      await this.init.libp2p.handle(OVERLAY_UDP_PROTOCOL, udpHandler({ ...common, idleMs: this.init.udpIdleMs, onFlow: (f) => { this.addInboundUdp(f) } }), STREAM_OPTIONS)
      this.unsubscribe = this.init.state.onChange((key) => {
        if (key.startsWith('svc/') || key.startsWith('sip/') || key.startsWith('inst/')) this.schedule()
      })
      await this.rebuild()
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.unsubscribe?.()
    this.unsubscribe = undefined
    clearTimeout(this.debounce)
    clearTimeout(this.retry)
    this.debounce = undefined
    this.retry = undefined
    await this.chain
    for (const proto of [OVERLAY_TCP_PROTOCOL, OVERLAY_UDP_PROTOCOL]) {
      try {
        await this.init.libp2p.unhandle(proto)
      } catch {}
    }
    for (const flow of [...this.flowsById.values()]) flow.close(new FlowClosedError('the overlay stopped'))
    for (const listener of [...this.listeners.values()]) this.closeListener(listener)
    if (this.init.mode === 'privileged') {
      for (const ip of [...this.added]) await this.removeAddress(ip)
    }
    this.routes = new Map()
  }

  /** Every service address and port this peer's proxy serves, and where it listens for it. */
  endpoints (): OverlayEndpoint[] {
    const out: OverlayEndpoint[] = []
    for (const route of this.routes.values()) {
      for (const p of route.ports) {
        const listener = this.listeners.get(listenerKey(route.ip, p.port, p.protocol))
        out.push({
          ip: route.ip,
          port: p.port,
          protocol: p.protocol,
          policy: route.kind,
          svc: route.svc,
          ...(route.n === undefined ? {} : { n: route.n }),
          local: { host: this.listenHost(route.ip), port: p.port },
          listening: listener?.open === true,
          ...(listener?.error === undefined ? {} : { error: listener.error })
        })
      }
    }
    return out.sort((a, b) => a.ip.localeCompare(b.ip) || a.port - b.port || a.protocol.localeCompare(b.protocol))
  }

  /** The open flows, both the ones this peer's proxy started and the ones it serves for other peers. */
  flows (): OverlayFlow[] {
    return [...this.flowsById.values()].map(f => ({ ...f.info, ...f.bytes() }))
  }

  /** Flows opened since start, per peer and path: the counters behind the path metrics. */
  pathCounts (): Record<string, PathCounts> {
    return Object.fromEntries([...this.totals].map(([peer, c]) => [peer, { ...c }]))
  }

  /** The current route table (read-only view). */
  routeTable (): ReadonlyMap<string, Route> {
    return this.routes
  }

  /**
   * What an inbound stream naming `ip:port` may reach here: the endpoint of a RUNNING instance hosted on this peer,
   * matched by container port, or undefined. The overlay is not an open proxy.
   */
  resolveLocal (ip: string, port: number, protocol: Protocol): { host: string, port: number } | undefined {
    return resolveLocal(this.routes, this.init.self, ip, port, protocol)
  }

  /** Where the proxy listens for a service IP. */
  listenHost (ip: string): string {
    if (this.init.mode === 'privileged') return ip
    const [, , c, d] = ip.split('.')
    return `${this.init.loopbackPrefix}.${c}.${d}`
  }

  private schedule (): void {
    if (!this.started || this.debounce !== undefined) return
    this.debounce = setTimeout(() => {
      this.debounce = undefined
      void this.rebuild()
    }, this.init.debounceMs ?? 20)
    this.debounce.unref()
  }

  /** Rebuilds never overlap: each waits for the previous one. */
  private async rebuild (): Promise<void> {
    const next = this.chain.then(async () => {
      if (!this.started) return
      try {
        await this.apply()
      } catch (err) {
        log.error('route rebuild failed: %s', (err as Error).message)
      }
    })
    this.chain = next
    await next
  }

  private readState (): { services: ServiceRecord[], claims: IpClaim[], instances: InstanceRecord[] } {
    const services = this.init.state.entries<ServiceRecord>('svc/').map(([, v]) => v)
    // A claim counts only under its own key: sip/<ip> must name <ip>.
    const claims = this.init.state.entries<IpClaim>('sip/').filter(([k, v]) => k === `sip/${v.ip}`).map(([, v]) => v)
    const instances = this.init.state.entries<InstanceRecord>('inst/').map(([, v]) => v)
    return { services, claims, instances }
  }

  private async apply (): Promise<void> {
    const routes = buildRoutes(this.readState())
    this.routes = routes
    this.picker.retain(new Set(routes.keys()))

    // Flows first: a dead backend's clients learn at once, before any listener work.
    for (const [id, flow] of this.flowsById) {
      const reason = this.staleReason(flow, routes)
      if (reason === undefined) continue
      log('closing flow %s: %s', id, reason)
      flow.close(new FlowClosedError(reason))
    }

    const wanted = new Map<string, { ip: string, port: number, protocol: Protocol }>()
    for (const route of routes.values()) {
      for (const p of route.ports) wanted.set(listenerKey(route.ip, p.port, p.protocol), { ip: route.ip, port: p.port, protocol: p.protocol })
    }
    for (const listener of [...this.listeners.values()]) {
      if (!wanted.has(listener.key)) this.closeListener(listener)
    }
    let failed = false
    for (const [key, want] of wanted) {
      const existing = this.listeners.get(key)
      if (existing?.open === true) continue
      if (existing !== undefined) this.listeners.delete(key)
      if (!this.started) return
      if (!await this.openListener(key, want)) failed = true
    }
    if (this.init.mode === 'privileged') {
      const inUse = new Set([...this.listeners.values()].map(l => l.ip))
      for (const ip of [...this.added]) if (!inUse.has(ip) && !routes.has(ip)) await this.removeAddress(ip)
    }
    if (failed && this.started && this.retry === undefined) {
      this.retry = setTimeout(() => { this.retry = undefined; void this.rebuild() }, RETRY_MS)
      this.retry.unref()
    }
  }

  private staleReason (flow: FlowEntry, routes: ReadonlyMap<string, Route>): string | undefined {
    const { ip, port, protocol } = flow.info
    if (flow.backend !== undefined) {
      const route = routes.get(ip)
      if (route === undefined) return `${ip} has no route any more`
      const b = flow.backend
      if (!route.backends.some(x => x.svc === b.svc && x.n === b.n && x.peerId === b.peerId)) {
        return `instance ${b.svc}/${b.n} on ${b.peerId} is no longer a RUNNING backend of ${ip}`
      }
      return undefined
    }
    if (flow.target !== undefined) {
      const now = resolveLocal(routes, this.init.self, ip, port, protocol)
      if (now === undefined || now.host !== flow.target.host || now.port !== flow.target.port) {
        return `${ip}:${port}/${protocol} no longer reaches ${flow.target.host}:${flow.target.port} on this peer`
      }
    }
    return undefined
  }

  // ---- listeners ----------------------------------------------------------------------------------------------

  private async openListener (key: string, want: { ip: string, port: number, protocol: Protocol }): Promise<boolean> {
    const host = this.listenHost(want.ip)
    const listener: Listener = { key, ...want, host, udpFlows: new Map(), open: false }
    this.listeners.set(key, listener)
    try {
      if (this.init.mode === 'privileged' && !this.added.has(want.ip)) {
        await this.addressManager.add(want.ip)
        this.added.add(want.ip)
      }
      if (want.protocol === 'tcp') {
        const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => { void this.onTcpConnection(listener, socket) })
        listener.server = server
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen({ host, port: want.port, exclusive: true }, () => { server.off('error', reject); resolve() })
        })
        server.on('error', (err) => { log.error('listener %s failed: %s', key, err.message) })
      } else {
        const socket = createSocket('udp4')
        listener.dgram = socket
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject)
          socket.bind({ address: host, port: want.port, exclusive: true }, () => { socket.off('error', reject); resolve() })
        })
        socket.on('error', (err) => { log.error('listener %s failed: %s', key, err.message) })
        socket.on('message', (msg, rinfo) => { this.onDatagram(listener, msg, rinfo) })
      }
      listener.open = true
      listener.error = undefined
      log('listening on %s:%d/%s for %s', host, want.port, want.protocol, want.ip)
      return true
    } catch (err) {
      listener.error = (err as Error).message
      log.error('cannot listen on %s:%d/%s for %s: %s', host, want.port, want.protocol, want.ip, listener.error)
      listener.server?.close()
      if (listener.dgram !== undefined) closeDgram(listener.dgram)
      listener.server = undefined
      listener.dgram = undefined
      return false
    }
  }

  private closeListener (listener: Listener): void {
    this.listeners.delete(listener.key)
    listener.open = false
    for (const f of listener.udpFlows.values()) this.closeUdpClient(f, new FlowClosedError(`${listener.ip}:${listener.port}/udp is no longer served`))
    listener.udpFlows.clear()
    if (listener.dgram !== undefined) closeDgram(listener.dgram)
    // Not awaiting the close callback: it waits for every accepted connection, and those are the flows' business.
    listener.server?.close()
  }

  private async removeStaleAddresses (): Promise<void> {
    for (const ip of await this.addressManager.list()) {
      if (!inServiceRange(ip)) continue
      log('removing stale overlay address %s', ip)
      await this.removeAddress(ip)
    }
  }

  private async removeAddress (ip: string): Promise<void> {
    try {
      await this.addressManager.remove(ip)
    } catch (err) {
      log.error('cannot remove %s: %s', ip, (err as Error).message)
    }
    this.added.delete(ip)
  }

  // ---- TCP ------------------------------------------------------------------------------------------------------

  private async onTcpConnection (listener: Listener, socket: Socket): Promise<void> {
    // Until a backend is reached: a client that resets meanwhile must not crash the process.
    socket.on('error', () => {})
    // A flow whose backends all fail tries again, with backoff, until the dial timeout: an instance that has just
    // started may not listen yet, and a peer's relay address may still be on its way. Only then is the client
    // reset. Each round reads the route afresh; a route without backends resets at once.
    const giveUpAt = performance.now() + (this.init.dialTimeoutMs ?? 5_000)
    const early = await earlyData(socket)
    for (let round = 0; ; round++) {
      const outcome = await this.tryBackends(listener, socket, giveUpAt, early)
      if (outcome === 'piped') return
      const pause = outcome === 'none' ? 0 : Math.min(RETRY_BASE_MS * 2 ** round, giveUpAt - performance.now())
      if (pause <= 0 || socket.destroyed || !this.started) break
      await new Promise(resolve => setTimeout(resolve, pause))
    }
    log('no backend reachable for %s:%d/tcp', listener.ip, listener.port)
    resetSocket(socket)
  }

  /** One pass over the route's candidates: 'piped' once the socket is piped to one, 'none' if there are none. */
  private async tryBackends (listener: Listener, socket: Socket, giveUpAt: number, early: Uint8Array | undefined): Promise<'piped' | 'failed' | 'none'> {
    const route = this.routes.get(listener.ip)
    const candidates = route === undefined ? [] : this.candidates(route)
    if (candidates.length === 0) return 'none'
    for (const backend of candidates) {
      const left = giveUpAt - performance.now()
      if (socket.destroyed || !this.started || left <= 0) return 'failed'
      try {
        if (backend.peerId === this.init.self) {
          const ep = endpointFor(backend, listener.port, 'tcp')
          if (ep === undefined) continue
          const target = await connectTo(ep, left)
          target.setNoDelay(true)
          if (early !== undefined) target.write(early)
          const pipe = pipeSockets(socket, target)
          pipe.fromSocket += early?.byteLength ?? 0
          this.addOutbound(listener, backend, 'local', pipe)
        } else {
          const dl = deadline(left)
          let tunnel
          try {
            tunnel = await openTcp(this.init.libp2p, backend.peerId, backend.ip ?? listener.ip, listener.port, dl.signal, early)
          } finally {
            dl.clear()
          }
          const pipe = pipeSocketStream(socket, tunnel.stream, tunnel.leftover)
          pipe.fromSocket += early?.byteLength ?? 0
          this.addOutbound(listener, backend, tunnel.path, pipe)
        }
        socket.setNoDelay(true)
        socket.resume()
        return 'piped'
      } catch (err) {
        log('%s:%d → %s/%d on %s failed: %s', listener.ip, listener.port, backend.svc, backend.n, backend.peerId, (err as Error).message)
      }
    }
    return 'failed'
  }

  private candidates (route: Route): Backend[] {
    return this.picker.order(route, { self: this.init.self, rttMs: this.init.rttMs }).slice(0, MAX_ATTEMPTS)
  }

  private addOutbound (listener: Listener, backend: Backend, path: FlowPath, pipe: Pipe): void {
    if (!this.started) {
      pipe.close(new FlowClosedError('the overlay stopped'))
      return
    }
    this.track({
      info: this.info(listener.ip, listener.port, listener.protocol, backend.peerId, path, 'outbound', backend.svc, backend.n),
      bytes: () => ({ bytesOut: pipe.fromSocket, bytesIn: pipe.toSocket }),
      close: (err) => { pipe.close(err) },
      backend: { svc: backend.svc, n: backend.n, peerId: backend.peerId }
    }, pipe.done)
  }

  private addInboundTcp (f: InboundFlow): void {
    if (!this.started) {
      f.pipe.close(new FlowClosedError('the overlay stopped'))
      return
    }
    this.track({
      info: this.info(f.header.ip, f.header.port, 'tcp', f.peerId, f.path, 'inbound'),
      // The pipe's socket is the instance's: bytes into it go toward the instance.
      bytes: () => ({ bytesOut: f.pipe.toSocket, bytesIn: f.pipe.fromSocket }),
      close: (err) => { f.pipe.close(err) },
      target: f.target
    }, f.pipe.done)
  }

  private addInboundUdp (f: InboundUdpFlow): void {
    if (!this.started) {
      f.tunnel.abort(new FlowClosedError('the overlay stopped'))
      return
    }
    this.track({
      info: this.info(f.header.ip, f.header.port, 'udp', f.peerId, f.path, 'inbound'),
      bytes: () => ({ bytesOut: f.tunnel.bytesReceived, bytesIn: f.tunnel.bytesSent }),
      close: (err) => { f.tunnel.abort(err) },
      target: f.target
    }, f.tunnel.done)
  }

  private info (ip: string, port: number, protocol: Protocol, peerId: string, path: FlowPath, direction: 'outbound' | 'inbound', svc?: string, n?: number): FlowEntry['info'] {
    const route = this.routes.get(ip)
    const s = svc ?? route?.svc
    return {
      id: `f${++this.seq}`,
      ip,
      port,
      protocol,
      peerId,
      path,
      direction,
      ...(s === undefined ? {} : { svc: s }),
      ...(n === undefined ? (route?.kind === 'instance' && route.n !== undefined ? { n: route.n } : {}) : { n }),
      startedAt: this.init.clock.wall()
    }
  }

  private track (entry: FlowEntry, done: Promise<Error | undefined>): void {
    const id = entry.info.id
    this.flowsById.set(id, entry)
    const counts = this.totals.get(entry.info.peerId) ?? { local: 0, direct: 0, relay: 0 }
    counts[entry.info.path]++
    this.totals.set(entry.info.peerId, counts)
    void done.then((err) => {
      this.flowsById.delete(id)
      if (err !== undefined) log('flow %s ended: %s', id, err.message)
    })
  }

  // ---- UDP ------------------------------------------------------------------------------------------------------

  private onDatagram (listener: Listener, msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}:${rinfo.port}`
    const existing = listener.udpFlows.get(key)
    if (existing !== undefined) {
      if (existing.flow !== undefined) existing.flow.send(msg)
      else if (existing.pending.length < MAX_PENDING_DATAGRAMS) existing.pending.push(msg)
      return
    }
    const client: UdpClientFlow = { pending: [msg], closed: false }
    listener.udpFlows.set(key, client)
    void this.openUdpClient(listener, key, client, rinfo)
  }

  private async openUdpClient (listener: Listener, key: string, client: UdpClientFlow, rinfo: RemoteInfo): Promise<void> {
    const reply = (payload: Uint8Array): void => {
      listener.dgram?.send(payload, rinfo.port, rinfo.address, (err) => { if (err != null) log('reply to %s failed: %s', key, err.message) })
    }
    const route = this.routes.get(listener.ip)
    const idleMs = this.init.udpIdleMs ?? DEFAULT_UDP_IDLE_MS
    for (const backend of route === undefined ? [] : this.candidates(route)) {
      if (client.closed || !this.started) break
      try {
        let flow: DatagramFlow
        let path: FlowPath
        if (backend.peerId === this.init.self) {
          const ep = endpointFor(backend, listener.port, 'udp')
          if (ep === undefined) continue
          flow = new LocalDatagramFlow(await connectDgram(ep), reply, idleMs)
          path = 'local'
        } else {
          const dl = deadline(this.init.dialTimeoutMs ?? 5_000)
          let tunnel
          try {
            tunnel = await openUdp(this.init.libp2p, backend.peerId, backend.ip ?? listener.ip, listener.port, dl.signal)
          } finally {
            dl.clear()
          }
          flow = new DatagramTunnel(tunnel.stream, { onDatagram: reply, idleMs, leftover: tunnel.leftover })
          path = tunnel.path
        }
        if (client.closed || !this.started) {
          flow.abort(new FlowClosedError('the flow was closed while it opened'))
          return
        }
        client.flow = flow
        this.track({
          info: this.info(listener.ip, listener.port, 'udp', backend.peerId, path, 'outbound', backend.svc, backend.n),
          bytes: () => ({ bytesOut: flow.bytesSent, bytesIn: flow.bytesReceived }),
          close: (err) => { this.closeUdpClient(client, err) },
          backend: { svc: backend.svc, n: backend.n, peerId: backend.peerId }
        }, flow.done)
        void flow.done.then(() => {
          client.closed = true
          if (listener.udpFlows.get(key) === client) listener.udpFlows.delete(key)
        })
        for (const d of client.pending.splice(0)) flow.send(d)
        return
      } catch (err) {
        log('%s:%d/udp → %s/%d on %s failed: %s', listener.ip, listener.port, backend.svc, backend.n, backend.peerId, (err as Error).message)
      }
    }
    log('no backend reachable for %s:%d/udp', listener.ip, listener.port)
    this.closeUdpClient(client, new FlowClosedError('no backend reachable'))
    if (listener.udpFlows.get(key) === client) listener.udpFlows.delete(key)
  }

  private closeUdpClient (client: UdpClientFlow, err: Error): void {
    client.closed = true
    client.pending.length = 0
    client.flow?.abort(err)
  }
}

function listenerKey (ip: string, port: number, protocol: Protocol): string {
  return `${ip}:${port}/${protocol}`
}
