// Prometheus metrics, computed from the live services at scrape time: nothing is counted twice.
//
// prom-client (with the OpenTelemetry API it brings, ~80 modules) is loaded on the first scrape, not at start: most
// daemons are never scraped, and each module loaded is resident memory for the life of the process.
import type { Gauge, Registry } from 'prom-client'
import type { Peer } from './peer.js'

export class Metrics {
  private registry: Promise<Registry> | undefined

  constructor (private readonly peer: Peer) {}

  /** The metrics in Prometheus' text format. */
  async text (): Promise<{ text: string, contentType: string }> {
    this.registry ??= build(this.peer)
    const r = await this.registry
    return { text: await r.metrics(), contentType: r.contentType }
  }
}

async function build (peer: Peer): Promise<Registry> {
  const { Registry, Gauge } = await import('prom-client')
  const r = new Registry()
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => void): void => {
    new Gauge({ name, help, labelNames, registers: [r], collect () { this.reset(); collect(this) } })
  }
  gauge('grove_members', 'Peers of this region by failure-detector state, this peer included', ['state'], g => {
    const counts: Record<string, number> = { alive: 1, suspect: 0, dead: 0 }
    for (const m of peer.membership.members.values()) counts[m.clock.state]++
    for (const [state, n] of Object.entries(counts)) g.set({ state }, n)
  })
  gauge('grove_role', 'Election role of this peer (1 for the current role)', ['role'], g => {
    for (const role of ['leader', 'follower', 'candidate']) g.set({ role }, peer.election.current.role === role ? 1 : 0)
  })
  gauge('grove_term', 'Highest election term this peer has seen', [], g => { g.set(peer.election.current.term) })
  gauge('grove_elections_won_total', 'Elections this peer won since it started', [], g => { g.set(peer.election.wins) })
  gauge('grove_awareness', 'Local-health score: failure timeouts are stretched by (score + 1)', [], g => { g.set(peer.membership.localAwareness) })
  gauge('grove_regions_known', 'Regions with a summary, by staleness', ['stale'], g => {
    const list = peer.regions.list()
    g.set({ stale: 'false' }, list.filter(x => !x.stale).length)
    g.set({ stale: 'true' }, list.filter(x => x.stale).length)
  })
  gauge('grove_connections', 'Open libp2p connections', [], g => { g.set(peer.libp2p.getConnections().length) })
  gauge('grove_peers_connected', 'Distinct peers with an open connection', [], g => { g.set(peer.libp2p.getPeers().length) })
  gauge('grove_process_resident_memory_bytes', 'Resident set size of the daemon', [], g => { g.set(process.memoryUsage.rss()) })
  gauge('grove_process_cpu_seconds_total', 'CPU time used by the daemon', [], g => {
    const u = process.cpuUsage()
    g.set((u.user + u.system) / 1e6)
  })
  gauge('grove_overlay_flows_total', 'Overlay flows since start, by hosting peer and path (local, direct, relay)', ['peer', 'path'], g => {
    for (const [p, counts] of Object.entries(peer.overlay?.pathCounts() ?? {})) {
      for (const [path, n] of Object.entries(counts)) g.set({ peer: p, path }, n as number)
    }
  })
  gauge('grove_overlay_flows_open', 'Overlay flows open now', [], g => { g.set(peer.overlay?.flows().length ?? 0) })
  gauge('grove_uptime_seconds', 'Seconds since the daemon started', [], g => { g.set((Date.now() - peer.startedAt) / 1000) })
  return r
}
