// The replicated state: a key-value map with tombstones, last writer wins per key under a hybrid logical clock
// (merge.ts), persisted in the store under `state/`, broadcast on grove/1/state and repaired by a digest exchange
// over /grove/state/1.0.0 (schema.ts draws it).
//
//   put/del ──▶ version (HLC, above the key's current one) ──▶ persist ──▶ memory + onChange ──▶ batch (5 ms) ──▶ gossip
//   gossip  ──▶ validator (schema, limits, author, validate hook) ──▶ merge by `wins` ──▶ persist winners ──▶ onChange
//   sync    ──▶ digest equal? done : version list ──▶ pull what is newer there, push what is newer here
//
// Every change to the map, local or remote, goes through one queue: a version is issued, persisted and applied in
// the order of the queue, so the store never holds an older entry than memory and two writes to a key can never
// land out of order.
//
// Tombstones are forgotten `tombstoneTtlMs` after the delete (by the delete's own wall time, so all peers forget at
// about the same time). The forgotten key's version is then remembered, persisted under `state-purged/`, for one
// more TTL: an older write that arrives in that time (from a peer that was away, or from a peer that has not purged
// yet) still loses. A peer that was cut off for longer than two TTLs can bring a deleted key back with an older
// value; the TTL must therefore be much longer than any partition the mesh should survive (the daemon uses days).
import type { Libp2p, PeerId, IdentifyResult } from '@libp2p/interface'
import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import type { z } from 'zod'
import { STATE_SYNC_PROTOCOL, STATE_TOPIC } from '../protocols.js'
import { decode, encode, WireError } from '../wire/codec.js'
import { handle, request } from '../wire/rpc.js'
import { deadline, Periodic, type Clock } from '../clock.js'
import type { Store, StoreOp } from '../store.js'
import { logger } from '../log.js'
import { HybridClock, successor, DEFAULT_MAX_DRIFT_MS } from './hlc.js'
import { compareVersions, diff, digestOf, tombstoneExpired, wins, type Entry, type Version } from './merge.js'
import {
  batchSchema, checkKey, checkValue, digestResponseSchema, entrySchema, fromTuple, MAX_ENTRIES_PER_MESSAGE,
  MAX_GOSSIP_BYTES, MAX_SYNC_BYTES, pullResponseSchema, pushResponseSchema, syncRequestSchema, toTuple,
  versionsResponseSchema, type Batch, type SyncRequest, type VersionPage, type VersionTuple
} from './schema.js'
import { InvalidEntryError, StaleWriteError, StateError } from './errors.js'

const log = logger('state')

/** Store prefix of the entries. */
export const ENTRY_PREFIX = 'state/'
/** Store prefix of the versions of purged tombstones. */
export const PURGED_PREFIX = 'state-purged/'

/** Our own batches stay well below MAX_GOSSIP_BYTES: the gossipsub frame adds the signature, key and seqno. */
const GOSSIP_BATCH_BYTES = 192 * 1024
/** Sync messages are filled up to this, leaving room for the envelope under MAX_SYNC_BYTES. */
const SYNC_FILL_BYTES = MAX_SYNC_BYTES - 16 * 1024

export type ChangeListener = (key: string, value: unknown | undefined, entry: Entry) => void

export interface ReplicatedStateInit {
  libp2p: Libp2p<{ pubsub: GossipSub }>
  store: Store
  clock: Clock
  /** Mean time between two anti-entropy exchanges with a random peer (±20 % jitter). */
  syncIntervalMs: number
  /** How long a tombstone is kept, and then how long its version is still remembered. */
  tombstoneTtlMs: number
  /** Checks a live value before it is written or merged; an error message rejects the entry. Tombstones skip it. */
  validate?: (key: string, value: unknown) => string | undefined
  /** How long local writes are gathered into one gossip message. @default 5 */
  batchMs?: number
  /** @default DEFAULT_MAX_DRIFT_MS (hlc.ts) */
  maxDriftMs?: number
  /** Deadline of one sync request. @default 10000 */
  requestTimeoutMs?: number
  /** Deadline of one whole sync exchange, all its requests together. @default 60000 */
  exchangeTimeoutMs?: number
  /** How often expired tombstones are purged. @default tombstoneTtlMs / 4, within 1 s .. 10 min */
  purgeIntervalMs?: number
}

