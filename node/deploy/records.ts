// The deployment records in the replicated state, their keys and their schemas. Every value that arrives from the
// network is checked against these before it is merged (ReplicatedState's `validate`).
//
//   app/<app>            ApplicationRecord     written by the entry peer
//   svc/<svc>            ServiceRecord         the entry peer (spec, desired instance numbers)
//   own/<svc>            OwnerRecord           the region leader that holds the service
//   place/<svc>/<n>      PlacementRecord       the owner region's leader, fenced by (epoch, term)
//   inst/<svc>/<n>       InstanceRecord        the hosting peer (or the entry peer for negative states)
//   sched/<svc>          ScheduleRecord        the last scheduling attempt, for `grove explain`
//   sip/<ip>             IpClaim               whoever allocated the overlay address (entry peer or leader)
import { z } from 'zod'
import { peerIdString, regionName } from '../wire/schemas.js'

export const INSTANCE_STATES = [
  'REQUESTED', 'CLUSTER_SCHEDULED', 'NODE_SCHEDULED', 'CREATING', 'RUNNING',
  'FAILED', 'DEAD', 'COMPLETED', 'UNDEPLOYED',
  // Oakestra's negative scheduling states.
  'NO_WORKER_CAPACITY', 'NoActiveClusterWithCapacity', 'TargetClusterNotFound'
] as const
export type InstanceState = typeof INSTANCE_STATES[number]

/** States after which the agent does nothing more for the instance. */
export const TERMINAL_STATES: ReadonlySet<InstanceState> = new Set(['COMPLETED', 'UNDEPLOYED'])
export const NEGATIVE_STATES: ReadonlySet<InstanceState> = new Set(['NO_WORKER_CAPACITY', 'NoActiveClusterWithCapacity', 'TargetClusterNotFound'])

const id = z.string().regex(/^[0-9a-f]{24}$/, 'must be a 24-digit hex ID')
const finiteNonNeg = z.number().finite().nonnegative()

export const appRecordSchema = z.object({
  id,
  name: z.string().max(64),
  namespace: z.string().max(64),
  description: z.string().max(1024),
  services: z.array(id).max(256),
  createdAt: finiteNonNeg,
  /** Oakestra's applicationID / customerID, when the SLA had them. */
  externalId: z.string().max(64).optional(),
  customerId: z.string().max(64).optional()
})
export type ApplicationRecord = z.infer<typeof appRecordSchema>

const portSchema = z.object({ host: z.number().int().min(1).max(65535).optional(), container: z.number().int().min(1).max(65535), protocol: z.enum(['tcp', 'udp']) })
const geoPoint = z.object({ lat: z.number().finite().min(-90).max(90), lon: z.number().finite().min(-180).max(180) })

export const serviceSpecSchema = z.object({
  name: z.string().max(64),
  namespace: z.string().max(64),
  externalId: z.string().max(64).optional(),
  virtualization: z.enum(['container', 'process']),
  image: z.string().max(512).optional(),
  cmd: z.array(z.string().max(4096)).max(256),
  environment: z.array(z.string().max(4096)).max(256),
  memory: finiteNonNeg,
  vcpus: finiteNonNeg,
  vgpus: finiteNonNeg,
  storage: finiteNonNeg,
  replicas: z.number().int().nonnegative().max(1000),
  restart: z.enum(['always', 'on-failure', 'never']),
  oneShot: z.boolean(),
  arch: z.array(z.string().max(32)).max(16),
  ports: z.array(portSchema).max(64),
  addresses: z.object({ rrIp: z.string().max(15).optional(), closestIp: z.string().max(15).optional() }),
  constraints: z.array(z.union([
    z.object({ type: z.literal('direct'), cluster: z.string().max(63).optional(), nodes: z.array(z.string().max(64)).max(256).optional() }),
    z.object({ type: z.literal('geo'), area: z.string().max(64).optional(), location: geoPoint.optional(), thresholdKm: finiteNonNeg, rigidness: z.number().finite().optional() }),
    z.object({ type: z.literal('latency'), area: z.string().max(64), thresholdMs: finiteNonNeg, rigidness: z.number().finite().optional(), convergenceTime: z.number().finite().optional() })
  ])).max(32),
  connectivity: z.array(z.object({ target: z.string().max(64), latencyMs: finiteNonNeg.optional() })).max(64)
})

export const serviceRecordSchema = z.object({
  id,
  app: id,
  name: z.string().max(64),
  spec: serviceSpecSchema,
  /** The instance numbers that should exist. */
  instances: z.array(z.number().int().nonnegative().max(100_000)).max(1000),
  /** false: registered only (Oakestra's POST /api/application/), nothing placed until an instance is asked for. */
  deployed: z.boolean(),
  createdAt: finiteNonNeg
})
export type ServiceRecord = z.infer<typeof serviceRecordSchema>

