// Spread: replicas of one service on different nodes, so that one node's loss takes one replica. A penalty of one
// per instance of this service already on the node (before this decision, and placed by it); the stack weighs it so
// that it beats a small resource or latency advantage, and, being a score rather than a filter, lets a node be
// reused when no other fits.
import type { Ranker } from '../stack.js'

export const spreadRanker: Ranker = {
  name: 'spread',
  prepare (ctx) {
    const nodes = ctx.nodes
    const placed = ctx.placed
    return {
      round () {},
      // 0 − n rather than −n: no −0 in the recorded scores.
      score: i => 0 - (nodes[i].sameService + placed[i])
    }
  }
}
