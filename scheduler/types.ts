// The scheduler's types. scheduler/ is pure: it imports nothing from the other folders, does no I/O, reads no
// clock, and draws randomness only from the seed it is given. Callers adapt their own types to these.

/** A point on the earth. */
export interface GeoPoint { lat: number, lon: number }

/** A Vivaldi network coordinate (ms). Same shape as node/wire/schemas.ts Coordinate. */
export interface NetCoordinate { vec: number[], error: number, adjustment: number, height: number }

/** A named area from the configuration: a centre and a radius. */
export interface Area { name: string, center: GeoPoint, radiusKm: number }

export type Virtualization = 'container' | 'process'
export type RestartPolicy = 'always' | 'on-failure' | 'never'

export interface PortMapping {
  /** Port on the host; undefined lets the runtime choose. */
  host?: number
  container: number
  protocol: 'tcp' | 'udp'
}

/** Oakestra's placement constraints, as Grove understands them. */
export type Constraint =
  /** Only this region ("cluster" in Oakestra) and/or these node names. */
  | { type: 'direct', cluster?: string, nodes?: string[] }
  /** Within thresholdKm of a point, or of an area (its centre, with its radius added to the threshold). */
  | { type: 'geo', area?: string, location?: GeoPoint, thresholdKm: number, rigidness?: number }
  /** RTT to an area at most thresholdMs. */
  | { type: 'latency', area: string, thresholdMs: number, rigidness?: number, convergenceTime?: number }

/** A service's link to another service of its application, with an optional RTT bound between their instances. */
export interface Connectivity { target: string, latencyMs?: number }

/** One microservice of an SLA, validated and normalised. */
export interface ServiceSpec {
  /** microservice_name. */
  name: string
  /** microservice_namespace (defaults to the application's namespace). */
  namespace: string
  /** Oakestra's microserviceID when given; informational. */
  externalId?: string
  virtualization: Virtualization
  /** The image for containers (Oakestra's `code`), or undefined. */
  image?: string
  cmd: string[]
  /** "KEY=VALUE" entries. */
  environment: string[]
  /** MiB of memory to reserve (and limit, for containers). 0 means none asked. */
  memory: number
  /** CPU cores to reserve (and limit). 0 means none asked. */
  vcpus: number
  vgpus: number
  /** MiB of disk. */
  storage: number
  replicas: number
  restart: RestartPolicy
  oneShot: boolean
  /** Allowed architectures (Oakestra names: amd64, arm64, ...); empty means any. */
  arch: string[]
  ports: PortMapping[]
  addresses: { rrIp?: string, closestIp?: string }
  constraints: Constraint[]
  connectivity: Connectivity[]
}

export interface ApplicationSpec {
  name: string
  namespace: string
  description: string
  externalId?: string
  services: ServiceSpec[]
}

/** What the region selector knows of a region: its latest summary, reduced. */
export interface RegionCandidate {
  region: string
  leader: string
  nodes: number
  /** The largest free amount on any one node of the region. */
  maxFree: { cpu: number, memoryMiB: number, gpu: number, diskMiB: number }
  /** Sum of free amounts, for ranking. */
  totalFree: { cpu: number, memoryMiB: number }
  runtimes: string[]
  archs: string[]
  /** Where the region's located nodes are: centroid and radius. */
  geo: { centroid: GeoPoint, radiusKm: number } | null
  coordinate: NetCoordinate | null
  stale: boolean
}

/** What the node selector knows of a node. */
export interface NodeCandidate {
  peerId: string
  name: string
  region: string
  arch: string
  runtimes: string[]
  cpuCores: number
  /** Free now, before this decision. */
  cpuFree: number
  memFreeMiB: number
  diskFreeMiB: number
  gpus: number
  labels: Record<string, string>
  location: GeoPoint | null
  coordinate: NetCoordinate | null
  /**
   * Resources already promised to instances placed here that the node's measurements may not show yet (placed but
   * not yet running). The selector subtracts them.
   */
  reserved: { cpu: number, memoryMiB: number }
  /** Instances of the service being placed that this node already runs (for spreading). */
  sameService: number
}

/** An instance of a connected service, for S2S latency. */
export interface PeerInstance { service: string, peerId: string, coordinate: NetCoordinate | null, location: GeoPoint | null }

export type Policy = 'ROM' | 'LDP'

export interface SelectNodesInput {
  spec: ServiceSpec
  nodes: NodeCandidate[]
  /** How many instances to place now. */
  count: number
  policy: Policy
  seed: number
  areas: Record<string, Area>
  /** Instances of the services `spec` connects to (by service name). */
  connected: PeerInstance[]
  /** Peers that must not be chosen (dead, or the instance failed there repeatedly). */
  exclude?: string[]
}

/** Why a node or region was rejected: stable names, counted in every decision. */
export type RejectReason =
  | 'excluded' | 'runtime' | 'arch' | 'direct-cluster' | 'direct-node' | 'cpu' | 'memory' | 'gpu' | 'disk'
  | 'geo' | 'latency' | 'connectivity' | 'stale' | 'unknown-area'

export interface Decision {
  /** Chosen peer IDs, one per instance placed, in order. */
  chosen: string[]
  /** Instances that could not be placed. */
  unplaced: number
  /** Nodes rejected per reason (a node counts once, under its first failed check). */
  rejected: Partial<Record<RejectReason, number>>
  /** Per chosen node, the scores of each ranker and the total. */
  scores: Array<{ peerId: string, scores: Record<string, number>, total: number }>
}

export interface SelectRegionsInput {
  spec: ServiceSpec
  regions: RegionCandidate[]
  areas: Record<string, Area>
}

export interface RegionRanking {
  /** Feasible regions, best first. */
  ranked: Array<{ region: string, leader: string, score: number }>
  rejected: Array<{ region: string, reason: RejectReason }>
}