export interface SyncResult {
  /** Entries pulled from the peer that took effect here. */
  pulled: number
  /** Entries pushed to the peer that took effect there (as it reports). */
  pushed: number
}

export interface StateStats {
  /** Remote entries that took effect, by how they came. */
  gossipApplied: number
  pulled: number
  pushReceived: number
  /** Our entries that took effect on a peer through sync. */
  pushed: number
  /** Gossip batches and sync entries refused by validation. */
  rejected: number
  syncs: number
  syncFailures: number
}

export class ReplicatedState {
  readonly self: string
  private readonly map = new Map<string, Entry>()
  /** Versions of purged tombstones, remembered for one more TTL so older writes still lose. */
  private readonly purged = new Map<string, Entry>()
  private readonly hlc: HybridClock
  private readonly listeners = new Set<ChangeListener>()
  private readonly syncer: Periodic
  private readonly purger: Periodic
  private readonly syncing = new Map<string, Promise<SyncResult>>()
  private readonly counters: StateStats = { gossipApplied: 0, pulled: 0, pushReceived: 0, pushed: 0, rejected: 0, syncs: 0, syncFailures: 0 }
  private pending = new Map<string, Entry>()
  private flushTimer: ReturnType<typeof setTimeout> | undefined
  private flushing: Promise<void> = Promise.resolve()
  private queue: Promise<unknown> = Promise.resolve()
  private cachedDigest: string | undefined
  private cachedKeys: string[] | undefined
  private controller = new AbortController()
  private started = false
  private subscribed = false
  private handling = false
  private readonly validator = (_peer: PeerId, msg: Message): TopicValidatorResult => this.validateGossip(msg)
  private readonly messageHandler = (evt: CustomEvent<Message>): void => { this.onMessage(evt.detail) }
  private readonly identifyHandler = (evt: CustomEvent<IdentifyResult>): void => { this.onIdentify(evt.detail) }

  constructor (private readonly init: ReplicatedStateInit) {
    this.self = init.libp2p.peerId.toString()
    this.hlc = new HybridClock(this.self, () => init.clock.wall(), { maxDriftMs: init.maxDriftMs ?? DEFAULT_MAX_DRIFT_MS })
    this.syncer = new Periodic(
      { name: 'state-sync', intervalMs: init.syncIntervalMs, jitter: 0.2, immediate: true, timeoutMs: Math.max(30_000, init.syncIntervalMs) },
      async (signal) => { await this.syncRandom(signal) }
    )
    const purgeMs = init.purgeIntervalMs ?? Math.min(600_000, Math.max(1_000, init.tombstoneTtlMs / 4))
    this.purger = new Periodic({ name: 'state-purge', intervalMs: purgeMs, jitter: 0.1 }, async () => { await this.purge() })
  }

  private get pubsub (): GossipSub { return this.init.libp2p.services.pubsub }

  /** Counters for metrics and tests. */
  get stats (): Readonly<StateStats> { return { ...this.counters } }

  // ----- lifecycle ----------------------------------------------------------------------------------------------

  /** Loads the persisted entries, then joins the topic and the sync protocol. A failed start undoes itself. */
  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.controller = new AbortController()
    const { libp2p } = this.init
    try {
      await this.load()
      await handle(libp2p, STATE_SYNC_PROTOCOL, syncRequestSchema, async (req, connection) => await this.answer(req, connection.remotePeer.toString()), {
        maxBytes: MAX_SYNC_BYTES, timeoutMs: this.init.requestTimeoutMs ?? 10_000
      })
      this.handling = true
      this.pubsub.topicValidators.set(STATE_TOPIC, this.validator)
      this.pubsub.addEventListener('message', this.messageHandler)
      libp2p.addEventListener('peer:identify', this.identifyHandler)
      this.pubsub.subscribe(STATE_TOPIC)
      this.subscribed = true
      // Runs at once: peers that are already connected (a restart of this service alone) are synced with now, and
      // peers that connect later are synced with when identify tells us they speak the protocol.
      this.syncer.start()
      this.purger.start()
      log('started with %d entries (%d purged tombstones remembered)', this.map.size, this.purged.size)
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  /** Sends what is still batched, then leaves the topic and the protocol. Idempotent. */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.syncer.stop()
    this.purger.stop()
    this.controller.abort(new StateError('the replicated state stopped'))
    // Writes already queued finish (and are persisted) before the last batch goes out.
    await this.queue.catch(() => {})
    await this.flush()
    const { libp2p } = this.init
    this.pubsub.removeEventListener('message', this.messageHandler)
    libp2p.removeEventListener('peer:identify', this.identifyHandler)
    if (this.pubsub.topicValidators.get(STATE_TOPIC) === this.validator) this.pubsub.topicValidators.delete(STATE_TOPIC)
    if (this.subscribed) {
      try { this.pubsub.unsubscribe(STATE_TOPIC) } catch {}
      this.subscribed = false
    }
    if (this.handling) {
      await libp2p.unhandle(STATE_SYNC_PROTOCOL).catch(() => {})
      this.handling = false
    }
    await Promise.allSettled([...this.syncing.values()])
    await this.queue.catch(() => {})
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    // Anything merged or written since is persisted; sync spreads it after the next start.
    this.pending.clear()
  }

