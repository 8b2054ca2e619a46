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
      // CPU is placed by reservations against capacity (see nodeCandidate), so the region's largest node's cores
      // are what can fit; its measured free CPU swings too much to turn a region away.
      cpu: summary.largest?.cpuCores ?? summary.resources.cpu.maxFree,
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
 * A node as the scheduler sees it. Free memory is the smaller of what the node measures and what its capacity leaves
 * after the reservations of every instance placed on it: a container limited to 512 MiB may use 5 MiB now, but it
 * was promised 512. Free CPU is capacity minus reservations only: measured CPU use swings with every burst (and on
 * a shared test host with everything else that runs), so it would turn feasible placements away at random.
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
    cpuFree: Math.max(0, r.cpuCores - cpuReserved),
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
