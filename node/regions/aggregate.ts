// Folding a region's alive members into the RegionSummary its leader publishes. Pure: the caller supplies the
// members and the time, so the same input always gives the same summary and the maths can be tested by table.
//
// Members arrive validated (nodeStatusSchema), which bounds every number to be finite and non-negative but not
// small. A peer announcing memFree = 1e308 twice would overflow a sum to Infinity, which the summary schema (and
// every receiver) rejects; so results are held to the largest finite double instead. Nonsense in, bounded
// nonsense out, but never a summary the leader cannot publish.
import type { Aggregate, Coordinate, Location, NodeStatus, RegionSummary, Resources, RuntimeName } from '../wire/schemas.js'

/** Mean earth radius (IUGG), in km. */
export const EARTH_RADIUS_KM = 6371.0088

/** What summarize() needs: the region's identity, the leader's view of the time, and its alive members. */
export interface SummarizeInput {
  region: string
  /** The leader's peer ID. */
  leader: string
  term: number
  /** The leader's wall clock, ms since the epoch. */
  at: number
  /** The alive members, the leader included. */
  members: NodeStatus[]
}

type ArchSummary = RegionSummary['archs'][string]

/**
 * Builds the summary a region's leader publishes on the regions topic.
 *
 * Free amounts per node: cpu = cpuCores × (1 − cpuUsage) cores, memory = memFree and disk = diskFree bytes, and
 * gpu = the number of devices. `resources` aggregates those; `capacity` totals cores, memTotal, diskTotal and
 * devices. The result always passes `regionSummarySchema`.
 */
export function summarize (input: SummarizeInput): RegionSummary {
  const { members } = input
  const free = members.map(m => freeOf(m.resources))

  return {
    v: 1,
    region: input.region,
    leader: input.leader,
    term: input.term,
    nodes: members.length,
    at: input.at,
    resources: {
      cpu: aggregate(free.map(f => f.cpu)),
      memory: aggregate(free.map(f => f.memory)),
      disk: aggregate(free.map(f => f.disk)),
      gpu: aggregate(free.map(f => f.gpu))
    },
    capacity: {
      cpu: total(members.map(m => m.resources.cpuCores)),
      memory: total(members.map(m => m.resources.memTotal)),
      disk: total(members.map(m => m.resources.diskTotal)),
      gpu: total(members.map(m => m.resources.gpus.length))
    },
    largest: { cpuCores: Math.max(0, ...members.map(m => m.resources.cpuCores)) },
    archs: archsOf(members.map(m => m.resources.arch), free),
    runtimes: runtimesOf(members),
    geo: geoOf(members),
    coordinate: meanCoordinate(members.map(m => m.coordinate))
  }
}

/** Great-circle distance in km between two points, by the haversine formula on a sphere of EARTH_RADIUS_KM. */
export function haversineKm (a: Location, b: Location): number {
  const lat1 = radians(a.lat)
  const lat2 = radians(b.lat)
  const dLat = lat2 - lat1
  const dLon = radians(b.lon - a.lon)
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(lat1) * Math.cos(lat2) * Math.sin(dLon / 2) ** 2
  // Rounding can push h a hair past 1 for antipodal points, and asin(>1) is NaN.
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.sqrt(clamp(h, 0, 1)))
}

/**
 * The spherical mean of some points: the mean of their 3D unit vectors, projected back onto the sphere. Unlike a
 * mean of latitudes and longitudes it is right across the antimeridian and near the poles.
 *
 * @returns null for no points, and when the vectors cancel out (e.g. two antipodal points), where no centre means
 * more than any other.
 */
export function geoCentroid (points: Location[]): Location | null {
  if (points.length === 0) return null

  let x = 0
  let y = 0
  let z = 0
  for (const p of points) {
    const lat = radians(p.lat)
    const lon = radians(p.lon)
    x += Math.cos(lat) * Math.cos(lon)
    y += Math.cos(lat) * Math.sin(lon)
    z += Math.sin(lat)
  }
  // The length of the summed vector is at most points.length; relative to that, a tiny remainder is rounding.
  if (Math.hypot(x, y, z) < 1e-9 * points.length) return null

  // Clamped because degrees(π) may round past 180, which locationSchema rejects; `+ 0` turns -0 into 0.
  return {
    lat: clamp(degrees(Math.atan2(z, Math.hypot(x, y))), -90, 90) + 0,
    lon: clamp(degrees(Math.atan2(y, x)), -180, 180) + 0
  }
}