  private async load (): Promise<void> {
    this.map.clear()
    this.purged.clear()
    this.dirty()
    for (const [prefix, target] of [[ENTRY_PREFIX, this.map], [PURGED_PREFIX, this.purged]] as const) {
      for await (const [storeKey, raw] of this.init.store.entries<unknown>(prefix)) {
        const parsed = entrySchema.safeParse(raw)
        const key = storeKey.slice(prefix.length)
        if (!parsed.success || parsed.data.key !== key) {
          log.error('ignoring a corrupt record %s in the store', storeKey)
          continue
        }
        target.set(key, freeze(parsed.data))
        // Our clock must issue versions above everything we hold, even if the wall clock went back while we were down.
        this.hlc.observe(parsed.data.version)
      }
    }
  }

  // ----- reading ------------------------------------------------------------------------------------------------

  /** The live value of `key`, or undefined when it was never written or is deleted. Values are frozen. */
  get<T> (key: string): T | undefined {
    const e = this.map.get(key)
    return e === undefined || e.value === null ? undefined : e.value as T
  }

  /** The entry of `key`, tombstones included. */
  entry (key: string): Entry | undefined {
    return this.map.get(key)
  }

  /** Live values whose key starts with `prefix`, sorted by key. */
  entries<T> (prefix: string): Array<[string, T]> {
    const out: Array<[string, T]> = []
    const keys = this.sortedKeys()
    for (let i = lowerBound(keys, prefix, false); i < keys.length && keys[i].startsWith(prefix); i++) {
      const key = keys[i]
      const e = this.map.get(key)
      if (e !== undefined && e.value !== null) out.push([key, e.value as T])
    }
    return out
  }

  /** The root hash of every key's version (merge.ts `digestOf`). */
  digest (): string {
    this.cachedDigest ??= digestOf(this.map.values())
    return this.cachedDigest
  }

