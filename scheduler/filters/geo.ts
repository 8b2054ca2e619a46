// Service-to-user (S2U) filters: how far the node is from where the users are, in kilometres (geo) and in estimated
// milliseconds (latency). Each stores the distance it measured as an LDP term, so ranking does not measure again.
import { CoordinateSet, fibreRttMs, GeoTarget } from '../geo.js'
import type { Filter, NodeContext } from '../stack.js'
import type { NetCoordinate } from '../types.js'
import { geoReach } from './common.js'

/**
 * Geo constraints: the great-circle distance from the node's location to the constraint's point must be at most
 * thresholdKm, or to the area's centre at most thresholdKm plus the area's radius. A node with no location fails, as
 * nothing shows that it is near. `rigidness` is not honoured: every constraint is hard.
 */
export const geoFilter: Filter<NodeContext> = {
  name: 'geo',
  prepare (ctx) {
    const targets: GeoTarget[] = []
    const limits: number[] = []
    const slots: number[] = []
    for (const c of ctx.spec.constraints) {
      if (c.type !== 'geo') continue
      const reach = geoReach(c, ctx.areas)
      if (reach === null) continue
      targets.push(new GeoTarget(reach.center))
      limits.push(reach.limitKm)
      slots.push(ctx.reserveTerm(reach.limitKm))
    }
    if (targets.length === 0) return null
    const nodes = ctx.nodes
    return i => {
      const location = nodes[i].location
      if (location === null) return 'geo'
      const terms = ctx.terms
      const base = i * ctx.termCount
      for (let k = 0; k < targets.length; k++) {
        const km = targets[k].distanceKm(location)
        if (km > limits[k]) return 'geo'
        terms[base + slots[k]] = km
      }
      return null
    }
  }
}

/**
 * Latency constraints: the node's estimated RTT to the area must be at most thresholdMs. The area has no coordinate of
 * its own, so its landmarks stand in for its users: the candidate nodes located inside it that have a coordinate. The
 * estimate is the smallest Vivaldi distance from the node to a landmark (a node inside the area is its own landmark,
 * at the cost of its access link). Without landmarks, or without a coordinate of its own, the node falls back on
 * geography: 1 ms plus the great-circle km to the area's centre over 100 km/ms of fibre. A node with neither estimate
 * fails.
 */
export const latencyFilter: Filter<NodeContext> = {
  name: 'latency',
  prepare (ctx) {
    const nodes = ctx.nodes
    const centers: GeoTarget[] = []
    const landmarks: CoordinateSet[] = []
    const limits: number[] = []
    const slots: number[] = []
    for (const c of ctx.spec.constraints) {
      if (c.type !== 'latency') continue
      const area = ctx.areas[c.area]
      const center = new GeoTarget(area.center)
      const inside: NetCoordinate[] = []
      for (const node of nodes) {
        if (node.coordinate !== null && node.location !== null && center.distanceKm(node.location) <= area.radiusKm) inside.push(node.coordinate)
      }
      centers.push(center)
      landmarks.push(new CoordinateSet(inside))
      limits.push(c.thresholdMs)
      slots.push(ctx.reserveTerm(c.thresholdMs))
    }
    if (centers.length === 0) return null
    return i => {
      const node = nodes[i]
      const terms = ctx.terms
      const base = i * ctx.termCount
      for (let k = 0; k < centers.length; k++) {
        let ms: number
        if (node.coordinate !== null && landmarks[k].size > 0) ms = landmarks[k].nearestMs(node.coordinate)
        else if (node.location !== null) ms = fibreRttMs(centers[k].distanceKm(node.location))
        else return 'latency'
        if (!(ms <= limits[k])) return 'latency'
        terms[base + slots[k]] = ms
      }
      return null
    }
  }
}
