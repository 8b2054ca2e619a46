// The native deployment API: applications, services, instances, scaling, logs and explanations.
import { parseSla, deploymentProblems, SlaError, type ApplicationSpec } from '../../scheduler/index.js'
import { ApiError } from './errors.js'
import type { Route, RouteContext } from './routes.js'
import type { Peer } from '../peer.js'
import { newId } from '../deploy/deployer.js'
import {
  keys, type ApplicationRecord, type InstanceRecord, type IpClaim, type OwnerRecord, type ScheduleRecord, type ServiceRecord
} from '../deploy/records.js'

const ID = /^[0-9a-f]{24}$/

/** A service by ID, or by "app.service" (application name, dot, service name). */
export function resolveService (peer: Peer, ref: string): ServiceRecord {
  const state = peer.state
  if (ID.test(ref)) {
    const svc = state.get<ServiceRecord>(keys.svc(ref))
    if (svc !== undefined) return svc
  } else {
    const dot = ref.indexOf('.')
    if (dot > 0) {
      const appName = ref.slice(0, dot)
      const svcName = ref.slice(dot + 1)
      const apps = state.entries<ApplicationRecord>('app/').map(([, a]) => a).filter(a => a.name === appName)
      for (const app of apps) {
        const svc = app.services.map(id => state.get<ServiceRecord>(keys.svc(id))).find(s => s?.name === svcName)
        if (svc !== undefined) return svc
      }
    }
  }
  throw new ApiError('not_found', `no service "${ref}" (name a service by its ID or as app.service; see GET /api/v1/services)`, 'service')
}

export function resolveApp (peer: Peer, ref: string): ApplicationRecord {
  const apps = peer.state.entries<ApplicationRecord>('app/').map(([, a]) => a)
  const app = apps.find(a => a.id === ref) ?? apps.find(a => a.name === ref)
  if (app === undefined) throw new ApiError('not_found', `no application "${ref}" (see GET /api/v1/apps)`, 'app')
  return app
}

export interface InstanceView {
  n: number
  instanceIp: string | null
  status: string
  peerId: string | null
  peerName: string | null
  region: string | null
  reason: string | null
  startedAt: string | null
  restarts: number
  endpoints: InstanceRecord['endpoints']
}

export function instanceViews (peer: Peer, svc: ServiceRecord): InstanceView[] {
  const records = new Map(peer.state.entries<InstanceRecord>(`inst/${svc.id}/`).map(([, r]) => [r.n, r]))
  const ips = peer.deployer.addresses(svc.id).instances
  // A service that is only registered (Oakestra's POST /api/application/) has no instances yet.
  const wanted = svc.deployed ? svc.instances : []
  const numbers = [...new Set([...wanted, ...[...records.values()].filter(r => r.status !== 'UNDEPLOYED').map(r => r.n)])].sort((a, b) => a - b)
  return numbers.map(n => {
    const r = records.get(n)
    const name = r?.peerName ?? (r?.peerId == null ? null : peer.membership.members.get(r.peerId)?.status.name ?? (r.peerId === peer.peerId ? peer.config.name : null))
    return {
      n,
      instanceIp: ips.get(n) ?? null,
      status: r?.status ?? (svc.deployed ? 'REQUESTED' : 'UNDEPLOYED'),
      peerId: r?.peerId ?? null,
      peerName: name,
      region: r?.region ?? null,
      reason: r?.reason ?? null,
      startedAt: r?.startedAt == null ? null : new Date(r.startedAt).toISOString(),
      restarts: r?.restarts ?? 0,
      endpoints: r?.endpoints ?? []
    }
  })
}

export function serviceView (peer: Peer, svc: ServiceRecord): Record<string, unknown> {
  const app = peer.state.get<ApplicationRecord>(keys.app(svc.app))
  const own = peer.state.get<OwnerRecord>(keys.own(svc.id))
  const ips = peer.deployer.addresses(svc.id)
  const s = svc.spec
  return {
    id: svc.id,
    name: svc.name,
    app: svc.app,
    appName: app?.name ?? null,
    namespace: s.namespace,
    replicas: svc.instances.length,
    deployed: svc.deployed,
    virtualization: s.virtualization,
    image: s.image ?? null,
    cmd: s.cmd,
    memory: s.memory,
    vcpus: s.vcpus,
    ports: s.ports,
    serviceIps: { rr: ips.rr ?? null, closest: ips.closest ?? null },
    region: own?.region ?? null,
    instances: instanceViews(peer, svc)
  }
}