  /** Calls `listener` for every local or remote change that took effect; value is undefined for a delete. */
  onChange (listener: ChangeListener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  // ----- writing ------------------------------------------------------------------------------------------------

  /**
   * Writes `value` under a new version, persists it, then broadcasts it. A fenced key (`term`) cannot be written
   * with a lower term than it holds: that throws StaleWriteError.
   */
  async put (key: string, value: unknown, opts: { term?: number } = {}): Promise<Entry> {
    this.assertWritable(key, opts.term)
    if (value === undefined || value === null) throw new InvalidEntryError(`state ${key}: the value must not be ${String(value)}; use del() to delete`)
    const problem = checkValue(value)
    if (problem !== undefined) throw new InvalidEntryError(`state ${key}: ${problem}`)
    const clean = JSON.parse(JSON.stringify(value)) as unknown
    const refused = this.runValidate(key, clean)
    if (refused !== undefined) throw new InvalidEntryError(`state ${key}: ${refused}`)
    return await this.writeLocal(key, freezeValue(clean), opts.term)
  }

  /** Deletes `key` with a tombstone. Deleting a key that is already deleted (at the same or a higher term) does nothing. */
  async del (key: string, opts: { term?: number } = {}): Promise<void> {
    this.assertWritable(key, opts.term)
    await this.writeLocal(key, null, opts.term)
  }

  private assertWritable (key: string, term: number | undefined): void {
    if (!this.started) throw new StateError(`cannot write ${key}: the replicated state is not started`)
    const problem = checkKey(key)
    if (problem !== undefined) throw new InvalidEntryError(`state key ${JSON.stringify(String(key).slice(0, 64))}: ${problem}`)
    if (term !== undefined && (!Number.isSafeInteger(term) || term < 0)) throw new InvalidEntryError(`state ${key}: term must be a non-negative integer (got ${term})`)
  }

  private async writeLocal (key: string, value: unknown, term: number | undefined): Promise<Entry> {
    return await this.enqueue(async () => {
      const local = this.map.get(key) ?? this.purged.get(key)
      if (value === null && local !== undefined && local.value === null && (term ?? -1) <= (local.term ?? -1)) return local
      let candidate: Entry = { key, value, version: this.hlc.now(), ...(term === undefined ? {} : { term }) }
      if (local !== undefined && compareVersions(candidate, local) <= 0) {
        if ((term ?? -1) < (local.term ?? -1)) {
          throw new StaleWriteError(`state ${key} is fenced at term ${local.term}; a write ${term === undefined ? 'without a term' : `at term ${term}`} cannot replace it`)
        }
        // Same term, but the key's version is ahead of our clock (a peer whose clock runs fast, see hlc.ts): write
        // just above it, so a write made after seeing an entry always replaces it.
        candidate = { ...candidate, version: successor(local.version, this.self) }
      }
      const entry = freeze(candidate)
      await this.persist([entry])
      this.applyInMemory([entry])
      this.pending.set(key, entry)
      this.scheduleFlush()
      return entry
    })
  }

  private enqueue<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => {})
    return run
  }

  /** Writes the entries and forgets the purged versions they replace, in one batch. */
  private async persist (entries: Entry[]): Promise<void> {
    const ops: StoreOp[] = []
    for (const e of entries) {
      ops.push({ type: 'put', key: ENTRY_PREFIX + e.key, value: e })
      if (this.purged.has(e.key)) ops.push({ type: 'del', key: PURGED_PREFIX + e.key })
    }
    await this.init.store.batch(ops)
  }

  private applyInMemory (entries: Entry[]): void {
    for (const e of entries) {
      this.map.set(e.key, e)
      this.purged.delete(e.key)
    }
    this.dirty()
    for (const e of entries) this.emit(e)
  }

  /**
   * Merges entries from a peer: those that win are persisted, applied and announced. Resolves with the winners.
   * The entries must already be validated.
   */
  private async merge (entries: Entry[]): Promise<Entry[]> {
    if (entries.length === 0) return []
    return await this.enqueue(async () => {
      const winners = new Map<string, Entry>()
      for (const e of entries) {
        this.hlc.observe(e.version)
        const local = winners.get(e.key) ?? this.map.get(e.key) ?? this.purged.get(e.key)
        if (wins(e, local)) winners.set(e.key, freeze(e))
      }
      if (winners.size === 0) return []
      const list = [...winners.values()]
      await this.persist(list)
      this.applyInMemory(list)
      return list
    })
  }

  private emit (e: Entry): void {
    for (const l of this.listeners) {
      try {
        l(e.key, e.value === null ? undefined : e.value, e)
      } catch (err) {
        log.error('change listener failed on %s: %s', e.key, (err as Error).message)
      }
    }
  }

  private dirty (): void {
    this.cachedDigest = undefined
    this.cachedKeys = undefined
  }

  private sortedKeys (): string[] {
    this.cachedKeys ??= [...this.map.keys()].sort()
    return this.cachedKeys
  }

  private runValidate (key: string, value: unknown): string | undefined {
    if (value === null || this.init.validate === undefined) return undefined
    try {
      return this.init.validate(key, value)
    } catch (err) {
      return `validation failed: ${(err as Error).message}`
    }
  }

  /** Keeps the entries that pass the validate hook, counting the others. */
  private acceptable (entries: Entry[], from: string): Entry[] {
    return entries.filter(e => {
      const refused = this.runValidate(e.key, e.value)
      if (refused === undefined) return true
      this.counters.rejected++
      log('refused %s from %s: %s', e.key, from, refused)
      return false
    })
  }

  // ----- tombstones ---------------------------------------------------------------------------------------------

  /**
   * Forgets tombstones older than the TTL (remembering their versions) and versions remembered for longer than
   * another TTL. Returns how many tombstones were purged. Runs periodically; public for tests and tools.
   */
  async purge (): Promise<number> {
    return await this.enqueue(async () => {
      const wall = this.init.clock.wall()
      const ttl = this.init.tombstoneTtlMs
      const expired = [...this.map.values()].filter(e => tombstoneExpired(e, wall, ttl))
      const forgotten = [...this.purged.values()].filter(e => tombstoneExpired(e, wall, 2 * ttl))
      if (expired.length === 0 && forgotten.length === 0) return 0
      const ops: StoreOp[] = []
      for (const e of expired) ops.push({ type: 'del', key: ENTRY_PREFIX + e.key }, { type: 'put', key: PURGED_PREFIX + e.key, value: e })
      for (const e of forgotten) ops.push({ type: 'del', key: PURGED_PREFIX + e.key })
      await this.init.store.batch(ops)
      for (const e of forgotten) this.purged.delete(e.key)
      for (const e of expired) {
        this.map.delete(e.key)
        this.purged.set(e.key, e)
      }
      this.dirty()
      if (expired.length > 0) log('purged %d tombstones', expired.length)
      return expired.length
    })
  }

  // ----- gossip -------------------------------------------------------------------------------------------------

  private scheduleFlush (): void {
    if (this.flushTimer !== undefined) return
    this.flushTimer = setTimeout(() => { void this.flush() }, this.init.batchMs ?? 5)
    this.flushTimer.unref()
  }

  /** Publishes the batched local writes, split so that no message nears the gossip limit. */
  private async flush (): Promise<void> {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    const entries = [...this.pending.values()]
    this.pending = new Map()
    const previous = this.flushing
    this.flushing = (async () => {
      await previous
      for (const chunk of chunks(entries, GOSSIP_BATCH_BYTES, MAX_ENTRIES_PER_MESSAGE)) {
        const batch: Batch = { v: 1, entries: chunk }
        try {
          await this.pubsub.publish(STATE_TOPIC, encode(batch))
        } catch (err) {
          // Sync repairs what gossip loses.
          log('publishing %d entries failed: %s', chunk.length, (err as Error).message)
        }
      }
    })()
    await this.flushing
  }

  private parseBatch (msg: Message): Batch {
    return decode(msg.data, batchSchema, MAX_GOSSIP_BYTES)
  }

  /**
   * Gossip carries only the author's own writes (merged entries are never re-broadcast; sync spreads those), so
   * every entry in a batch must carry the signer's peer ID: nobody can forge another peer's writes over gossip.
   */
  private validateGossip (msg: Message): TopicValidatorResult {
    try {
      if (msg.type !== 'signed') return TopicValidatorResult.Reject
      const batch = this.parseBatch(msg)
      const author = msg.from.toString()
      for (const e of batch.entries) {
        if (e.version.peer !== author) {
          log('rejected a state batch from %s: %s carries the version of %s', author, e.key, e.version.peer)
          this.counters.rejected++
          return TopicValidatorResult.Reject
        }
        const refused = this.runValidate(e.key, e.value)
        if (refused !== undefined) {
          log('rejected a state batch from %s: %s: %s', author, e.key, refused)
          this.counters.rejected++
          return TopicValidatorResult.Reject
        }
      }
      if (author === this.self) return TopicValidatorResult.Ignore
      return TopicValidatorResult.Accept
    } catch (err) {
      log('rejected a state batch: %s', (err as Error).message)
      this.counters.rejected++
      return TopicValidatorResult.Reject
    }
  }

  private onMessage (msg: Message): void {
    if (msg.topic !== STATE_TOPIC || msg.type !== 'signed') return
    // The validator accepted this message, but it is checked again: a message event carries no verdict.
    if (this.validateGossip(msg) !== TopicValidatorResult.Accept) return
    const author = msg.from.toString()
    const entries = this.parseBatch(msg).entries
    this.merge(entries).then(
      (applied) => { this.counters.gossipApplied += applied.length },
      (err: Error) => { log.error('merging a batch from %s failed: %s', author, err.message) }
    )
  }

  // ----- sync ---------------------------------------------------------------------------------------------------

  private onIdentify (result: IdentifyResult): void {
    if (!this.started || !result.protocols.includes(STATE_SYNC_PROTOCOL)) return
    this.syncWith(result.peerId.toString()).catch((err: Error) => { log('sync with %s after connecting failed: %s', result.peerId, err.message) })
  }

  /** Connected peers that said (through identify) they speak the sync protocol. */
  private async syncPeers (): Promise<string[]> {
    const out: string[] = []
    for (const peer of this.init.libp2p.getPeers()) {
      try {
        const p = await this.init.libp2p.peerStore.get(peer)
        if (p.protocols.includes(STATE_SYNC_PROTOCOL)) out.push(peer.toString())
      } catch {}
    }
    return out
  }

  private async syncRandom (signal: AbortSignal): Promise<void> {
    const peers = await this.syncPeers()
    if (peers.length === 0) return
    const peer = peers[Math.floor(Math.random() * peers.length)]
    const result = await this.syncWith(peer, signal)
    if (result.pulled + result.pushed > 0) log('sync with %s: pulled %d, pushed %d', peer, result.pulled, result.pushed)
  }

  /**
   * One anti-entropy exchange with `peer`: compares digests, pulls what it holds newer, pushes what we hold newer.
   * Concurrent calls for one peer share one exchange.
   */
  async syncWith (peer: string | PeerId, signal?: AbortSignal): Promise<SyncResult> {
    const id = peer.toString()
    if (!this.started) throw new StateError('cannot sync: the replicated state is not started')
    const running = this.syncing.get(id)
    if (running !== undefined) return await running
    const linked = link(this.controller.signal, signal)
    // The whole exchange has a deadline too: a peer that pages its version list forever cannot hold us.
    const whole = deadline(this.init.exchangeTimeoutMs ?? 60_000, linked.signal)
    const p = this.exchange(id, whole.signal).then(
      (r) => { this.counters.syncs++; return r },
      (err: unknown) => { this.counters.syncFailures++; throw err }
    ).finally(() => {
      whole.clear()
      linked.clear()
      this.syncing.delete(id)
    })
    this.syncing.set(id, p)
    return await p
  }

  private async call<S extends z.ZodType> (peer: string, body: SyncRequest, schema: S, signal: AbortSignal): Promise<Exclude<z.infer<S>, { error: string }>> {
    const res = await request(this.init.libp2p, peerIdFromString(peer), STATE_SYNC_PROTOCOL, body, schema, {
      maxBytes: MAX_SYNC_BYTES, timeoutMs: this.init.requestTimeoutMs ?? 10_000, signal
    }) as unknown
    if (typeof res === 'object' && res !== null && 'error' in res) throw new WireError(`${peer} refused the ${body.t} request: ${String((res as { error: unknown }).error)}`)
    return res as Exclude<z.infer<S>, { error: string }>
  }

  private async exchange (peer: string, signal: AbortSignal): Promise<SyncResult> {
    const first = await this.call(peer, { v: 1, t: 'digest', digest: this.digest() }, digestResponseSchema, signal)
    if (first.same) return { pulled: 0, pushed: 0 }
    const remote = new Map<string, Version>()
    let page: VersionPage = first
    for (;;) {
      for (const t of page.versions) {
        const [key, v] = fromTuple(t)
        remote.set(key, v)
      }
      const after = page.next
      if (after === undefined) break
      page = await this.call(peer, { v: 1, t: 'versions', after }, versionsResponseSchema, signal)
      if (page.next !== undefined && page.next <= after) throw new WireError(`${peer} sent a version list that does not advance`)
    }

    // Pull: what the peer holds newer, or we lack. A purged tombstone's version counts as ours here, so the
    // tombstone (or anything older) is not fetched back from a peer that has not purged it yet.
    const mine = new Map<string, Version>(this.purged)
    for (const [k, e] of this.map) mine.set(k, e)
    let wanted = diff(mine, remote)
    let pulled = 0
    while (wanted.length > 0) {
      const keys = wanted.slice(0, MAX_ENTRIES_PER_MESSAGE)
      const res = await this.call(peer, { v: 1, t: 'pull', keys }, pullResponseSchema, signal)
      const asked = new Set(keys)
      const entries = this.acceptable(res.entries.filter(e => asked.has(e.key)), peer)
      const applied = await this.merge(entries)
      pulled += applied.length
      this.counters.pulled += applied.length
      const done = Math.min(res.done, keys.length)
      if (done === 0) throw new WireError(`${peer} answered a pull with no progress`)
      wanted = wanted.slice(done)
    }

    // Push: what we hold newer, or the peer lacks (tombstones included, purged ones not).
    const ours = [...this.map.values()]
    const newer = new Set(diff(remote, ours.map(e => [e.key, e] as [string, Version])))
    let pushed = 0
    for (const chunk of chunks(ours.filter(e => newer.has(e.key)), SYNC_FILL_BYTES, MAX_ENTRIES_PER_MESSAGE)) {
      const res = await this.call(peer, { v: 1, t: 'push', entries: chunk }, pushResponseSchema, signal)
      pushed += Math.min(res.accepted, chunk.length)
    }
    this.counters.pushed += pushed
    return { pulled, pushed }
  }

  private async answer (req: SyncRequest, from: string): Promise<unknown> {
    if (!this.started) return { error: 'the replicated state is stopping' }
    switch (req.t) {
      case 'digest':
        if (req.digest === this.digest()) return { v: 1, same: true }
        return { v: 1, same: false, ...this.versionPage(undefined) }
      case 'versions':
        return { v: 1, ...this.versionPage(req.after) }
      case 'pull': {
        const entries: Entry[] = []
        let bytes = 0
        let done = 0
        for (const key of req.keys) {
          const e = this.map.get(key)
          if (e !== undefined) {
            const size = encode(e).byteLength + 1
            if (entries.length > 0 && bytes + size > SYNC_FILL_BYTES) break
            entries.push(e)
            bytes += size
          }
          done++
        }
        return { v: 1, entries, done }
      }
      case 'push': {
        const applied = await this.merge(this.acceptable(req.entries, from))
        this.counters.pushReceived += applied.length
        return { v: 1, accepted: applied.length }
      }
    }
  }

  /** Versions of the keys after `after`, in key order, as many as fit in one sync message. */
  private versionPage (after: string | undefined): VersionPage {
    const keys = this.sortedKeys()
    let i = after === undefined ? 0 : lowerBound(keys, after, true)
    const versions: VersionTuple[] = []
    let bytes = 0
    for (; i < keys.length; i++) {
      const e = this.map.get(keys[i])
      if (e === undefined) continue
      const tuple = toTuple(e.key, e)
      const size = encode(tuple).byteLength + 1
      if (versions.length > 0 && bytes + size > SYNC_FILL_BYTES) {
        return { versions, next: versions[versions.length - 1][0] }
      }
      versions.push(tuple)
      bytes += size
    }
    return { versions }
  }
}

