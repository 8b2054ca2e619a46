// Adapters from what a peer knows (membership statuses, region summaries, placements) to the scheduler's inputs.
import type { NodeCandidate, RegionCandidate, ServiceSpec } from '../../scheduler/index.js'
import type { NodeStatus, RegionSummary } from '../wire/schemas.js'
import type { PlacementRecord, ServiceRecord } from './records.js'

const MiB = 1024 * 1024

export function regionCandidate (summary: RegionSummary, stale: boolean): RegionCandidate {
  return {
    region: summary.region,
    leader: summary.leader,
    nodes: summary.nodes,
    maxFree: {
      cpu: summary.resources.cpu.maxFree,
      memoryMiB: summary.resources.memory.maxFree / MiB,
      gpu: summary.resources.gpu.maxFree,
      diskMiB: summary.resources.disk.maxFree / MiB
    },
    totalFree: { cpu: summary.resources.cpu.sum, memoryMiB: summary.resources.memory.sum / MiB },
    runtimes: summary.runtimes,
    archs: Object.keys(summary.archs),
    geo: summary.geo === null ? null : { centroid: summary.geo.centroid, radiusKm: summary.geo.radiusKm },
    coordinate: summary.coordinate,
    stale
  }
}

/**
 * A node as the scheduler sees it. Free amounts are the smaller of what the node measures and what its capacity
 * leaves after the reservations of every instance placed on it: a container limited to 512 MiB may use 5 MiB now,
 * but it was promised 512.
 */
export function nodeCandidate (status: NodeStatus, placements: PlacementRecord[], services: Map<string, ServiceRecord>, svc: string): NodeCandidate {
  const r = status.resources
  let cpuReserved = 0
  let memReserved = 0
  let same = 0
  for (const p of placements) {
    if (p.peerId !== status.peerId) continue
    const spec = services.get(p.svc)?.spec
    if (spec !== undefined) {
      cpuReserved += spec.vcpus
      memReserved += spec.memory
    }
    if (p.svc === svc) same++
  }
  return {
    peerId: status.peerId,
    name: status.name,
    region: status.region,
    arch: r.arch,
    runtimes: r.runtimes,
    cpuCores: r.cpuCores,
    cpuFree: Math.max(0, Math.min(r.cpuCores * (1 - r.cpuUsage), r.cpuCores - cpuReserved)),
    memFreeMiB: Math.max(0, Math.min(r.memFree / MiB, r.memTotal / MiB - memReserved)),
    diskFreeMiB: r.diskFree / MiB,
    gpus: r.gpus.length,
    labels: status.labels,
    location: status.location,
    coordinate: status.coordinate,
    reserved: { cpu: 0, memoryMiB: 0 },
    sameService: same
  }
}

/** The runtime a service needs on a node. */
export function runtimeFor (spec: ServiceSpec): 'docker' | 'process' {
  return spec.virtualization === 'container' ? 'docker' : 'process'
}
