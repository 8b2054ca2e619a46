// Region filters: the entry peer judges a region by its summary alone. Each check is necessary, not sufficient (the
// summary's largest free CPU and largest free memory may be on different nodes), so a region that passes may still
// answer "no capacity"; one that fails here certainly would.
import { GeoTarget } from '../geo.js'
import type { Filter, RegionContext } from '../stack.js'
import { directOf, EPSILON, geoReach, runtimeFor } from './common.js'

/** Some node of the region offers the runtime. */
export const regionRuntime: Filter<RegionContext> = {
  name: 'runtime',
  prepare (ctx) {
    const runtime = runtimeFor(ctx.spec)
    return i => ctx.regions[i].runtimes.includes(runtime) ? null : 'runtime'
  }
}

/** Some node of the region has an allowed architecture. */
export const regionArch: Filter<RegionContext> = {
  name: 'arch',
  prepare (ctx) {
    const archs = ctx.spec.arch
    if (archs.length === 0) return null
    return i => ctx.regions[i].archs.some(a => archs.includes(a)) ? null : 'arch'
  }
}

/**
 * A direct `cluster` names the region. Direct `nodes` cannot be judged here (summaries carry no node names); the
 * region's leader checks them.
 */
export const regionDirect: Filter<RegionContext> = {
  name: 'direct',
  prepare (ctx) {
    const { clusters } = directOf(ctx.spec)
    if (clusters.length === 0) return null
    return i => clusters.every(c => c === ctx.regions[i].region) ? null : 'direct-cluster'
  }
}

/** The largest free node, per resource, could hold one instance. */
export const regionResources: Filter<RegionContext> = {
  name: 'resources',
  prepare (ctx) {
    const { vcpus, memory, vgpus, storage } = ctx.spec
    return i => {
      const free = ctx.regions[i].maxFree
      if (vcpus > 0 && free.cpu < vcpus - EPSILON) return 'cpu'
      if (memory > 0 && free.memoryMiB < memory - EPSILON) return 'memory'
      if (vgpus > 0 && free.gpu < vgpus) return 'gpu'
      if (storage > 0 && free.diskMiB < storage - EPSILON) return 'disk'
      return null
    }
  }
}

/**
 * Geo constraints against the region's extent: the nearest a node of the region can be to the target is the distance
 * to its centroid minus its radius, which must be within the threshold (plus the area's radius). A region without
 * located nodes passes: the node level decides.
 */
export const regionGeo: Filter<RegionContext> = {
  name: 'geo',
  prepare (ctx) {
    const reaches: Array<{ target: GeoTarget, limitKm: number }> = []
    for (const c of ctx.spec.constraints) {
      if (c.type !== 'geo') continue
      const reach = geoReach(c, ctx.areas)
      if (reach !== null) reaches.push({ target: new GeoTarget(reach.center), limitKm: reach.limitKm })
    }
    if (reaches.length === 0) return null
    return i => {
      const geo = ctx.regions[i].geo
      if (geo === null) return null
      for (const { target, limitKm } of reaches) {
        if (target.distanceKm(geo.centroid) - geo.radiusKm > limitKm) return 'geo'
      }
      return null
    }
  }
}