/**
 * Sum, mean, population standard deviation and maximum of some non-negative amounts; all 0 for none.
 * The std is computed in two passes, which, unlike E[x²] − E[x]², cannot go negative through rounding.
 */
export function aggregate (values: number[]): Aggregate {
  const n = values.length
  if (n === 0) return { sum: 0, mean: 0, std: 0, maxFree: 0 }

  let sum = 0
  let mean = 0
  let max = 0
  for (const v of values) {
    sum += v
    // Summing v / n keeps the mean finite even where the sum overflows.
    mean += v / n
    if (v > max) max = v
  }
  let squares = 0
  for (const v of values) squares += (v - mean) ** 2

  return {
    sum: bounded(sum),
    mean: bounded(mean),
    std: bounded(Math.sqrt(squares / n)),
    maxFree: bounded(max)
  }
}

interface Free { cpu: number, memory: number, disk: number, gpu: number }

function freeOf (r: Resources): Free {
  return {
    // cpuUsage ≤ 1 by schema, but a clamp costs nothing and keeps a rounding error from showing as -0.0001 cores.
    cpu: Math.max(0, r.cpuCores * (1 - r.cpuUsage)),
    memory: r.memFree,
    disk: r.diskFree,
    gpu: r.gpus.length
  }
}

function archsOf (archs: string[], free: Free[]): Record<string, ArchSummary> {
  // A Map, not an object literal: arch is a peer-supplied string, and `obj['__proto__'] = …` would set the
  // prototype instead of adding a key. Object.fromEntries defines own properties, so it is safe.
  const byArch = new Map<string, ArchSummary>()
  archs.forEach((arch, i) => {
    const { cpu, memory } = free[i]
    const a = byArch.get(arch) ?? { nodes: 0, cpuFree: 0, memFree: 0, maxCpuFree: 0, maxMemFree: 0 }
    byArch.set(arch, {
      nodes: a.nodes + 1,
      cpuFree: bounded(a.cpuFree + cpu),
      memFree: bounded(a.memFree + memory),
      maxCpuFree: Math.max(a.maxCpuFree, cpu),
      maxMemFree: Math.max(a.maxMemFree, memory)
    })
  })
  return Object.fromEntries(byArch)
}

function runtimesOf (members: NodeStatus[]): RuntimeName[] {
  const all = new Set<RuntimeName>()
  for (const m of members) for (const r of m.resources.runtimes) all.add(r)
  return [...all].sort()
}

function geoOf (members: NodeStatus[]): RegionSummary['geo'] {
  const located = members.flatMap(m => m.location === null ? [] : [m.location])
  if (located.length === 0) return null

  // When the points cancel out there is no meaningful centre; any member then gives a circle that still encloses
  // them all, so the radius stays an honest upper bound.
  const centroid = geoCentroid(located) ?? located[0]
  let radiusKm = 0
  for (const p of located) radiusKm = Math.max(radiusKm, haversineKm(centroid, p))
  return { centroid, radiusKm, located: located.length }
}

function meanCoordinate (coordinates: Coordinate[]): Coordinate | null {
  const n = coordinates.length
  if (n === 0) return null

  // Means as sums of x / n, which cannot overflow, since the inputs are finite.
  const mean = (pick: (c: Coordinate) => number): number => coordinates.reduce((acc, c) => acc + pick(c) / n, 0)
  return {
    vec: coordinates[0].vec.map((_, i) => mean(c => c.vec[i])),
    height: mean(c => c.height),
    error: mean(c => c.error),
    adjustment: mean(c => c.adjustment)
  }
}

function total (values: number[]): number {
  return bounded(values.reduce((acc, v) => acc + v, 0))
}

/** Holds a non-negative result to the finite range the schema accepts (NaN cannot arise from valid input). */
function bounded (n: number): number {
  return clamp(n, 0, Number.MAX_VALUE)
}

function clamp (n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, n))
}

function radians (deg: number): number {
  return deg * Math.PI / 180
}

function degrees (rad: number): number {
  return rad * 180 / Math.PI
}
