// Region summaries and the region directory. Every peer keeps the latest summary of every region from the
// grove/1/regions topic (Oakestra's cluster → root aggregate, gossiped instead of pushed). A region's leader builds
// its region's summary from the membership, publishes it every summaryInterval and on change, and keeps the
// region's /grove/region/<name> record in the DHT fresh.
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import type { KadDHT } from '@libp2p/kad-dht'
import { fromString } from 'uint8arrays'
import { z } from 'zod'
import { REGIONS_TOPIC, regionDirectoryKey } from '../protocols.js'
import { regionSummarySchema, type RegionSummary } from '../wire/schemas.js'
import { decode, encode } from '../wire/codec.js'
import { Periodic, type Clock } from '../clock.js'
import type { Timings } from '../config.js'
import type { Membership } from '../membership/membership.js'
import type { Election } from '../election/election.js'
import { logger } from '../log.js'
import { summarize } from './aggregate.js'
import { openDirectory, signDirectory, DIRECTORY_MAX_PEERS, type DirectoryRecord } from '../../bootstrap/directory.js'

const log = logger('regions')
const MAX_SUMMARY_BYTES = 64 * 1024

export interface KnownRegion {
  summary: RegionSummary
  /** Monotonic ms when it arrived. */
  receivedAt: number
  stale: boolean
  ageMs: number
}

export interface RegionsInit {
  libp2p: Libp2p<{ pubsub: GossipSub, dht: KadDHT }>
  privateKey: PrivateKey
  clock: Clock
  timings: Timings
  region: string
  membership: Membership
  election: Election
}

/** The directory record is written again, unchanged, after this many refresh intervals (10 minutes on a lan). */
const DIRECTORY_REPUBLISH = 10

const extrasSchema = z.object({ summaries: z.array(z.object({ summary: regionSummarySchema, ageMs: z.number().nonnegative().finite() })).max(4096) })

export class Regions {
  private readonly known = new Map<string, { summary: RegionSummary, receivedAt: number }>()
  private readonly publisher: Periodic
  private readonly directory: Periodic
  private started = false
  private unsubscribe: Array<() => void> = []
  private readonly messageHandler = (evt: CustomEvent<Message>): void => { this.onMessage(evt.detail) }

  constructor (private readonly init: RegionsInit) {
    // Checked often, sent only on a change that matters or once per summaryInterval (see gist()).
    this.publisher = new Periodic({ name: 'summary', intervalMs: Math.min(init.timings.summaryInterval, 5000), jitter: 0.1 }, async () => { await this.publishSummary() })
    this.directory = new Periodic({ name: 'directory', intervalMs: init.timings.directoryRefresh, jitter: 0.1, timeoutMs: 30_000 }, async (signal) => { await this.publishDirectory(signal) })
  }