function appView (peer: Peer, app: ApplicationRecord): Record<string, unknown> {
  return {
    id: app.id,
    name: app.name,
    namespace: app.namespace,
    description: app.description,
    createdAt: new Date(app.createdAt).toISOString(),
    services: app.services.map(id => peer.state.get<ServiceRecord>(keys.svc(id))).filter((s): s is ServiceRecord => s !== undefined).map(s => serviceView(peer, s))
  }
}

/** Validates an SLA and turns it into records, refusing what cannot be deployed (with the field path). */
export function buildRecords (peer: Peer, body: unknown): Array<{ app: ApplicationRecord, services: ServiceRecord[] }> {
  let apps: ApplicationSpec[]
  let customerId: string | undefined
  try {
    const parsed = parseSla(body)
    apps = parsed.applications
    customerId = parsed.customerId
  } catch (err) {
    if (err instanceof SlaError) throw new ApiError('invalid_sla', `SLA rejected: ${err.message}`, err.path)
    throw err
  }
  const taken = new Map<string, string>()
  for (const [, svc] of peer.state.entries<ServiceRecord>('svc/')) {
    for (const ip of [svc.spec.addresses.rrIp, svc.spec.addresses.closestIp]) if (ip !== undefined) taken.set(ip, svc.name)
  }
  // Every address claimed in the overlay, allocated ones included.
  for (const [, c] of peer.state.entries<IpClaim>('sip/')) {
    if (!taken.has(c.ip)) taken.set(c.ip, peer.state.get<ServiceRecord>(keys.svc(c.svc))?.name ?? c.svc)
  }
  const now = peer.clock.wall()
  return apps.map((spec, a) => {
    const problems = deploymentProblems(spec, { areas: peer.config.areas })
    if (problems.length > 0) {
      const p = problems[0]
      const path = `applications[${a}].${p.path}`
      throw new ApiError('undeployable', `SLA cannot be deployed: ${path}: ${p.message}`, path)
    }
    spec.services.forEach((s, i) => {
      for (const [field, ip] of [['rr_ip', s.addresses.rrIp], ['closest_ip', s.addresses.closestIp]] as const) {
        if (ip !== undefined && taken.has(ip)) {
          throw new ApiError('undeployable', `SLA cannot be deployed: applications[${a}].microservices[${i}].addresses.${field}: ${ip} is already taken by service ${taken.get(ip)!}`, `applications[${a}].microservices[${i}].addresses.${field}`)
        }
      }
    })
    const appId = newId()
    const services: ServiceRecord[] = spec.services.map(s => ({
      id: newId(),
      app: appId,
      name: s.name,
      spec: s,
      instances: Array.from({ length: s.replicas }, (_, n) => n),
      deployed: false,
      createdAt: now
    }))
    const app: ApplicationRecord = {
      id: appId,
      name: spec.name,
      namespace: spec.namespace,
      description: spec.description,
      services: services.map(s => s.id),
      createdAt: now,
      ...(spec.externalId === undefined || spec.externalId === '' ? {} : { externalId: spec.externalId }),
      ...(customerId === undefined ? {} : { customerId })
    }
    return { app, services }
  })
}

function int (ctx: RouteContext, name: string, value: unknown, min: number, max: number): number {
  const n = typeof value === 'string' ? Number(value) : value
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw new ApiError('bad_request', `${name}: must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`, name)
  }
  return n
}

