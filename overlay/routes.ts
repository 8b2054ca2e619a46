// The route table, derived from the replicated state, and the policies that pick a backend for a new flow. Pure:
// the proxy rebuilds the table on every relevant state change and asks the Picker on every new connection.
//
//   sip/<ip> claim ──▶ Route { ip, svc, kind, ports } ──▶ backends: RUNNING instances of the (deployed) service
//                                                         (kind 'instance': only instance n)
import type { InstanceRecord, IpClaim, ServiceRecord } from '../node/deploy/records.js'
import { claimsOf, inServiceRange } from './addresses.js'

export type Protocol = 'tcp' | 'udp'
export type RouteKind = 'rr' | 'closest' | 'instance'

export interface Backend {
  svc: string
  n: number
  /** The hosting peer. */
  peerId: string
  endpoints: InstanceRecord['endpoints']
  /** The instance's own IP, when it has one: the header names it so the hosting peer serves exactly this instance. */
  ip?: string
}

export interface Route {
  ip: string
  svc: string
  kind: RouteKind
  /** The instance number, for kind 'instance'. */
  n?: number
  /** The service's container ports: the proxy listens on each of them at `ip`. */
  ports: Array<{ port: number, protocol: Protocol }>
  /** Sorted by instance number, then peer. */
  backends: Backend[]
}

export interface RouteInput {
  services: readonly ServiceRecord[]
  claims: readonly IpClaim[]
  instances: readonly InstanceRecord[]
}

/**
 * One route per claimed address of a deployed service. A claim for an unknown or undeployed service gives no route;
 * so does a claim that lost to an older claim of the same role (see `claimsOf`).
 */
export function buildRoutes (input: RouteInput): Map<string, Route> {
  const services = new Map(input.services.filter(s => s.deployed).map(s => [s.id, s]))
  const running = new Map<string, Backend[]>()
  for (const inst of input.instances) {
    if (inst.status !== 'RUNNING' || inst.peerId === null || !services.has(inst.svc)) continue
    const list = running.get(inst.svc) ?? []
    list.push({ svc: inst.svc, n: inst.n, peerId: inst.peerId, endpoints: inst.endpoints })
    running.set(inst.svc, list)
  }

  const routes = new Map<string, Route>()
  for (const svc of services.values()) {
    const held = claimsOf(svc.id, input.claims)
    const ports = uniquePorts(svc)
    const backends = (running.get(svc.id) ?? [])
      .map(b => {
        const ip = held.instances.get(b.n)
        return ip === undefined ? b : { ...b, ip }
      })
      .sort((a, b) => a.n - b.n || compare(a.peerId, b.peerId))
    const add = (ip: string | undefined, kind: RouteKind, n?: number): void => {
      if (ip === undefined || !inServiceRange(ip)) return
      routes.set(ip, {
        ip,
        svc: svc.id,
        kind,
        ...(n === undefined ? {} : { n }),
        ports,
        backends: kind === 'instance' ? backends.filter(b => b.n === n) : backends
      })
    }
    add(held.rr, 'rr')
    add(held.closest, 'closest')
    for (const [n, ip] of held.instances) add(ip, 'instance', n)
  }
  return routes
}

function uniquePorts (svc: ServiceRecord): Route['ports'] {
  const seen = new Map<string, Route['ports'][number]>()
  for (const p of svc.spec.ports) seen.set(`${p.container}/${p.protocol}`, { port: p.container, protocol: p.protocol })
  return [...seen.values()].sort((a, b) => a.port - b.port || compare(a.protocol, b.protocol))
}

function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The endpoint of `backend` that serves container port `port`, if it exposes one. */
export function endpointFor (backend: Pick<Backend, 'endpoints'>, port: number, protocol: Protocol): { host: string, port: number } | undefined {
  const ep = backend.endpoints.find(e => e.containerPort === port && e.protocol === protocol && e.port > 0)
  return ep === undefined ? undefined : { host: ep.host, port: ep.port }
}

export interface PickContext {
  /** This peer's ID: a backend hosted here is "local". */
  self: string
  /** The measured round-trip time to a peer, undefined when not known. */
  rttMs: (peer: string) => number | undefined
}

/**
 * Applies a route's policy. Round-robin keeps one counter per route IP, so it rotates per service address, not per
 * peer-wide sequence.
 */
export class Picker {
  private readonly counters = new Map<string, number>()

  /** The backend for a new flow, or undefined when the route has none. */
  pick (route: Route, ctx: PickContext): Backend | undefined {
    return this.order(route, ctx)[0]
  }

  /**
   * Every backend in the order a new flow should try them: the policy's choice first, the rest as fallbacks for
   * when the first cannot be reached. Advances the round-robin counter once.
   */
  order (route: Route, ctx: PickContext): Backend[] {
    const backends = route.backends
    if (backends.length === 0) return []
    switch (route.kind) {
      case 'instance':
        return backends.filter(b => b.n === route.n)
      case 'rr': {
        const i = this.counters.get(route.ip) ?? 0
        this.counters.set(route.ip, (i + 1) % 1_000_000_000)
        const k = i % backends.length
        return [...backends.slice(k), ...backends.slice(0, k)]
      }
      case 'closest':
        return [...backends].sort((a, b) => closer(a, b, ctx))
    }
  }

  /** Drops the counters of routes that no longer exist. */
  retain (ips: ReadonlySet<string>): void {
    for (const ip of this.counters.keys()) if (!ips.has(ip)) this.counters.delete(ip)
  }
}

/** Local first, then the lowest RTT, unknown RTTs last, ties by peer ID and then instance number. */
function closer (a: Backend, b: Backend, ctx: PickContext): number {
  const la = a.peerId === ctx.self
  const lb = b.peerId === ctx.self
  if (la !== lb) return la ? -1 : 1
  if (!la) {
    const ra = ctx.rttMs(a.peerId)
    const rb = ctx.rttMs(b.peerId)
    const ka = ra !== undefined && Number.isFinite(ra)
    const kb = rb !== undefined && Number.isFinite(rb)
    if (ka !== kb) return ka ? -1 : 1
    if (ka && kb && ra !== rb) return ra - rb
  }
  return compare(a.peerId, b.peerId) || a.n - b.n
}

/**
 * What a stream naming `ip:port` may reach on this peer: the endpoint of a RUNNING instance hosted by `self`. An
 * instance IP names exactly that instance; a service IP (rr or closest) any local instance of the service, the lowest
 * number first. Anything else (an unknown IP, another peer's instance, a port the instance does not expose) is
 * undefined: the hosting side of the overlay is not an open proxy.
 */
export function resolveLocal (routes: ReadonlyMap<string, Route>, self: string, ip: string, port: number, protocol: Protocol): { host: string, port: number } | undefined {
  const route = routes.get(ip)
  if (route === undefined) return undefined
  for (const b of route.backends) {
    if (b.peerId !== self) continue
    const ep = endpointFor(b, port, protocol)
    if (ep !== undefined) return ep
  }
  return undefined
}