  private get pubsub (): GossipSub { return this.init.libp2p.services.pubsub }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.pubsub.topicValidators.set(REGIONS_TOPIC, (_peer, msg) => this.validate(msg))
    this.pubsub.addEventListener('message', this.messageHandler)
    this.pubsub.subscribe(REGIONS_TOPIC)
    let wasLeader = false
    this.unsubscribe.push(this.init.election.onChange(s => {
      const leader = s.role === 'leader'
      if (leader && !wasLeader) {
        // A new leader tells the mesh at once, and claims the directory record.
        this.lastGist = ''
        this.lastDirectory = ''
        this.publisher.trigger()
        this.directory.trigger()
      }
      wasLeader = leader
    }))
    this.unsubscribe.push(this.init.membership.onEvent(e => {
      if (e.type !== 'update' && this.init.election.current.role === 'leader') this.publisher.trigger()
    }))
    this.publisher.start()
    this.directory.start()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.publisher.stop()
    this.directory.stop()
    for (const u of this.unsubscribe) u()
    this.unsubscribe = []
    this.pubsub.removeEventListener('message', this.messageHandler)
    this.pubsub.topicValidators.delete(REGIONS_TOPIC)
    try { this.pubsub.unsubscribe(REGIONS_TOPIC) } catch {}
  }

  /** Every region's latest summary, with its staleness. */
  list (): KnownRegion[] {
    const now = this.init.clock.now()
    return [...this.known.values()]
      .map(({ summary, receivedAt }) => ({ summary, receivedAt, ageMs: now - receivedAt, stale: now - receivedAt > this.init.timings.summaryStaleAfter }))
      .sort((a, b) => a.summary.region.localeCompare(b.summary.region))
  }

  get (region: string): KnownRegion | undefined {
    return this.list().find(r => r.summary.region === region)
  }

  /** Summaries to hand a peer that syncs with us, so it knows every region before the next summaries arrive. */
  syncExtras (): Record<string, unknown> {
    const now = this.init.clock.now()
    return { summaries: [...this.known.values()].map(k => ({ summary: k.summary, ageMs: Math.max(0, now - k.receivedAt) })) }
  }

  onSyncExtras (extras: Record<string, unknown>): void {
    const parsed = extrasSchema.safeParse(extras)
    if (!parsed.success) return
    for (const { summary, ageMs } of parsed.data.summaries) this.accept(summary, this.init.clock.now() - ageMs)
  }

  private validate (msg: Message): TopicValidatorResult {
    if (msg.type !== 'signed') return TopicValidatorResult.Reject
    try {
      const summary = decode(msg.data, regionSummarySchema, MAX_SUMMARY_BYTES)
      // Only a region's leader speaks for it, and gossipsub has already checked who signed the message.
      if (summary.leader !== msg.from.toString()) return TopicValidatorResult.Reject
      return TopicValidatorResult.Accept
    } catch (err) {
      log('rejected a summary from %p: %s', msg.from, (err as Error).message)
      return TopicValidatorResult.Reject
    }
  }

  private onMessage (msg: Message): void {
    if (msg.topic !== REGIONS_TOPIC || msg.type !== 'signed') return
    try {
      const summary = decode(msg.data, regionSummarySchema, MAX_SUMMARY_BYTES)
      if (summary.leader !== msg.from.toString()) return
      this.accept(summary, this.init.clock.now())
    } catch {}
  }

  /**
   * Keeps a summary unless we hold a fresh one from a higher term (a deposed leader's last words). For our own
   * region only the leader our election follows may speak. A stale summary gives way to any newer one, so a bogus
   * high term that stops arriving cannot shut the real leader out for good.
   */
  private accept (summary: RegionSummary, receivedAt: number): void {
    if (summary.region === this.init.region) {
      const { leader } = this.init.election.current
      if (leader !== null && summary.leader !== leader) return
    }
    const current = this.known.get(summary.region)
    if (current !== undefined) {
      const stale = this.init.clock.now() - current.receivedAt > this.init.timings.summaryStaleAfter
      if (!stale && summary.term < current.summary.term) return
      if (summary.term === current.summary.term && receivedAt < current.receivedAt) return
    }
    this.known.set(summary.region, { summary, receivedAt })
  }

  /** The summary of our own region as the leader sees it now. */
  buildSummary (): RegionSummary {
    const { membership, election } = this.init
    const members = [membership.localStatus, ...[...membership.members.values()]
      .filter(m => m.clock.state === 'alive')
      .map(m => m.status)]
    return summarize({ region: this.init.region, leader: membership.self, term: election.current.term, at: this.init.clock.wall(), members })
  }

  /**
   * What a summary says that matters to the region selector, coarsely: a summary that says the same is not sent again
   * before summaryInterval has passed (a summary is about 1.2 KB on the wire and goes to every peer of the mesh).
   */
  private static gist (s: RegionSummary): string {
    const GiB = 1024 ** 3
    return JSON.stringify([
      s.leader, s.term, s.nodes, s.runtimes, Object.entries(s.archs).map(([a, x]) => [a, x.nodes]),
      Math.round(s.resources.cpu.sum * 2), Math.round(s.resources.memory.sum / GiB), Math.round(s.resources.memory.maxFree / GiB),
      Math.round(s.resources.gpu.sum), s.largest?.cpuCores,
      s.geo === null ? null : [s.geo.centroid.lat.toFixed(2), s.geo.centroid.lon.toFixed(2), Math.round(s.geo.radiusKm)]
    ])
  }

  private lastGist = ''
  private lastPublished = -Infinity

  private async publishSummary (): Promise<void> {
    if (this.init.election.current.role !== 'leader') return
    const summary = this.buildSummary()
    const gist = Regions.gist(summary)
    const now = this.init.clock.now()
    if (gist === this.lastGist && now - this.lastPublished < this.init.timings.summaryInterval) return
    this.lastGist = gist
    this.lastPublished = now
    this.accept(summary, now)
    try {
      await this.pubsub.publish(REGIONS_TOPIC, encode(summary))
    } catch (err) {
      log('summary publish failed: %s', (err as Error).message)
    }
  }

  private lastDirectory = ''
  private lastDirectoryAt = -Infinity

  /**
   * Checked every directoryRefresh, written when what it says changed (leader, term, peers, addresses) or every
   * DIRECTORY_REPUBLISH refreshes: a write goes to the K closest peers, which on a lan leader was a fifth of its idle
   * traffic when it went out every minute. A new leader always writes (the trigger in start() clears lastDirectory).
   */
  private async publishDirectory (signal: AbortSignal): Promise<void> {
    const { membership, election, libp2p } = this.init
    if (election.current.role !== 'leader') return
    const peers = [{ id: membership.self, addrs: libp2p.getMultiaddrs().map(a => a.decapsulate('/p2p').toString()).slice(0, 16) }]
    for (const m of membership.members.values()) {
      if (peers.length >= DIRECTORY_MAX_PEERS) break
      if (m.clock.state === 'alive') peers.push({ id: m.peerId, addrs: m.status.addrs.slice(0, 16) })
    }
    const gist = JSON.stringify([election.current.term, peers])
    const now = this.init.clock.now()
    if (gist === this.lastDirectory && now - this.lastDirectoryAt < this.init.timings.directoryRefresh * DIRECTORY_REPUBLISH) return
    const value = await signDirectory({ v: 1, region: this.init.region, leader: membership.self, term: election.current.term, at: this.init.clock.wall(), peers }, this.init.privateKey)
    let errors = 0
    let responses = 0
    for await (const ev of libp2p.services.dht.put(fromString(regionDirectoryKey(this.init.region)), value, { signal })) {
      if (ev.name === 'QUERY_ERROR') errors++
      if (ev.name === 'PEER_RESPONSE') responses++
    }
    log('directory record for %s written (%d responses, %d errors)', this.init.region, responses, errors)
    // A write nobody took is tried again at the next refresh.
    if (responses > 0) {
      this.lastDirectory = gist
      this.lastDirectoryAt = now
    }
  }

  /** Looks a region up in the DHT directory. */
  async lookup (region: string, signal: AbortSignal): Promise<DirectoryRecord | undefined> {
    const key = fromString(regionDirectoryKey(region))
    for await (const ev of this.init.libp2p.services.dht.get(key, { signal })) {
      if (ev.name === 'VALUE') {
        try {
          return await openDirectory(ev.value)
        } catch (err) {
          log('ignored a bad directory record for %s: %s', region, (err as Error).message)
        }
      }
    }
    return undefined
  }
}
