// ROM, Oakestra's resource-only match.
//
// What Oakestra does (oakestra/oakestra, cluster_orchestrator/cluster-scheduler/calculation.py,
// greedy_load_balanced_algorithm, the default when the SLA has no direct constraint; the root's cloud-scheduler
// calculation.py does the same over clusters): keep the nodes whose free CPU, memory and GPUs cover the request and
// whose technology list has the virtualization, then sweep them in database order keeping the node whose
// current_cpu_cores_free AND current_free_memory_in_MB are both ≥ the best so far ("return the cluster with the most
// cpu+ram"). Oakestra's documentation calls this "best fit"; in bin-packing terms it is the opposite, a worst fit:
// the emptiest node wins, which spreads load. (first_fit_algorithm in the same file, the documentation's "first fit",
// takes the first node that fits and is not called by default.)
//
// Grove keeps the intent and makes it a total order. The sweep above depends on the order of the database when no
// node beats every other on both resources; Grove scores each feasible node by
//
//   rom = ( freeCpu / max freeCpu  +  freeMem / max freeMem ) / 2        ∈ [0, 1], higher is better
//
// where free = measured free − reserved − what this decision already placed there, and the maxima are taken over the
// nodes feasible for this instance. Normalising makes cores and MiB count alike (a raw sum would be all memory). When
// one node has the most of both, it scores 1 and is Oakestra's choice too. Oakestra's filter scales free CPU by
// (100 − memory percent)/100, which looks accidental and is not copied.
import type { NodeContext, Ranker } from '../stack.js'

export const romRanker: Ranker = {
  name: 'rom',
  prepare (ctx: NodeContext, feasible: Int32Array, count: number) {
    // Free amounts before this decision (measured − reserved), read once from the node objects in memory order;
    // round() takes off what this decision placed and keeps the result for score().
    const n = ctx.nodes.length
    const baseCpu = ctx.float64(n)
    const baseMem = ctx.float64(n)
    const cpu = ctx.float64(n)
    const mem = ctx.float64(n)
    for (let k = 0; k < count; k++) {
      const i = feasible[k]
      const node = ctx.nodes[i]
      baseCpu[i] = node.cpuFree - node.reserved.cpu
      baseMem[i] = node.memFreeMiB - node.reserved.memoryMiB
    }
    const { vcpus, memory } = ctx.spec
    const placed = ctx.placed
    let cpuScale = 0
    let memScale = 0
    return {
      round (feasible, count) {
        let maxCpu = 0
        let maxMem = 0
        for (let k = 0; k < count; k++) {
          const i = feasible[k]
          const p = placed[i]
          let c = baseCpu[i] - p * vcpus
          let m = baseMem[i] - p * memory
          if (c < 0) c = 0
          if (m < 0) m = 0
          cpu[i] = c
          mem[i] = m
          if (c > maxCpu) maxCpu = c
          if (m > maxMem) maxMem = m
        }
        // With nothing free anywhere every node is equally (un)attractive on that resource: each scores 1/2 there.
        cpuScale = maxCpu > 0 ? 0.5 / maxCpu : 0
        memScale = maxMem > 0 ? 0.5 / maxMem : 0
      },
      score (i) {
        return (cpuScale > 0 ? cpu[i] * cpuScale : 0.5) + (memScale > 0 ? mem[i] * memScale : 0.5)
      }
    }
  }
}