export function appRoutes (): Route[] {
  return [
    {
      method: 'POST',
      pattern: /^\/api\/v1\/apps$/,
      status: 201,
      handler: async ({ peer, body, query }) => {
        const deploy = query.get('deploy') !== 'false'
        const built = buildRecords(peer, body)
        await peer.deployer.register(built, deploy)
        return { apps: built.map(({ app, services }) => ({ id: app.id, name: app.name, namespace: app.namespace, services: services.map(s => ({ id: s.id, name: s.name })) })) }
      }
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/apps$/,
      handler: ({ peer }) => ({ apps: peer.state.entries<ApplicationRecord>('app/').map(([, a]) => appView(peer, a)) })
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/apps\/(?<id>[^/]+)$/,
      handler: ({ peer, params }) => appView(peer, resolveApp(peer, params.id))
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/v1\/apps\/(?<id>[^/]+)$/,
      handler: async ({ peer, params }) => {
        const app = resolveApp(peer, params.id)
        await peer.deployer.deleteApp(app.id)
        return { deleted: app.id }
      }
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/services$/,
      handler: ({ peer }) => ({ services: peer.state.entries<ServiceRecord>('svc/').map(([, s]) => serviceView(peer, s)) })
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/services\/(?<id>[^/]+)$/,
      handler: ({ peer, params }) => serviceView(peer, resolveService(peer, params.id))
    },
    {
      method: 'POST',
      pattern: /^\/api\/v1\/services\/(?<id>[^/]+)\/scale$/,
      handler: async (ctx) => {
        const svc = resolveService(ctx.peer, ctx.params.id)
        const replicas = int(ctx, 'replicas', (ctx.body as { replicas?: unknown } | undefined)?.replicas, 0, 1000)
        // Keep the instances that exist; add the lowest free numbers, or drop the highest.
        const current = [...svc.instances].sort((a, b) => a - b)
        let next = current.slice(0, replicas)
        for (let n = 0; next.length < replicas; n++) if (!next.includes(n)) next.push(n)
        next = next.sort((a, b) => a - b)
        const updated = await ctx.peer.deployer.setInstances(svc.id, next)
        return serviceView(ctx.peer, updated)
      }
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/v1\/services\/(?<id>[^/]+)\/instances\/(?<n>\d+)$/,
      handler: async (ctx) => {
        const svc = resolveService(ctx.peer, ctx.params.id)
        const n = int(ctx, 'n', ctx.params.n, 0, 100_000)
        if (!svc.instances.includes(n)) throw new ApiError('not_found', `service ${svc.name} has no instance ${n}`, 'n')
        const updated = await ctx.peer.deployer.setInstances(svc.id, svc.instances.filter(x => x !== n))
        return serviceView(ctx.peer, updated)
      }
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/services\/(?<id>[^/]+)\/instances\/(?<n>\d+)\/logs$/,
      handler: async (ctx) => {
        const svc = resolveService(ctx.peer, ctx.params.id)
        const n = int(ctx, 'n', ctx.params.n, 0, 100_000)
        const tail = ctx.query.get('tail') === null ? undefined : int(ctx, 'tail', ctx.query.get('tail'), 1, 100_000)
        const follow = ctx.query.get('follow') === '1' || ctx.query.get('follow') === 'true'
        const inst = ctx.peer.state.get<InstanceRecord>(keys.inst(svc.id, n))
        if (inst?.peerId == null) throw new ApiError('not_found', `instance ${n} of ${svc.name} is not placed on any peer`, 'n')
        return { stream: (signal: AbortSignal) => ctx.peer.instanceLogs(inst.peerId!, svc.id, n, { tail, follow, signal }), contentType: 'text/plain; charset=utf-8' }
      }
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/services\/(?<id>[^/]+)\/explain$/,
      handler: ({ peer, params }) => {
        const svc = resolveService(peer, params.id)
        return {
          service: { id: svc.id, name: svc.name },
          schedule: peer.state.get<ScheduleRecord>(keys.sched(svc.id)) ?? null,
          owner: peer.state.get<OwnerRecord>(keys.own(svc.id)) ?? null,
          instances: instanceViews(peer, svc).map(i => ({ n: i.n, status: i.status, region: i.region, peerName: i.peerName, reason: i.reason }))
        }
      }
    }
  ]
}
