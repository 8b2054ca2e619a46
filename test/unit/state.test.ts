// The replicated state over MemoryStores on three real libp2p peers in one process: gossip, convergence of
// concurrent writes, term fencing, tombstones, hostile input, catching up through sync after a restart, and purging.
// The periodic sync runs only every ten minutes here, so whatever arrives within a test arrived by gossip, unless the
// test asks for a sync.
import '../../node/polyfill.js'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import { MemoryDatastore } from 'datastore-core'
import { fromString } from 'uint8arrays'
import { z } from 'zod'
import { createHost, type GroveLibp2p } from '../../node/libp2p.js'
import { MemoryStore } from '../../node/store.js'
import type { Clock } from '../../node/clock.js'
import { STATE_SYNC_PROTOCOL, STATE_TOPIC } from '../../node/protocols.js'
import { encode } from '../../node/wire/codec.js'
import { request } from '../../node/wire/rpc.js'
import { setQuiet } from '../../node/log.js'
import { ReplicatedState, ENTRY_PREFIX, PURGED_PREFIX } from '../../node/state/state.js'
import { MAX_SYNC_BYTES } from '../../node/state/schema.js'
import { compareVersions, type Entry } from '../../node/state/merge.js'
import { InvalidEntryError, StaleWriteError, StateError } from '../../node/state/errors.js'
import type { Hlc } from '../../node/state/hlc.js'
import { eventually, sleep } from '../../testnet/daemons.js'

const TTL = 10 * 60_000
const MINUTE = 60_000
const HEARTBEAT_MS = 200
/** How long gossipsub keeps advertising a message (GossipsubHistoryGossip = 3 heartbeats), with a margin. */
const GOSSIP_HISTORY_MS = 5 * HEARTBEAT_MS

interface Change { key: string, value: unknown, entry: Entry }

/** svc/ records must have a name: stands in for the daemon's schema checks. */
function validate (key: string, value: unknown): string | undefined {
  if (!key.startsWith('svc/')) return undefined
  const name = (value as { name?: unknown } | null)?.name
  return typeof name === 'string' ? undefined : 'a service needs a name'
}