export const ownerRecordSchema = z.object({
  region: regionName,
  leader: peerIdString,
  term: z.number().int().nonnegative(),
  /** Bumped on every hand-off to another region, so the new region's placements outrank the old one's. */
  epoch: z.number().int().nonnegative().max(1_000_000)
})
export type OwnerRecord = z.infer<typeof ownerRecordSchema>

export const placementRecordSchema = z.object({
  svc: id,
  n: z.number().int().nonnegative(),
  peerId: peerIdString,
  region: regionName,
  term: z.number().int().nonnegative(),
  epoch: z.number().int().nonnegative()
})
export type PlacementRecord = z.infer<typeof placementRecordSchema>

export const endpointSchema = z.object({ containerPort: z.number().int().min(0).max(65535), protocol: z.enum(['tcp', 'udp']), host: z.string().max(64), port: z.number().int().min(0).max(65535) })

export const instanceRecordSchema = z.object({
  svc: id,
  n: z.number().int().nonnegative(),
  status: z.enum(INSTANCE_STATES),
  peerId: peerIdString.nullable(),
  /** The hosting peer's name, for people (peers of other regions are not in this peer's member table). */
  peerName: z.string().max(64).nullable().optional(),
  region: regionName.nullable(),
  reason: z.string().max(2048).nullable(),
  startedAt: finiteNonNeg.nullable(),
  restarts: z.number().int().nonnegative(),
  endpoints: z.array(endpointSchema).max(64),
  /** The agent asks its leader to place this instance elsewhere after repeated failures here. */
  replace: z.boolean(),
  updatedAt: finiteNonNeg
})
export type InstanceRecord = z.infer<typeof instanceRecordSchema>

export const scheduleRecordSchema = z.object({
  svc: id,
  at: finiteNonNeg,
  by: peerIdString,
  /** The entry peer's region ranking. */
  regions: z.object({
    ranked: z.array(z.object({ region: z.string().max(63), score: z.number().finite() })).max(256),
    rejected: z.array(z.object({ region: z.string().max(63), reason: z.string().max(64) })).max(256)
  }),
  /** Each region tried, with the leader's explanation. */
  attempts: z.array(z.object({
    region: z.string().max(63),
    ok: z.boolean(),
    placed: z.number().int().nonnegative(),
    unplaced: z.number().int().nonnegative(),
    explain: z.string().max(4096),
    rejected: z.record(z.string().max(64), z.number().int().nonnegative())
  })).max(256),
  outcome: z.string().max(4096)
})
export type ScheduleRecord = z.infer<typeof scheduleRecordSchema>

/** A service-IP claim: which service (and, for instance IPs, which instance) an overlay address belongs to. */
export const ipClaimSchema = z.object({
  ip: z.string().regex(/^10\.30\.\d{1,3}\.\d{1,3}$/, 'must be in 10.30.0.0/16'),
  svc: id,
  kind: z.enum(['rr', 'closest', 'instance']),
  /** The instance number, for kind 'instance'. */
  n: z.number().int().nonnegative().optional(),
  by: peerIdString,
  at: finiteNonNeg
})
export type IpClaim = z.infer<typeof ipClaimSchema>

export const keys = {
  app: (app: string) => `app/${app}`,
  svc: (svc: string) => `svc/${svc}`,
  own: (svc: string) => `own/${svc}`,
  place: (svc: string, n: number) => `place/${svc}/${n}`,
  inst: (svc: string, n: number) => `inst/${svc}/${n}`,
  sched: (svc: string) => `sched/${svc}`,
  sip: (ip: string) => `sip/${ip}`
}

/** Placements are fenced: a hand-off (epoch) outranks any term, and a higher term outranks a lower one. */
export function fence (epoch: number, term: number): number {
  return epoch * 1_000_000 + Math.min(term, 999_999)
}

const SCHEMAS: Array<[RegExp, z.ZodType]> = [
  [/^app\/[0-9a-f]{24}$/, appRecordSchema],
  [/^svc\/[0-9a-f]{24}$/, serviceRecordSchema],
  [/^own\/[0-9a-f]{24}$/, ownerRecordSchema],
  [/^place\/[0-9a-f]{24}\/\d+$/, placementRecordSchema],
  [/^inst\/[0-9a-f]{24}\/\d+$/, instanceRecordSchema],
  [/^sched\/[0-9a-f]{24}$/, scheduleRecordSchema],
  [/^sip\/10\.30\.\d{1,3}\.\d{1,3}$/, ipClaimSchema]
]

/** The state map's validator: an error message rejects the entry. Unknown key families are refused. */
export function validateRecord (key: string, value: unknown): string | undefined {
  for (const [pattern, schema] of SCHEMAS) {
    if (!pattern.test(key)) continue
    const r = schema.safeParse(value)
    if (r.success) return undefined
    const issue = r.error.issues[0]
    return `${key}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'invalid'}`
  }
  return `${key}: unknown key family`
}
