// Service-to-service (S2S): how far the node is, in estimated RTT, from the nearest running instance of each service
// this one talks to. A bound (Connectivity.latencyMs) filters; every connection, bounded or not, is an LDP term.
import { CoordinateSet } from '../geo.js'
import type { Filter, NodeContext } from '../stack.js'
import type { NetCoordinate } from '../types.js'

/**
 * For each connection whose target has instances: the Vivaldi distance from the node to the nearest one must be at
 * most latencyMs. An instance on the node itself is 0 ms away (loopback). A target with no instances yet passes (its
 * instances will be placed near this one in turn), and so does one none of whose instances has a coordinate (nothing
 * to measure against). A node without a coordinate fails a bounded connection it does not host: it cannot show it
 * is near.
 */
export const connectivityFilter: Filter<NodeContext> = {
  name: 'connectivity',
  prepare (ctx) {
    const sets: CoordinateSet[] = []
    const hosts: Array<Set<string>> = []
    const limits: number[] = []
    const slots: number[] = []
    for (const link of ctx.spec.connectivity) {
      const coords: NetCoordinate[] = []
      const peers = new Set<string>()
      for (const inst of ctx.connected) {
        if (inst.service !== link.target) continue
        peers.add(inst.peerId)
        if (inst.coordinate !== null) coords.push(inst.coordinate)
      }
      if (peers.size === 0) continue
      sets.push(new CoordinateSet(coords))
      hosts.push(peers)
      // An unbounded connection still ranks (scale 0: LDP normalises it by the largest distance among candidates).
      limits.push(link.latencyMs ?? Infinity)
      slots.push(ctx.reserveTerm(link.latencyMs ?? 0))
    }
    if (sets.length === 0) return null
    const nodes = ctx.nodes
    return i => {
      const node = nodes[i]
      const terms = ctx.terms
      const base = i * ctx.termCount
      for (let k = 0; k < sets.length; k++) {
        let ms: number
        if (hosts[k].has(node.peerId)) ms = 0
        else if (sets[k].size === 0) ms = NaN
        else if (node.coordinate !== null) ms = sets[k].nearestMs(node.coordinate)
        else if (limits[k] !== Infinity) return 'connectivity'
        else ms = NaN
        if (ms > limits[k]) return 'connectivity'
        terms[base + slots[k]] = ms
      }
      return null
    }
  }
}
