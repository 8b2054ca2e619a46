// Every protocol ID and topic name Grove uses, in one place. Bump the version segment on an incompatible change.

export const PROTOCOL_VERSION = 1

export const DHT_PROTOCOL = '/grove/kad/1.0.0'
export const VOTE_PROTOCOL = '/grove/vote/1.0.0'
export const PROBE_PROTOCOL = '/grove/probe/1.0.0'
export const SYNC_PROTOCOL = '/grove/sync/1.0.0'
export const STATE_SYNC_PROTOCOL = '/grove/state/1.0.0'
export const SCHEDULE_PROTOCOL = '/grove/schedule/1.0.0'
export const LOGS_PROTOCOL = '/grove/logs/1.0.0'
export const OVERLAY_TCP_PROTOCOL = '/grove/overlay/tcp/1.0.0'
export const OVERLAY_UDP_PROTOCOL = '/grove/overlay/udp/1.0.0'

/** NodeStatus heartbeats of one region. */
export function regionTopic (region: string): string {
  return `grove/1/region/${region}/status`
}

/** Parses a region status topic back into its region name, or undefined. */
export function regionOfTopic (topic: string): string | undefined {
  const m = /^grove\/1\/region\/(.+)\/status$/.exec(topic)
  return m?.[1]
}

/** RegionSummaries from every region's leader. */
export const REGIONS_TOPIC = 'grove/1/regions'

/** Changes to the desired and placement state of the whole mesh. */
export const STATE_TOPIC = 'grove/1/state'

/** The DHT key of a region's directory record. */
export function regionDirectoryKey (region: string): string {
  return `/grove/region/${region}`
}
