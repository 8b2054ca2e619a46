// The native API's routes. Handlers return plain JSON-able values; errors are ApiErrors.
import { z } from 'zod'
import { ApiError } from './errors.js'
import type { Peer } from '../peer.js'
import type { Member, SyncResponse } from '../membership/membership.js'
import { REGION_NAME, type NodeStatus } from '../wire/schemas.js'
import { describeIssue } from '../wire/codec.js'
import { VERSION } from '../version.js'
import { appRoutes } from './apps.js'
import { oakestraRoutes } from './oakestra.js'
import { overlayRoutes } from './overlay.js'

export interface RouteContext {
  peer: Peer
  params: Record<string, string>
  query: URLSearchParams
  body: unknown
}

export interface Route {
  method: string
  pattern: RegExp
  status?: number
  handler: (ctx: RouteContext) => Promise<unknown> | unknown
}

/** One node as the API shows it. */
export interface NodeView {
  peerId: string
  name: string
  region: string
  state: 'alive' | 'suspect' | 'dead'
  role: NodeStatus['role']
  term: number
  eligible: boolean
  self: boolean
  incarnation: number
  resources: NodeStatus['resources']
  labels: Record<string, string>
  location: NodeStatus['location']
  coordinate: NodeStatus['coordinate']
  addrs: string[]
  lastSeen: string
  lastSeenAgoMs: number
  rttMs: number | null
  version: string
}

function view (status: NodeStatus, state: NodeView['state'], ageMs: number, wallNow: number, self: boolean, rttMs: number | null): NodeView {
  return {
    peerId: status.peerId,
    name: status.name,
    region: status.region,
    state,
    role: status.role,
    term: status.term,
    eligible: status.eligible,
    self,
    incarnation: status.incarnation,
    resources: status.resources,
    labels: status.labels,
    location: status.location,
    coordinate: status.coordinate,
    addrs: status.addrs,
    lastSeen: new Date(wallNow - ageMs).toISOString(),
    lastSeenAgoMs: Math.round(ageMs),
    rttMs: rttMs === null ? null : Math.round(rttMs * 1000) / 1000,
    version: status.version
  }
}

function localNodes (peer: Peer): NodeView[] {
  const now = peer.clock.now()
  const wall = peer.clock.wall()
  const self = view(peer.membership.localStatus, 'alive', 0, wall, true, null)
  const others = [...peer.membership.members.values()].map((m: Member) =>
    view(m.status, m.clock.state, Math.max(0, now - m.clock.lastHeard), wall, false, m.rttMs))
  return [self, ...others].sort((a, b) => a.name.localeCompare(b.name) || a.peerId.localeCompare(b.peerId))
}

/** Asks a peer of another region for its view: the summary's leader first, then the DHT directory's peers. */
async function remoteNodes (peer: Peer, region: string): Promise<{ via: string, nodes: NodeView[] }> {
  const candidates: string[] = []
  const known = peer.regions.get(region)
  if (known !== undefined) candidates.push(known.summary.leader)
  const signal = AbortSignal.timeout(5000)
  if (candidates.length === 0) {
    const record = await peer.regions.lookup(region, signal).catch(() => undefined)
    if (record === undefined) throw new ApiError('unknown_region', `region "${region}" is not known to this peer (no summary and no directory record); see GET /api/v1/regions`, 'region')
    candidates.push(record.body.leader, ...record.body.peers.map(p => p.id))
  }
  let lastError = ''
  for (const candidate of [...new Set(candidates)]) {
    try {
      const res: SyncResponse = await peer.membership.fetchView(candidate, region, undefined, signal)
      const wall = peer.clock.wall()
      const nodes = res.members.map(m => view(m.status, m.state, m.ageMs, wall, false, null))
      return { via: candidate, nodes: nodes.sort((a, b) => a.name.localeCompare(b.name)) }
    } catch (err) {
      lastError = (err as Error).message
    }
  }
  throw new ApiError('region_unreachable', `no peer of region "${region}" answered (${lastError})`)
}

const regionQuery = z.string().regex(REGION_NAME, 'must be a region name: lowercase letters, digits and dashes')

export function routes (): Route[] {
  return [...baseRoutes(), ...appRoutes(), ...oakestraRoutes(), ...overlayRoutes()]
}

function baseRoutes (): Route[] {
  return [
    {
      method: 'GET',
      pattern: /^\/healthz$/,
      handler: ({ peer }) => ({ ok: true, version: VERSION, peerId: peer.peerId })
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/status$/,
      handler: ({ peer }) => {
        const e = peer.election.current
        return {
          peerId: peer.peerId,
          name: peer.config.name,
          region: peer.config.region,
          role: e.role,
          term: e.term,
          leader: e.leader,
          addrs: peer.libp2p.getMultiaddrs().map(a => a.toString()),
          profile: peer.config.profile,
          uptimeMs: peer.clock.wall() - peer.startedAt,
          version: VERSION,
          eligible: peer.config.lead,
          awareness: peer.membership.localAwareness
        }
      }
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/nodes$/,
      handler: async ({ peer, query }) => {
        const requested = query.get('region')
        if (requested === null || requested === peer.config.region) {
          return { region: peer.config.region, source: 'local', nodes: localNodes(peer) }
        }
        const parsed = regionQuery.safeParse(requested)
        if (!parsed.success) throw new ApiError('bad_request', `region: ${describeIssue(parsed.error)}`, 'region')
        const { via, nodes } = await remoteNodes(peer, parsed.data)
        return { region: parsed.data, source: via, nodes }
      }
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/regions$/,
      handler: ({ peer }) => ({
        regions: peer.regions.list().map(r => ({ ...r.summary, stale: r.stale, ageMs: Math.round(r.ageMs) }))
      })
    },
    {
      method: 'GET',
      pattern: /^\/metrics$/,
      handler: async ({ peer }) => {
        const { text, contentType } = await peer.metrics.text()
        return { raw: text, contentType }
      }
    },
    {
      // Fault injection for tests and drills; answers 404 unless the daemon runs with GROVE_FAULTS=1.
      method: 'POST',
      pattern: /^\/api\/v1\/debug\/faults$/,
      handler: ({ peer, body }) => {
        if (process.env.GROVE_FAULTS !== '1') throw new ApiError('not_found', 'fault injection is off (start the daemon with GROVE_FAULTS=1)')
        const parsed = z.object({ gossip: z.enum(['cut', 'ok']) }).safeParse(body)
        if (!parsed.success) throw new ApiError('bad_request', describeIssue(parsed.error), 'gossip')
        peer.membership.gossipCut = parsed.data.gossip === 'cut'
        return { gossip: parsed.data.gossip }
      }
    }
  ]
}
