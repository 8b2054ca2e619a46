// An Oakestra-compatible API beside the native one, so that Oakestra's scripts and CLI habits carry over. Shapes
// follow Oakestra's root orchestrator (applicationID, microserviceID, instance_list, clusters); Grove's regions play
// Oakestra's clusters.
import { timingSafeEqual } from 'node:crypto'
import { ApiError } from './errors.js'
import type { Route } from './routes.js'
import type { Peer } from '../peer.js'
import { buildRecords, instanceViews, resolveApp, resolveService } from './apps.js'
import { keys, type ApplicationRecord, type OwnerRecord, type ServiceRecord } from '../deploy/records.js'

function same (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function oakApp (peer: Peer, app: ApplicationRecord): Record<string, unknown> {
  return {
    applicationID: app.id,
    application_name: app.name,
    application_namespace: app.namespace,
    application_desc: app.description,
    userId: app.customerId ?? 'Admin',
    microservices: app.services
  }
}

function portString (svc: ServiceRecord): string {
  return svc.spec.ports.map(p => `${p.host === undefined ? '' : `${p.host}:`}${p.container}/${p.protocol}`).join(';')
}

function oakService (peer: Peer, svc: ServiceRecord): Record<string, unknown> {
  const app = peer.state.get<ApplicationRecord>(keys.app(svc.app))
  const s = svc.spec
  const instances = instanceViews(peer, svc)
  return {
    microserviceID: svc.id,
    microservice_name: svc.name,
    microservice_namespace: s.namespace,
    applicationID: svc.app,
    app_name: app?.name ?? '',
    app_ns: app?.namespace ?? '',
    virtualization: s.virtualization,
    cmd: s.cmd,
    memory: s.memory,
    vcpus: s.vcpus,
    vgpus: s.vgpus,
    storage: s.storage,
    code: s.image ?? '',
    port: portString(svc),
    addresses: (() => {
      const ips = peer.deployer.addresses(svc.id)
      return { ...(ips.rr === undefined ? {} : { rr_ip: ips.rr }), ...(ips.closest === undefined ? {} : { closest_ip: ips.closest }) }
    })(),
    status: instances.some(i => i.status === 'RUNNING') ? 'RUNNING' : (instances[0]?.status ?? 'REQUESTED'),
    instance_list: instances.map(i => ({
      instance_number: i.n,
      status: i.status,
      worker_id: i.peerId,
      worker_name: i.peerName,
      cluster_id: i.region,
      status_detail: i.reason,
      host_port: i.endpoints[0]?.port ?? null,
      publicip: i.endpoints[0]?.host ?? null
    }))
  }
}

export function oakestraRoutes (): Route[] {
  return [
    {
      method: 'POST',
      pattern: /^\/api\/auth\/login\/?$/,
      handler: ({ peer, body }) => {
        const b = (body ?? {}) as { username?: unknown, password?: unknown }
        if (typeof b.username !== 'string' || typeof b.password !== 'string') {
          throw new ApiError('bad_request', 'send {"username": ..., "password": ...}', typeof b.username !== 'string' ? 'username' : 'password')
        }
        if (!same(b.username, peer.config.oakestra.user) || !same(b.password, peer.config.oakestra.password)) {
          throw new ApiError('unauthorized', 'wrong username or password (set oakestraUser and oakestraPassword in config.json)')
        }
        return { message: 'Logged in', token: peer.token, refresh_token: peer.token }
      }
    },
    {
      method: 'POST',
      pattern: /^\/api\/application\/?$/,
      handler: async ({ peer, body }) => {
        // Oakestra registers here; instances come with POST /api/service/:id/instance.
        const built = buildRecords(peer, body)
        await peer.deployer.register(built, false)
        return built.map(({ app }) => oakApp(peer, app))
      }
    },
    {
      method: 'GET',
      pattern: /^\/api\/applications\/?$/,
      handler: ({ peer }) => peer.state.entries<ApplicationRecord>('app/').map(([, a]) => oakApp(peer, a))
    },
    {
      method: 'GET',
      pattern: /^\/api\/application\/(?<id>[^/]+)\/?$/,
      handler: ({ peer, params }) => oakApp(peer, resolveApp(peer, params.id))
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/application\/(?<id>[^/]+)\/?$/,
      handler: async ({ peer, params }) => {
        const app = resolveApp(peer, params.id)
        await peer.deployer.deleteApp(app.id)
        return { message: 'Application deleted', applicationID: app.id }
      }
    },
    {
      method: 'GET',
      pattern: /^\/api\/services\/(?<app>[^/]+)\/?$/,
      handler: ({ peer, params }) => {
        const app = resolveApp(peer, params.app)
        return app.services.map(id => peer.state.get<ServiceRecord>(keys.svc(id))).filter((s): s is ServiceRecord => s !== undefined).map(s => oakService(peer, s))
      }
    },
    {
      method: 'GET',
      pattern: /^\/api\/service\/(?<id>[^/]+)\/?$/,
      handler: ({ peer, params }) => oakService(peer, resolveService(peer, params.id))
    },
    {
      method: 'POST',
      pattern: /^\/api\/service\/(?<id>[^/]+)\/instance\/?$/,
      handler: async ({ peer, params }) => {
        const svc = resolveService(peer, params.id)
        const instances = svc.deployed ? svc.instances : []
        let n = 0
        while (instances.includes(n)) n++
        const updated = await peer.deployer.setInstances(svc.id, [...instances, n])
        return oakService(peer, updated)
      }
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/service\/(?<id>[^/]+)\/instance\/(?<n>\d+)\/?$/,
      handler: async ({ peer, params }) => {
        const svc = resolveService(peer, params.id)
        const n = Number(params.n)
        if (!svc.instances.includes(n)) throw new ApiError('not_found', `service ${svc.name} has no instance ${n}`, 'n')
        const updated = await peer.deployer.setInstances(svc.id, svc.instances.filter(x => x !== n))
        return oakService(peer, updated)
      }
    },
    {
      method: 'GET',
      pattern: /^\/api\/clusters\/?$/,
      handler: ({ peer }) => peer.regions.list().map(({ summary: s, stale }) => ({
        _id: s.region,
        cluster_id: s.region,
        cluster_name: s.region,
        cluster_location: s.geo === null ? null : `${s.geo.centroid.lat},${s.geo.centroid.lon},${Math.round(s.geo.radiusKm)}`,
        active_nodes: s.nodes,
        status: stale ? 'INACTIVE' : 'ACTIVE',
        leader: s.leader,
        term: s.term,
        total_cpu_cores: s.capacity.cpu,
        aggregated_cpu_cores_free: s.resources.cpu.sum,
        memory_in_mb: Math.round(s.capacity.memory / 1048576),
        free_memory_in_mb: Math.round(s.resources.memory.sum / 1048576),
        virtualization: s.runtimes.map(r => r === 'docker' ? 'container' : r),
        services: peer.state.entries<OwnerRecord>('own/').filter(([, o]) => o.region === s.region).length
      }))
    }
  ]
}