/** Index of the first of the sorted `keys` that is >= `key` (> `key` when `strict`). */
function lowerBound (keys: string[], key: string, strict: boolean): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (keys[mid] < key || (strict && keys[mid] === key)) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Splits entries into groups of at most `maxBytes` of JSON and `maxCount` entries. One entry always fits alone. */
function chunks (entries: Entry[], maxBytes: number, maxCount: number): Entry[][] {
  const out: Entry[][] = []
  let current: Entry[] = []
  let bytes = 0
  for (const e of entries) {
    const size = encode(e).byteLength + 1
    if (current.length > 0 && (bytes + size > maxBytes || current.length >= maxCount)) {
      out.push(current)
      current = []
      bytes = 0
    }
    current.push(e)
    bytes += size
  }
  if (current.length > 0) out.push(current)
  return out
}

/**
 * A signal that aborts when either parent does; `clear` unhooks it from both, so a long-lived parent does not
 * collect one listener per exchange. Not AbortSignal.any: see node/clock.ts `deadline`.
 */
function link (a: AbortSignal, b: AbortSignal | undefined): { signal: AbortSignal, clear: () => void } {
  const controller = new AbortController()
  const parents = b === undefined ? [a] : [a, b]
  const onAbort = (evt: Event): void => { controller.abort((evt.target as AbortSignal).reason) }
  const clear = (): void => { for (const p of parents) p.removeEventListener('abort', onAbort) }
  const already = parents.find(p => p.aborted)
  if (already !== undefined) controller.abort(already.reason)
  else for (const p of parents) p.addEventListener('abort', onAbort, { once: true })
  return { signal: controller.signal, clear }
}

/** Values are shared between the map, listeners and callers: freezing them keeps a caller from changing the state behind its back. */
function freezeValue<T> (v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    for (const child of Object.values(v)) freezeValue(child)
    Object.freeze(v)
  }
  return v
}

function freeze (e: Entry): Entry {
  if (Object.isFrozen(e)) return e
  freezeValue(e.value)
  Object.freeze(e.version)
  return Object.freeze(e)
}
