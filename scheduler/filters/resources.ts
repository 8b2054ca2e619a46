// Does one more instance fit? Free amounts are the node's measurements, minus what is promised to instances placed
// but not yet running there (`reserved`), minus what this decision has already placed on it. A resource the spec
// asks 0 of is not checked, so an overcommitted node can still take a service that reserves nothing.
import type { Filter, NodeContext } from '../stack.js'
import { EPSILON } from './common.js'

export const resourcesFilter: Filter<NodeContext> = {
  name: 'resources',
  prepare (ctx) {
    const { vcpus, memory, vgpus, storage } = ctx.spec
    if (vcpus <= 0 && memory <= 0 && vgpus <= 0 && storage <= 0) return null
    const nodes = ctx.nodes
    const placed = ctx.placed
    return i => {
      const node = nodes[i]
      const p = placed[i]
      if (vcpus > 0 && node.cpuFree - node.reserved.cpu - p * vcpus < vcpus - EPSILON) return 'cpu'
      if (memory > 0 && node.memFreeMiB - node.reserved.memoryMiB - p * memory < memory - EPSILON) return 'memory'
      // GPUs are whole devices and not shared between instances.
      if (vgpus > 0 && node.gpus - p * vgpus < vgpus) return 'gpu'
      if (storage > 0 && node.diskFreeMiB - p * storage < storage - EPSILON) return 'disk'
      return null
    }
  }
}