describe('replicated state on three peers (one process)', function () {
  this.timeout(120_000)

  const hosts: GroveLibp2p[] = []
  const stores = [new MemoryStore(), new MemoryStore(), new MemoryStore()]
  /** Added to each peer's wall clock. */
  const offsets = [0, 0, 0]
  const states: ReplicatedState[] = []
  const changes: Change[][] = [[], [], []]
  const A = (): ReplicatedState => states[0]
  const B = (): ReplicatedState => states[1]
  const C = (): ReplicatedState => states[2]
  const id = (i: number): string => hosts[i].peerId.toString()

  function clockOf (i: number): Clock {
    return { now: () => performance.now(), wall: () => Date.now() + offsets[i] }
  }

  function newState (i: number): ReplicatedState {
    const s = new ReplicatedState({ libp2p: hosts[i], store: stores[i], clock: clockOf(i), syncIntervalMs: 10 * MINUTE, tombstoneTtlMs: TTL, validate })
    s.onChange((key, value, entry) => { changes[i].push({ key, value, entry }) })
    return s
  }

  const changesOf = (i: number, key: string): Change[] => changes[i].filter(c => c.key === key)
  const meshPeers = (i: number): unknown[] => (hosts[i].services.pubsub as unknown as { getMeshPeers(t: string): unknown[] }).getMeshPeers(STATE_TOPIC)

  /** Publishes raw bytes (or a JSON body) on the state topic from peer `i`, bypassing its ReplicatedState. */
  async function rawPublish (i: number, body: unknown): Promise<number> {
    const data = body instanceof Uint8Array ? body : typeof body === 'string' ? fromString(body) : encode(body)
    const { recipients } = await hosts[i].services.pubsub.publish(STATE_TOPIC, data)
    return recipients.length
  }

  function version (i: number, wall: number, counter = 0): Hlc {
    return { wall, counter, peer: id(i) }
  }

  /** Runs peer `target`'s topic validator on a message that peer `from` signed. */
  async function verdict (target: number, from: number, data: Uint8Array): Promise<TopicValidatorResult> {
    const validator = hosts[target].services.pubsub.topicValidators.get(STATE_TOPIC)
    assert.ok(validator !== undefined, 'the state topic has a validator')
    const msg: Message = {
      type: 'signed', from: hosts[from].peerId, topic: STATE_TOPIC, data, sequenceNumber: 1n, signature: new Uint8Array(64), key: hosts[from].peerId.publicKey!
    }
    return await validator(hosts[from].peerId, msg)
  }

  const allHold = (key: string, value: unknown): boolean => states.every(s => JSON.stringify(s.get(key)) === JSON.stringify(value))

  before(async function () {
    setQuiet(true)
    for (let i = 0; i < 3; i++) {
      const host = await createHost({
        privateKey: await generateKeyPair('Ed25519'),
        datastore: new MemoryDatastore(),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: [],
        gossipHeartbeatMs: HEARTBEAT_MS,
        dialTimeoutMs: 5_000
      })
      await host.start()
      hosts.push(host)
    }
    for (let i = 0; i < 3; i++) {
      states.push(newState(i))
      await states[i].start()
    }
    await hosts[0].dial(hosts[1].getMultiaddrs()[0])
    await hosts[0].dial(hosts[2].getMultiaddrs()[0])
    await hosts[1].dial(hosts[2].getMultiaddrs()[0])
    // Each peer subscribed-to by both others and in the gossip mesh with at least one: with three peers that makes
    // the mesh connected. (Degree 2 for all is not guaranteed: gossipsub grafts only below Dlo = 1, so a peer that
    // saw one subscriber at its first heartbeat may keep a single mesh link. Waiting for 2 made this test flaky.)
    await eventually(() => [0, 1, 2].every(i => hosts[i].services.pubsub.getSubscribers(STATE_TOPIC).length === 2 && meshPeers(i).length >= 1), 15_000, 'a connected gossip mesh on the state topic')
  })

  after(async function () {
    for (const s of states) await s.stop()
    for (const h of hosts) await h.stop()
    setQuiet(false)
  })

  describe('the local API', () => {
    it('reads back what it writes: live values, sorted by key, tombstones hidden', async () => {
      const entry = await A().put('local/b', { n: 2 })
      await A().put('local/a', { n: 1 })
      await A().put('local/c', 'gone')
      await A().del('local/c')
      assert.equal(entry.key, 'local/b')
      assert.equal(entry.version.peer, A().self)
      assert.deepEqual(A().get('local/b'), { n: 2 })
      assert.equal(A().get('local/c'), undefined)
      assert.equal(A().entry('local/c')?.value, null)
      assert.deepEqual(A().entries('local/'), [['local/a', { n: 1 }], ['local/b', { n: 2 }]])
      assert.deepEqual(await stores[0].get(`${ENTRY_PREFIX}local/b`), A().entry('local/b'))
    })

    it('hands out frozen values, so callers cannot change the state behind its back', async () => {
      await A().put('local/frozen', { list: [1, 2] })
      const v = A().get<{ list: number[] }>('local/frozen')
      assert.throws(() => { v!.list.push(3) }, TypeError)
    })

    it('refuses values that peers would refuse', async () => {
      const bad: Array<[string, unknown, RegExp]> = [
        ['local/x', undefined, /use del/],
        ['local/x', null, /use del/],
        ['local/x', { n: NaN }, /value\.n: must be a finite number/],
        ['local/x', [1, Infinity], /value\[1\]: must be a finite number/],
        ['local/x', 'x'.repeat(70_000), /more than the limit of 65536/],
        ['local/x', new Map(), /plain object/],
        ['local/x', { f: () => 1 }, /must be JSON/],
        ['', 1, /must not be empty/],
        ['k'.repeat(257), 1, /at most 256 characters/],
        ['local/\n', 1, /control characters/],
        ['svc/nameless', { image: 'x' }, /a service needs a name/]
      ]
      for (const [key, value, message] of bad) {
        await assert.rejects(A().put(key, value), (err: Error) => err instanceof InvalidEntryError && message.test(err.message), `${key.slice(0, 20)} = ${String(value).slice(0, 20)}`)
      }
      assert.equal(A().entry('local/x'), undefined)
    })

    it('refuses writes while stopped', async () => {
      const idle = new ReplicatedState({ libp2p: hosts[0], store: new MemoryStore(), clock: clockOf(0), syncIntervalMs: MINUTE, tombstoneTtlMs: TTL })
      await assert.rejects(idle.put('x', 1), StateError)
      await idle.stop()
    })
  })

  describe('gossip', () => {
    it('carries writes to the other peers, batched into one message', async () => {
      const seen: string[] = []
      const count = (evt: CustomEvent<Message>): void => { if (evt.detail.topic === STATE_TOPIC) seen.push(new TextDecoder().decode(evt.detail.data).slice(0, 200)) }
      await eventually(() => [1, 2].every(i => ['local/a', 'local/b', 'local/frozen'].every(k => states[i].get(k) !== undefined) && states[i].entry('local/c')?.value === null), 10_000, 'the writes of the API tests')
      hosts[1].services.pubsub.addEventListener('message', count)
      try {
        const before = B().stats
        // One tick of writes: one gossip message.
        await Promise.all(Array.from({ length: 10 }, async (_, n) => await A().put(`app/${n}`, { n })))
        await eventually(() => [1, 2].every(i => states[i].entries('app/').length === 10), 10_000, 'ten apps on B and C')
        assert.deepEqual(C().entries('app/').map(([, v]) => v), Array.from({ length: 10 }, (_, n) => ({ n })))
        assert.equal(seen.length, 1, `ten writes within 5 ms went out as one batch; got ${seen.join('\n')}`)
        assert.equal(B().stats.gossipApplied - before.gossipApplied, 10)
        assert.equal(B().stats.pulled, before.pulled, 'nothing came by sync')
        for (let n = 0; n < 10; n++) assert.equal(changesOf(1, `app/${n}`).length, 1)
      } finally {
        hosts[1].services.pubsub.removeEventListener('message', count)
      }
    })

    it('converges concurrent writes to one key on the same winner everywhere', async () => {
      for (let round = 0; round < 5; round++) {
        const key = `race/${round}`
        const written = await Promise.all(states.map(async (s, i) => await s.put(key, `from-${i}`)))
        const winner = written.reduce((a, b) => compareVersions(a, b) > 0 ? a : b)
        await eventually(() => allHold(key, winner.value), 10_000, `every peer to hold the winner of ${key}`)
        for (let i = 0; i < 3; i++) {
          assert.deepEqual(states[i].entry(key), winner)
          // onChange fired only for entries that took effect: each one newer than the one before, ending at the winner.
          const seen = changesOf(i, key)
          for (let j = 1; j < seen.length; j++) assert.ok(compareVersions(seen[j].entry, seen[j - 1].entry) > 0, `peer ${i} announced an older ${key}`)
          assert.deepEqual(seen.at(-1)?.entry, winner)
          assert.ok(seen.length >= 1 && seen.length <= 3)
        }
      }
    })
  })

  describe('term fencing', () => {
    it('a higher term beats a newer clock with a lower term, and a deposed leader cannot write', async () => {
      const key = 'place/web/0'
      const leader2 = await A().put(key, { node: 'n2' }, { term: 2 })
      await eventually(() => allHold(key, { node: 'n2' }), 10_000, 'the term-2 placement everywhere')
      // B, a deposed leader of term 1, tries through its own API...
      await assert.rejects(B().put(key, { node: 'n1' }, { term: 1 }), StaleWriteError)
      await assert.rejects(B().put(key, { node: 'n1' }), StaleWriteError)
      await assert.rejects(B().del(key, { term: 1 }), StaleWriteError)
      // ...and over the wire, with a clock ten seconds ahead.
      const stale: Entry = { key, value: { node: 'n1' }, version: version(1, leader2.version.wall + 10_000), term: 1 }
      const before = changes.map(c => c.length)
      assert.equal(await verdict(0, 1, encode({ v: 1, entries: [stale] })), TopicValidatorResult.Accept, 'a valid message, it just loses')
      assert.ok(await rawPublish(1, { v: 1, entries: [stale] }) > 0)
      await rawPublish(1, { v: 1, entries: [{ key: 'fence/marker', value: 1, version: version(1, leader2.version.wall + 10_001) }] })
      await eventually(() => A().get('fence/marker') === 1 && C().get('fence/marker') === 1, 10_000, 'the marker after the stale placement')
      for (const i of [0, 2]) {
        assert.deepEqual(states[i].entry(key), leader2)
        assert.equal(changes[i].length - before[i], 1, `peer ${i} announced only the marker`)
      }
    })

    it('a lower term with a newer clock is replaced by a higher term with an older clock', async () => {
      const key = 'place/web/1'
      // B's clock runs five minutes fast: too far for the others to adopt, so their versions stay older.
      const future = Date.now() + 5 * MINUTE
      const old: Entry = { key, value: { node: 'n1' }, version: version(1, future), term: 1 }
      await rawPublish(1, { v: 1, entries: [old] })
      await eventually(() => A().get(key) !== undefined && C().get(key) !== undefined, 10_000, 'the term-1 placement on A and C')
      const leader2 = await A().put(key, { node: 'n3' }, { term: 2 })
      assert.ok(leader2.version.wall < future, 'the new placement carries the older clock')
      await eventually(() => A().get(key) !== undefined && C().entry(key)?.term === 2, 10_000, 'the term-2 placement on C')
      assert.deepEqual(C().entry(key), leader2)
      assert.deepEqual(A().entry(key), leader2)
    })
  })

  describe('tombstones', () => {
    it('a delete beats older values and loses to newer ones; onChange fires exactly for winners', async () => {
      const key = 'tomb/1'
      const first = await A().put(key, 'v1')
      await eventually(() => allHold(key, 'v1'), 10_000, 'v1 everywhere')
      await B().del(key)
      await eventually(() => states.every(s => s.entry(key)?.value === null), 10_000, 'the tombstone everywhere')
      const tomb = B().entry(key)!
      assert.ok(compareVersions(tomb, first) > 0)
      for (const i of [0, 2]) assert.deepEqual(changesOf(i, key).map(c => c.value), ['v1', undefined])

      // An older value (written before the delete, delivered after it) loses; so does the same tombstone again.
      await rawPublish(2, { v: 1, entries: [{ key, value: 'late', version: version(2, tomb.version.wall - 1) }] })
      await rawPublish(1, { v: 1, entries: [tomb] })
      // A value written after the delete wins.
      await rawPublish(2, { v: 1, entries: [{ key, value: 'v2', version: version(2, tomb.version.wall + 1) }] })
      await eventually(() => A().get(key) === 'v2' && B().get(key) === 'v2', 10_000, 'v2 on A and B')
      assert.deepEqual(changesOf(0, key).map(c => c.value), ['v1', undefined, 'v2'])
      assert.deepEqual(changesOf(1, key).map(c => c.value), ['v1', undefined, 'v2'])
    })
  })

  describe('hostile input', () => {
    const good = (i: number): Entry => ({ key: 'hostile/ok', value: { name: 'fine' }, version: version(i, Date.now()) })
    const hostile = (i: number): Array<[string, Uint8Array]> => {
      const e = good(i)
      const json = (body: unknown): Uint8Array => encode(body)
      const valid = JSON.stringify({ v: 1, entries: [{ ...e, key: 'hostile/inf', value: { n: 424242 } }] })
      let deep: unknown = 1
      for (let d = 0; d < 70; d++) deep = [deep]
      return [
        ['not JSON', fromString('{"v":1,"entries":[')],
        ['invalid UTF-8', Uint8Array.from([0x7b, 0xff, 0x7d])],
        ['an unknown version', json({ v: 2, entries: [e] })],
        ['no entries', json({ v: 1, entries: [] })],
        ['a missing value', json({ v: 1, entries: [{ key: 'hostile/a', version: e.version }] })],
        ['a key of 300 characters', json({ v: 1, entries: [{ ...e, key: `hostile/${'k'.repeat(292)}` }] })],
        ['a key with a newline', json({ v: 1, entries: [{ ...e, key: 'hostile/\n' }] })],
        ['a value of 70 KiB', json({ v: 1, entries: [{ ...e, key: 'hostile/huge', value: 'x'.repeat(70 * 1024) }] })],
        ['a value nested 70 deep', json({ v: 1, entries: [{ ...e, key: 'hostile/deep', value: deep }] })],
        ['a number of 1e999', fromString(valid.replace('424242', '1e999'))],
        ['a negative wall time', json({ v: 1, entries: [{ ...e, key: 'hostile/neg', version: { ...e.version, wall: -1 } }] })],
        ['a fractional counter', json({ v: 1, entries: [{ ...e, key: 'hostile/frac', version: { ...e.version, counter: 0.5 } }] })],
        ['a negative term', json({ v: 1, entries: [{ ...e, key: 'hostile/term', term: -1 }] })],
        ['a peer that is not a peer ID', json({ v: 1, entries: [{ ...e, key: 'hostile/peer', version: { ...e.version, peer: 'me' } }] })],
        ['a value that fails validate', json({ v: 1, entries: [e, { ...e, key: 'svc/nameless', value: { image: 'x' } }] })],
        ['a write forged for another peer', json({ v: 1, entries: [{ ...e, key: 'hostile/forged', version: version((i + 1) % 3, Date.now()) }] })]
      ]
    }

    it('the topic validator rejects every hostile batch', async () => {
      for (const [what, data] of hostile(2)) {
        assert.equal(await verdict(0, 2, data), TopicValidatorResult.Reject, what)
      }
      const oversized = new Uint8Array(300 * 1024).fill(0x20)
      oversized.set(encode({ v: 1, entries: [good(2)] }))
      assert.equal(await verdict(0, 2, oversized), TopicValidatorResult.Reject, 'a batch of 300 KiB')
      assert.equal(await verdict(0, 2, encode({ v: 1, entries: [good(2)] })), TopicValidatorResult.Accept, 'the control')
    })

    it('hostile batches published over gossip change nothing; a valid one after them arrives', async () => {
      const digests = [A().digest(), B().digest()]
      const before = changes.map(c => c.length)
      const rejected = A().stats.rejected
      for (const [what, data] of hostile(2)) assert.ok(await rawPublish(2, data) > 0, `${what} reached nobody`)
      await rawPublish(2, { v: 1, entries: [good(2)] })
      await eventually(() => A().get('hostile/ok') !== undefined && B().get('hostile/ok') !== undefined, 10_000, 'the valid batch')
      for (const i of [0, 1]) {
        assert.deepEqual(states[i].entries('hostile/').map(([k]) => k), ['hostile/ok'])
        assert.equal(states[i].get('svc/nameless'), undefined)
        assert.deepEqual(changes[i].slice(before[i]).map(c => c.key), ['hostile/ok'])
        assert.notEqual(states[i].digest(), digests[i])
      }
      assert.ok(A().stats.rejected - rejected >= hostile(2).length, 'every hostile batch was counted as rejected')
    })

    it('sync refuses malformed requests and entries that fail validate', async () => {
      const any = z.unknown()
      const send = async (body: unknown): Promise<unknown> => await request(hosts[2], hosts[0].peerId, STATE_SYNC_PROTOCOL, body, any, { maxBytes: 1024 * 1024 })
      const e = good(2)
      const cases: Array<[string, unknown]> = [
        ['an unknown request', { v: 1, t: 'gimme' }],
        ['a bad digest', { v: 1, t: 'digest', digest: 'abc' }],
        ['a pull of 5000 keys', { v: 1, t: 'pull', keys: Array.from({ length: 5000 }, (_, n) => `k/${n}`) }],
        ['a push with a huge value', { v: 1, t: 'push', entries: [{ ...e, key: 'sync/huge', value: 'x'.repeat(70 * 1024) }] }],
        ['a push with a bad version', { v: 1, t: 'push', entries: [{ ...e, key: 'sync/bad', version: { wall: 'now' } }] }]
      ]
      for (const [what, body] of cases) {
        const res = await send(body) as { error?: string }
        assert.equal(typeof res.error, 'string', `${what}: ${JSON.stringify(res).slice(0, 200)}`)
      }
      assert.deepEqual(await send({ v: 1, t: 'push', entries: [{ ...e, key: 'svc/nameless', value: { image: 'x' } }] }), { v: 1, accepted: 0 })
      assert.equal(A().entry('svc/nameless'), undefined)
      assert.equal(A().entry('sync/huge'), undefined)
      // The protocol still works for a valid request.
      assert.deepEqual(await send({ v: 1, t: 'digest', digest: A().digest() }), { v: 1, same: true })
    })
  })

  describe('sync', () => {
    it('explicit exchanges bring peers that missed gossip into agreement', async () => {
      // The raw publishes above reached every peer but the one that published them.
      assert.ok(new Set(states.map(s => s.digest())).size > 1, 'the peers differ before the exchanges')
      const results = [await A().syncWith(B().self), await A().syncWith(C().self), await A().syncWith(B().self)]
      assert.ok(results.some(r => r.pulled + r.pushed > 0))
      assert.deepEqual(results[2], { pulled: 0, pushed: 0 }, 'A and B agreed after the first exchange, and C held nothing new')
      assert.ok(states.every(s => s.digest() === A().digest()), 'all three digests agree')
      for (const key of ['fence/marker', 'hostile/ok', 'tomb/1']) assert.ok(states.every(s => JSON.stringify(s.entry(key)) === JSON.stringify(A().entry(key))), key)
    })

    it('a peer that was stopped catches up through sync alone, keeps what it had, and pushes what it alone holds', async () => {
      await C().put('persist/mine', { kept: true })
      await eventually(() => allHold('persist/mine', { kept: true }), 10_000, 'persist/mine everywhere')
      await A().put('persist/doomed', 1)
      await eventually(() => C().get('persist/doomed') === 1, 10_000, 'persist/doomed on C')

      await C().stop()
      await C().stop() // idempotent
      await eventually(() => hosts[0].services.pubsub.getSubscribers(STATE_TOPIC).length === 1, 10_000, 'A to see C leave the topic')
      await Promise.all(Array.from({ length: 20 }, async (_, n) => await A().put(`missed/${n}`, { n })))
      await B().put('missed/b', 'from B')
      await A().del('persist/doomed')
      await eventually(() => B().entries('missed/').length === 21 && B().get('persist/doomed') === undefined, 10_000, 'B to hear the writes C missed')
      // Gossipsub advertises a message to newly subscribed peers (IHAVE) for three heartbeats after it was sent: wait
      // that out, so the writes C missed can only reach it through sync.
      await sleep(GOSSIP_HISTORY_MS)
      // A write C made that never left it (it crashed between persisting and gossiping).
      const unsent: Entry = { key: 'persist/unsent', value: 'only on C', version: version(2, Date.now()) }
      await stores[2].put(`${ENTRY_PREFIX}${unsent.key}`, unsent)

      states[2] = newState(2)
      changes[2] = []
      await C().start()
      // Straight from the store, before any sync could answer.
      assert.deepEqual(C().get('persist/mine'), { kept: true })
      assert.equal(C().get('persist/unsent'), 'only on C')

      await eventually(() => C().entries('missed/').length === 21 && C().get('persist/doomed') === undefined, 15_000, 'C to catch up')
      assert.equal(C().stats.gossipApplied, 0, 'nothing came by gossip')
      assert.ok(C().stats.pulled >= 22, `pulled ${C().stats.pulled}`)
      assert.deepEqual(C().get('persist/mine'), { kept: true })
      assert.equal(C().entry('persist/doomed')?.value, null)
      // The same exchange pushed C's unsent write to the peer it synced with; one more exchange spreads it.
      await eventually(() => A().get('persist/unsent') !== undefined || B().get('persist/unsent') !== undefined, 10_000, 'the unsent write on A or B')
      assert.equal(C().stats.pushed, 1)
      const ab = await A().syncWith(B().self)
      assert.equal(ab.pulled + ab.pushed, 1)
      assert.ok(allHold('persist/unsent', 'only on C'))
      assert.ok(states.every(s => s.digest() === A().digest()), 'all three digests agree')
      assert.deepEqual(await C().syncWith(A().self), { pulled: 0, pushed: 0 })
    })

    it('one exchange repairs both sides', async () => {
      // An entry that arrives through a push is merged but not gossiped on, so A and B each hold one the other lacks.
      const push = async (to: number, entry: Entry): Promise<unknown> =>
        await request(hosts[2], hosts[to].peerId, STATE_SYNC_PROTOCOL, { v: 1, t: 'push', entries: [entry] }, z.unknown())
      assert.deepEqual(await push(0, { key: 'repair/a', value: 'a', version: version(0, Date.now()) }), { v: 1, accepted: 1 })
      assert.deepEqual(await push(1, { key: 'repair/b', value: 'b', version: version(1, Date.now()) }), { v: 1, accepted: 1 })
      assert.equal(A().get('repair/b'), undefined)
      assert.equal(B().get('repair/a'), undefined)
      assert.deepEqual(await A().syncWith(B().self), { pulled: 1, pushed: 1 })
      assert.equal(A().digest(), B().digest())
      assert.deepEqual(await C().syncWith(B().self), { pulled: 2, pushed: 0 })
      assert.ok(allHold('repair/a', 'a') && allHold('repair/b', 'b'))
      assert.ok(states.every(s => s.digest() === A().digest()), 'all three digests agree')
    })

    it('pages a version list and chunks pulls larger than one sync message', async () => {
      const wall = Date.now()
      const entries: Entry[] = Array.from({ length: 4000 }, (_, n) => ({
        key: `bulk/${String(n).padStart(5, '0')}/${'k'.repeat(240)}`, value: { pad: 'v'.repeat(300) }, version: version(0, wall, n)
      }))
      // Larger than one sync message either way: the version list must be paged and the pull chunked.
      assert.ok(encode(entries.map(e => [e.key, e.version])).byteLength > MAX_SYNC_BYTES)
      assert.ok(encode(entries).byteLength > 2 * MAX_SYNC_BYTES)
      // Pushed straight into A, so nobody else hears of them by gossip.
      for (let i = 0; i < entries.length; i += 1000) {
        const res = await request(hosts[2], hosts[0].peerId, STATE_SYNC_PROTOCOL, { v: 1, t: 'push', entries: entries.slice(i, i + 1000) }, z.unknown(), { maxBytes: MAX_SYNC_BYTES })
        assert.deepEqual(res, { v: 1, accepted: 1000 })
      }
      assert.equal(C().entries('bulk/').length, 0)
      assert.deepEqual(await C().syncWith(A().self), { pulled: 4000, pushed: 0 })
      assert.deepEqual(await B().syncWith(C().self), { pulled: 4000, pushed: 0 })
      assert.ok(states.every(s => s.digest() === A().digest()), 'all three digests agree')
      assert.deepEqual(C().entry(entries[3999].key), entries[3999])
    })
  })

  describe('tombstone purging', () => {
    it('purges expired tombstones everywhere and still refuses older writes for another TTL', async () => {
      const key = 'purge/1'
      await A().put(key, 'v1')
      await eventually(() => allHold(key, 'v1'), 10_000, 'v1 everywhere')
      await A().del(key)
      await eventually(() => states.every(s => s.entry(key)?.value === null), 10_000, 'the tombstone everywhere')
      const tomb = A().entry(key)!

      for (let i = 0; i < 3; i++) offsets[i] = TTL + MINUTE
      // A and C purge; B has not got round to it yet.
      // (Earlier tests left tombstones too: every one of them expires.)
      const purged = await Promise.all([A().purge(), C().purge()])
      assert.ok(purged[0] >= 1 && purged[0] === purged[1], `purged ${purged.join(', ')}`)
      assert.equal(A().entry(key), undefined)
      assert.equal(C().entry(key), undefined)
      assert.deepEqual(B().entry(key), tomb)
      assert.deepEqual(await stores[2].get(`${PURGED_PREFIX}${key}`), tomb)
      assert.equal(await stores[2].get(`${ENTRY_PREFIX}${key}`), undefined)
      assert.equal(A().digest(), C().digest())

      // A value from before the delete, arriving late, does not bring the key back...
      const before = changesOf(0, key).length
      await rawPublish(1, { v: 1, entries: [{ key, value: 'zombie', version: version(1, tomb.version.wall - 1) }] })
      await rawPublish(1, { v: 1, entries: [{ key: 'purge/marker', value: 1, version: version(1, Date.now() + offsets[1]) }] })
      await eventually(() => A().get('purge/marker') === 1 && C().get('purge/marker') === 1, 10_000, 'the marker')
      assert.equal(A().entry(key), undefined)
      assert.equal(C().entry(key), undefined)
      assert.equal(changesOf(0, key).length, before)
      // ...and neither does a sync with a peer that still holds the tombstone: nothing to pull, only the marker to push.
      assert.deepEqual(await C().syncWith(B().self), { pulled: 0, pushed: 1 })
      assert.equal(C().entry(key), undefined)
      assert.equal(await B().purge(), purged[0])
      assert.ok(states.every(s => s.digest() === A().digest()), 'all three digests agree')

      // After another TTL the version is forgotten too.
      for (let i = 0; i < 3; i++) offsets[i] = 2 * TTL + 2 * MINUTE
      await C().purge()
      assert.equal(await stores[2].get(`${PURGED_PREFIX}${key}`), undefined)
    })
  })
})
