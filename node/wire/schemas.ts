// Message schemas for everything that crosses the network. Nothing from a peer is used before it passes one of
// these. The shapes are append-only: add optional fields, never change the meaning of an existing one.
import { z } from 'zod'

/** A finite number: JSON cannot carry NaN or Infinity, but a hostile encoder can still send 1e999 → Infinity. */
export const finite = z.number().refine(Number.isFinite, 'must be a finite number')
const nonNegative = finite.refine(n => n >= 0, 'must not be negative')
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

export const REGION_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
export const regionName = z.string().regex(REGION_NAME, 'must be 1-63 lowercase letters, digits or dashes, not starting or ending with a dash')
export const peerName = z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be letters, digits, dots, dashes or underscores')
export const peerIdString = z.string().min(40).max(80).regex(/^[1-9A-HJ-NP-Za-km-z]+$/, 'must be a base58 peer ID')
export const multiaddrString = z.string().min(1).max(256).startsWith('/')

export const DIMENSIONS = 8

export const coordinateSchema = z.object({
  vec: z.array(finite).length(DIMENSIONS),
  error: nonNegative,
  adjustment: finite,
  height: nonNegative
})
export type Coordinate = z.infer<typeof coordinateSchema>

export const gpuSchema = z.object({
  name: z.string().max(128),
  memTotal: nonNegative,
  memFree: nonNegative,
  usage: nonNegative
})
export type Gpu = z.infer<typeof gpuSchema>

export const RUNTIMES = ['process', 'docker'] as const
export type RuntimeName = typeof RUNTIMES[number]

export const resourcesSchema = z.object({
  /** Logical CPU cores of the host. */
  cpuCores: nonNegative,
  /** Recent host CPU use, 0..1. */
  cpuUsage: nonNegative.refine(n => n <= 1, 'must be at most 1'),
  /** Bytes. memFree is what the kernel reports as available. */
  memTotal: nonNegative,
  memFree: nonNegative,
  /** Bytes in the data directory's file system. */
  diskTotal: nonNegative,
  diskFree: nonNegative,
  /** Oakestra's names: amd64, arm64, arm, ... */
  arch: z.string().min(1).max(32),
  gpus: z.array(gpuSchema).max(64),
  runtimes: z.array(z.enum(RUNTIMES)).max(8)
})
export type Resources = z.infer<typeof resourcesSchema>

export const locationSchema = z.object({
  lat: finite.refine(n => n >= -90 && n <= 90, 'must be within -90..90'),
  lon: finite.refine(n => n >= -180 && n <= 180, 'must be within -180..180')
})
export type Location = z.infer<typeof locationSchema>

export const ROLES = ['leader', 'follower', 'candidate'] as const
export type Role = typeof ROLES[number]

/**
 * The small part of a peer's status that changes often. It rides on every heartbeat; the rest (NodeInfo) is sent
 * only when its revision changes, and pulled over /grove/sync when a beat shows a revision we have not seen.
 */
export const beatSchema = z.object({
  incarnation: count,
  seq: count,
  /** Revision of this peer's NodeInfo; a receiver holding an older one pulls the new one. */
  rev: count,
  role: z.enum(ROLES),
  term: count,
  leader: peerIdString.nullable(),
  /** Digest of the instances this peer runs; empty while it runs none. */
  instances: z.string().max(64)
})
export type Beat = z.infer<typeof beatSchema>

export const nodeInfoSchema = z.object({
  peerId: peerIdString,
  region: regionName,
  name: peerName,
  addrs: z.array(multiaddrString).max(32),
  eligible: z.boolean(),
  resources: resourcesSchema,
  labels: z.record(z.string().max(63), z.string().max(255)).refine(l => Object.keys(l).length <= 64, 'at most 64 labels'),
  location: locationSchema.nullable(),
  coordinate: coordinateSchema,
  version: z.string().max(32)
})
export type NodeInfo = z.infer<typeof nodeInfoSchema>

/** A full NodeStatus as DESIGN.md describes it: the node's info plus its latest beat. */
export const nodeStatusSchema = nodeInfoSchema.extend(beatSchema.shape)
export type NodeStatus = z.infer<typeof nodeStatusSchema>

/** What a peer publishes on its region's status topic. */
export const regionMessageSchema = z.discriminatedUnion('t', [
  z.object({ v: z.literal(1), t: z.literal('status'), status: nodeStatusSchema }),
  z.object({ v: z.literal(1), t: z.literal('beat'), beat: beatSchema }),
  z.object({ v: z.literal(1), t: z.literal('leave'), incarnation: count, seq: count })
])
export type RegionMessage = z.infer<typeof regionMessageSchema>

const aggregateSchema = z.object({ sum: nonNegative, mean: nonNegative, std: nonNegative, maxFree: nonNegative })
export type Aggregate = z.infer<typeof aggregateSchema>

export const regionSummarySchema = z.object({
  v: z.literal(1),
  region: regionName,
  leader: peerIdString,
  term: count,
  /** Alive peers counted in this summary. */
  nodes: count,
  /** When the leader built it (its wall clock, ms since the epoch): for display only, never for ordering. */
  at: count,
  /** Per resource, over the free amounts of the alive nodes; cpu in cores, memory and disk in bytes, gpu in devices. */
  resources: z.object({
    cpu: aggregateSchema,
    memory: aggregateSchema,
    disk: aggregateSchema,
    gpu: aggregateSchema
  }),
  /** Totals of capacity, not free amounts. */
  capacity: z.object({ cpu: nonNegative, memory: nonNegative, disk: nonNegative, gpu: nonNegative }),
  /** The largest single node's capacity (optional: added after version 1 shipped). */
  largest: z.object({ cpuCores: nonNegative }).optional(),
  archs: z.record(z.string().max(32), z.object({ nodes: count, cpuFree: nonNegative, memFree: nonNegative, maxCpuFree: nonNegative, maxMemFree: nonNegative })),
  runtimes: z.array(z.enum(RUNTIMES)).max(8),
  /** Centroid and radius (km) of the nodes that have a location; null when none has. */
  geo: z.object({ centroid: locationSchema, radiusKm: nonNegative, located: count }).nullable(),
  /** Mean of the nodes' Vivaldi coordinates. */
  coordinate: coordinateSchema.nullable()
})
export type RegionSummary = z.infer<typeof regionSummarySchema>
