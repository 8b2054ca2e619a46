// Distances the scheduler ranks and filters by: great-circle kilometres between places, Vivaldi milliseconds between
// network coordinates, and the fibre rule of thumb that turns the first into an RTT when no coordinate helps.
//
// scheduler/ imports no other folder, so these restate (and must agree with) node/regions/aggregate.ts haversineKm and
// node/coordinates.ts distance. Both are written to allocate nothing: they run once per candidate node per constraint.
import type { GeoPoint, NetCoordinate } from './types.js'

/** Mean earth radius (IUGG), in km; the same sphere node/regions/aggregate.ts uses. */
export const EARTH_RADIUS_KM = 6371.0088

/**
 * Kilometres of fibre per millisecond of round trip: light in glass covers about 200 km/ms, there and back halves it.
 * Real paths are longer than great circles, so an RTT from this is a lower bound, not a forecast.
 */
export const FIBRE_KM_PER_RTT_MS = 100

/** The fixed cost of any real path (access links, switching), added to the fibre estimate. */
export const FIBRE_BASE_RTT_MS = 1

const RAD = Math.PI / 180

/** Great-circle distance in km between two points, by the haversine formula. */
export function haversineKm (a: GeoPoint, b: GeoPoint): number {
  return haversineRad(a.lat * RAD, a.lon * RAD, Math.cos(a.lat * RAD), b.lat * RAD, b.lon * RAD, Math.cos(b.lat * RAD))
}

/**
 * A fixed point to measure many places from, with its trigonometry done once. The filters build one per constraint
 * per call and then pay one cosine and one square root per node.
 */
export class GeoTarget {
  readonly lat: number
  readonly lon: number
  private readonly cosLat: number

  constructor (p: GeoPoint) {
    this.lat = p.lat * RAD
    this.lon = p.lon * RAD
    this.cosLat = Math.cos(this.lat)
  }

  /** Great-circle km from this target to `p`. */
  distanceKm (p: GeoPoint): number {
    const lat = p.lat * RAD
    return haversineRad(this.lat, this.lon, this.cosLat, lat, p.lon * RAD, Math.cos(lat))
  }
}

function haversineRad (lat1: number, lon1: number, cos1: number, lat2: number, lon2: number, cos2: number): number {
  const sLat = Math.sin((lat2 - lat1) / 2)
  const sLon = Math.sin((lon2 - lon1) / 2)
  let h = sLat * sLat + cos1 * cos2 * sLon * sLon
  // Rounding can push h a hair past 1 for antipodal points, and asin(>1) is NaN.
  if (h > 1) h = 1
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.sqrt(h))
}

/** The RTT, in ms, that `km` of great circle costs at least: {@link FIBRE_BASE_RTT_MS} plus the fibre time. */
export function fibreRttMs (km: number): number {
  return FIBRE_BASE_RTT_MS + km / FIBRE_KM_PER_RTT_MS
}

/**
 * Estimated RTT in ms between two Vivaldi coordinates: the Euclidean distance of the vectors plus both heights, plus
 * both adjustments unless that would make the estimate zero or negative. The same rule as node/coordinates.ts
 * distance(); vectors of unequal length are compared as if padded with zeros.
 */
export function vivaldiMs (a: NetCoordinate, b: NetCoordinate): number {
  const av = a.vec
  const bv = b.vec
  const n = av.length < bv.length ? av.length : bv.length
  let sum = 0
  for (let i = 0; i < n; i++) {
    const d = av[i] - bv[i]
    sum += d * d
  }
  for (let i = n; i < av.length; i++) sum += av[i] * av[i]
  for (let i = n; i < bv.length; i++) sum += bv[i] * bv[i]
  const raw = Math.sqrt(sum) + a.height + b.height
  const adjusted = raw + a.adjustment + b.adjustment
  return adjusted > 0 ? adjusted : raw
}

/**
 * Many coordinates packed into flat arrays, to find the nearest one to a node without touching an object per pair.
 * Built once per call (the landmarks of an area, the instances of a connected service).
 */
export class CoordinateSet {
  readonly size: number
  private readonly dims: number
  private readonly vecs: Float64Array
  /** height + adjustment and height alone, per member: the two halves of the Vivaldi rule that do not depend on the pair. */
  private readonly adjusted: Float64Array
  private readonly heights: Float64Array

  constructor (coords: readonly NetCoordinate[]) {
    let dims = 0
    for (const c of coords) if (c.vec.length > dims) dims = c.vec.length
    this.size = coords.length
    this.dims = dims
    this.vecs = new Float64Array(coords.length * dims)
    this.adjusted = new Float64Array(coords.length)
    this.heights = new Float64Array(coords.length)
    coords.forEach((c, k) => {
      for (let d = 0; d < c.vec.length; d++) this.vecs[k * dims + d] = c.vec[d]
      this.heights[k] = c.height
      this.adjusted[k] = c.height + c.adjustment
    })
  }

  /** The smallest {@link vivaldiMs} from `c` to any member; Infinity for an empty set. */
  nearestMs (c: NetCoordinate): number {
    const v = c.vec
    const dims = this.dims
    const vecs = this.vecs
    const common = v.length < dims ? v.length : dims
    // Parts of c's vector beyond the set's dimensions count against every member alike.
    let extra = 0
    for (let d = common; d < v.length; d++) extra += v[d] * v[d]
    let best = Infinity
    for (let k = 0, base = 0; k < this.size; k++, base += dims) {
      let sum = extra
      for (let d = 0; d < common; d++) {
        const x = v[d] - vecs[base + d]
        sum += x * x
      }
      for (let d = common; d < dims; d++) sum += vecs[base + d] * vecs[base + d]
      const euclid = Math.sqrt(sum)
      const raw = euclid + c.height + this.heights[k]
      const adjusted = euclid + c.height + c.adjustment + this.adjusted[k]
      const ms = adjusted > 0 ? adjusted : raw
      if (ms < best) best = ms
    }
    return best
  }
}
