// The cheap node filters: what the node is and whether the caller may use it. None of their answers change while a
// decision places its instances.
import type { Filter, NodeContext } from '../stack.js'
import { directOf, runtimeFor } from './common.js'

/** Peers the caller ruled out (dead, or the instance failed there repeatedly). */
export const excludedFilter: Filter<NodeContext> = {
  name: 'excluded',
  prepare (ctx) {
    if (ctx.exclude.length === 0) return null
    const excluded = new Set(ctx.exclude)
    const nodes = ctx.nodes
    return i => excluded.has(nodes[i].peerId) ? 'excluded' : null
  }
}

/** A container needs a node with 'docker', a process one with 'process'. */
export const runtimeFilter: Filter<NodeContext> = {
  name: 'runtime',
  prepare (ctx) {
    const runtime = runtimeFor(ctx.spec)
    const nodes = ctx.nodes
    return i => {
      // A plain loop: Array.prototype.includes is measurably slower on these one-to-three element lists.
      const runtimes = nodes[i].runtimes
      for (let k = 0; k < runtimes.length; k++) if (runtimes[k] === runtime) return null
      return 'runtime'
    }
  }
}

/** The node's architecture must be one the spec allows; an empty list allows any. */
export const archFilter: Filter<NodeContext> = {
  name: 'arch',
  prepare (ctx) {
    const archs = ctx.spec.arch
    if (archs.length === 0) return null
    const nodes = ctx.nodes
    return i => archs.includes(nodes[i].arch) ? null : 'arch'
  }
}

/** Direct constraints: `cluster` names the node's region, `nodes` lists the node names allowed. */
export const directFilter: Filter<NodeContext> = {
  name: 'direct',
  prepare (ctx) {
    const { clusters, nodeLists } = directOf(ctx.spec)
    if (clusters.length === 0 && nodeLists.length === 0) return null
    const nodes = ctx.nodes
    return i => {
      const node = nodes[i]
      for (let k = 0; k < clusters.length; k++) if (node.region !== clusters[k]) return 'direct-cluster'
      for (let k = 0; k < nodeLists.length; k++) if (!nodeLists[k].has(node.name)) return 'direct-node'
      return null
    }
  }
}
