// Small rules shared by the node and the region filters, so that the two levels read a spec the same way.
import type { Area, Constraint, GeoPoint, ServiceSpec } from '../types.js'

/** Tolerance for resource comparisons: 0.1 + 0.2 cores placed must still leave 0.7 of 1 for a 0.7 request. */
export const EPSILON = 1e-9

/** The runtime name a node or region advertises for this service's virtualization. */
export function runtimeFor (spec: ServiceSpec): string {
  return spec.virtualization === 'container' ? 'docker' : 'process'
}

/**
 * The first area a constraint names that `areas` does not define, or null. Such a request cannot be judged, so it
 * rejects every candidate under 'unknown-area' rather than be silently ignored.
 */
export function unknownArea (spec: ServiceSpec, areas: Record<string, Area>): string | null {
  for (const c of spec.constraints) {
    if ((c.type === 'geo' || c.type === 'latency') && c.area !== undefined && !Object.hasOwn(areas, c.area)) return c.area
  }
  return null
}

/**
 * Where a geo constraint measures from, and how far it allows: a point with the threshold, or else an area's centre
 * with the area's radius added to the threshold. A point wins over an area when both are given (it is the more
 * precise). Null when the constraint names neither (nothing to check; the SLA validator reports it).
 */
export function geoReach (c: Extract<Constraint, { type: 'geo' }>, areas: Record<string, Area>): { center: GeoPoint, limitKm: number } | null {
  if (c.location !== undefined) return { center: c.location, limitKm: c.thresholdKm }
  if (c.area !== undefined) {
    const area = areas[c.area]
    return { center: area.center, limitKm: c.thresholdKm + area.radiusKm }
  }
  return null
}

/** Every direct constraint's cluster, and every non-empty node list (each must hold). */
export function directOf (spec: ServiceSpec): { clusters: string[], nodeLists: Array<Set<string>> } {
  const clusters: string[] = []
  const nodeLists: Array<Set<string>> = []
  for (const c of spec.constraints) {
    if (c.type !== 'direct') continue
    if (c.cluster !== undefined && c.cluster !== '') clusters.push(c.cluster)
    // An empty list restricts nothing, as in Oakestra (deploy_on_best_among_desired_nodes takes every node then).
    if (c.nodes !== undefined && c.nodes.length > 0) nodeLists.push(new Set(c.nodes))
  }
  return { clusters, nodeLists }
}
