// Three real peers in one process, and a fourth plain libp2p node that speaks the same gossipsub but none of Grove's
// rules. The intruder publishes malformed, forged and oversized messages on the region topic and on the regions
// topic; the peers must drop them all, keep running and keep agreeing. A valid status and a valid summary from the
// same intruder are accepted, which shows that the others were refused by validation, not lost on the way.
import '../../node/polyfill.js'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { GossipSub } from '@libp2p/gossipsub'
import { MemoryDatastore } from 'datastore-core'
import { fromString } from 'uint8arrays'
import { Peer } from '../../node/peer.js'
import { PROFILE_TIMINGS, resolveConfig } from '../../node/config.js'
import { createHost, type GroveLibp2p } from '../../node/libp2p.js'
import { REGIONS_TOPIC, regionTopic } from '../../node/protocols.js'
import { encode } from '../../node/wire/codec.js'
import { setQuiet } from '../../node/log.js'
import type { NodeStatus, RegionMessage, RegionSummary } from '../../node/wire/schemas.js'
import { eventually, sleep } from '../../testnet/daemons.js'

const REGION = 'h'
const TOPIC = regionTopic(REGION)
/** The peers' gossip limit (membership.ts, regions.ts): anything above is refused unread. */
const GOSSIP_LIMIT = 64 * 1024
const HUGE_TERM = 1_000_000

interface Published { what: string, topic: string, recipients: number }

/** Every peer sees every other alive, and all follow one leader that says it leads. */
function converged (peers: Peer[]): boolean {
  const ids = peers.map(p => p.peerId)
  for (const p of peers) {
    for (const id of ids) {
      if (id !== p.peerId && p.membership.state(id) !== 'alive') return false
    }
  }
  const leaders = new Set(peers.map(p => p.election.current.leader))
  if (leaders.size !== 1) return false
  const [leader] = leaders
  if (leader === null || !ids.includes(leader)) return false
  return peers.filter(p => p.election.current.role === 'leader').length === 1
}

function withPadding (bytes: Uint8Array, total: number): Uint8Array {
  // JSON allows trailing whitespace: the message stays valid in every respect but its size.
  const out = new Uint8Array(total).fill(0x20)
  out.set(bytes)
  return out
}

describe('hostile gossip against three peers (one process)', function () {
  this.timeout(120_000)

  const dirs: string[] = []
  const peers: Peer[] = []
  /** Every peer that started, in start order, so after() stops them even when before() failed half-way. */
  const started: Peer[] = []
  let intruder: GroveLibp2p
  let intruderId: string
  let phantomId: string
  const published: Published[] = []

  async function startPeer (name: string, joinAddrs: string[]): Promise<Peer> {
    const dataDir = await mkdtemp(join(tmpdir(), `grove-hostile-${name}-`))
    dirs.push(dataDir)
    const config = resolveConfig({
      flags: { dataDir, region: REGION, listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0', profile: 'local', name, join: joinAddrs },
      env: {},
      file: {}
    })
    const peer = new Peer({ config, docker: { ping: async () => false } })
    await peer.start()
    started.push(peer)
    return peer
  }

  const pubsub = (): GossipSub => intruder.services.pubsub
  const [p1, p2] = [0, 1].map(i => () => peers[i])

  async function publish (what: string, topic: string, data: Uint8Array): Promise<void> {
    const { recipients } = await pubsub().publish(topic, data)
    published.push({ what, topic, recipients: recipients.length })
  }

  /** A status the peers would accept from the intruder, with `patch` applied. */
  function intruderStatus (patch: Partial<NodeStatus>): NodeStatus {
    return {
      ...p1().membership.localStatus,
      peerId: intruderId,
      name: 'intruder',
      region: REGION,
      addrs: intruder.getMultiaddrs().map(a => a.decapsulate('/p2p').toString()),
      eligible: false,
      labels: {},
      location: null,
      incarnation: 1,
      seq: 1,
      rev: 1,
      role: 'follower',
      ...patch
    }
  }

  function statusMessage (status: NodeStatus): Uint8Array {
    const msg: RegionMessage = { v: 1, t: 'status', status }
    return encode(msg)
  }

  function summary (patch: Partial<RegionSummary>): RegionSummary {
    return { ...p1().regions.buildSummary(), ...patch }
  }

  before(async function () {
    setQuiet(true)
    peers.push(await startPeer('n1', []))
    const seed = p1().libp2p.getMultiaddrs()[0].toString()
    assert.match(seed, /\/p2p\//)
    peers.push(...await Promise.all([startPeer('n2', [seed]), startPeer('n3', [seed])]))
    await eventually(() => converged(peers), 30_000, 'the three peers to converge on one leader')
    // Every peer holds the region's summary from its real leader before the intruder arrives.
    await eventually(() => peers.every(p => p.regions.get(REGION)?.summary.leader === p.election.current.leader), 15_000, 'the region summary')

    phantomId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    intruder = await createHost({
      privateKey: await generateKeyPair('Ed25519'),
      datastore: new MemoryDatastore(),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      bootstrap: [],
      gossipHeartbeatMs: PROFILE_TIMINGS.local.gossipHeartbeat,
      dialTimeoutMs: PROFILE_TIMINGS.local.dialTimeout
    })
    await intruder.start()
    intruderId = intruder.peerId.toString()
    await intruder.dial(p1().libp2p.getMultiaddrs()[0])
    pubsub().subscribe(TOPIC)
    pubsub().subscribe(REGIONS_TOPIC)
    const meshPeers = (topic: string): string[] => (pubsub() as unknown as { getMeshPeers(t: string): string[] }).getMeshPeers(topic)
    await eventually(() =>
      pubsub().getSubscribers(TOPIC).length > 0 && pubsub().getSubscribers(REGIONS_TOPIC).length > 0 &&
      meshPeers(TOPIC).length > 0 && meshPeers(REGIONS_TOPIC).length > 0 &&
      p1().libp2p.services.pubsub.getSubscribers(TOPIC).some(id => id.toString() === intruderId),
    10_000, 'the intruder to join the gossip mesh')

    // ----- the hostile wave --------------------------------------------------------------------------------------
    await publish('non-JSON text', TOPIC, fromString('{"v":1,"t":"status", this is not json'))
    await publish('invalid UTF-8', TOPIC, Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]))
    // Claims to be n2, with an incarnation that would beat n2's own statuses for as long as it lives.
    await publish('a status forged for n2', TOPIC, statusMessage(intruderStatus({ peerId: p2().peerId, name: 'forged', incarnation: HUGE_TERM })))
    await publish('a status forged for a phantom', TOPIC, statusMessage(intruderStatus({ peerId: phantomId, name: 'phantom' })))
    // The remaining statuses are the intruder's own, each with a higher incarnation than the valid one sent last: had
    // any been accepted, the valid one would be ignored as older and the name below would not be "intruder".
    const marker = 0.123456789
    const infinite = JSON.stringify({ v: 1, t: 'status', status: intruderStatus({ name: 'infinite', incarnation: 5, coordinate: { vec: [marker, 0, 0, 0, 0, 0, 0, 0], error: 1, adjustment: 0, height: 0.01 } }) })
    assert.ok(infinite.includes(String(marker)))
    await publish('a coordinate of 1e999', TOPIC, fromString(infinite.replace(String(marker), '1e999')))
    await publish('an unknown role', TOPIC, statusMessage(intruderStatus({ name: 'emperor', incarnation: 6, role: 'emperor' as NodeStatus['role'] })))
    await publish('an oversized status', TOPIC, withPadding(statusMessage(intruderStatus({ name: 'oversized', incarnation: 7 })), GOSSIP_LIMIT + 1024))

    await publish('non-JSON text', REGIONS_TOPIC, fromString('not a summary'))
    await publish('a summary of region h claiming n2 as its leader', REGIONS_TOPIC, encode(summary({ region: REGION, leader: p2().peerId, term: HUGE_TERM })))
    await publish('a summary claiming a phantom leader', REGIONS_TOPIC, encode(summary({ region: 'phantomland', leader: phantomId, term: 1 })))
    await publish('an oversized summary', REGIONS_TOPIC, withPadding(encode(summary({ region: 'bloated', leader: intruderId, term: 1 })), GOSSIP_LIMIT + 1024))

    // ----- the controls: valid messages from the same intruder -------------------------------------------------------
    await publish('a valid status', TOPIC, statusMessage(intruderStatus({})))
    await publish('a valid summary', REGIONS_TOPIC, encode(summary({ region: 'elsewhere', leader: intruderId, term: 1 })))
  })

  after(async function () {
    await intruder?.stop()
    for (const p of [...started].reverse()) await p.stop()
    await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
    setQuiet(false)
  })

  it('delivers every hostile message to at least one peer', () => {
    const unsent = published.filter(p => p.recipients === 0)
    assert.deepEqual(unsent, [], 'these messages reached nobody, so their rejection would prove nothing')
  })

  it('accepts a valid status from the intruder into every member table', async () => {
    await eventually(() => peers.every(p => p.membership.members.get(intruderId)?.status.name === 'intruder'), 10_000, 'the intruder\'s valid status')
    for (const p of peers) {
      const m = p.membership.members.get(intruderId)
      assert.equal(m?.status.incarnation, 1, `${p.config.name} holds the intruder at incarnation 1, not a hostile one`)
    }
  })

  it('accepts a valid summary from the intruder for a region it leads', async () => {
    await eventually(() => peers.every(p => p.regions.get('elsewhere')?.summary.leader === intruderId), 10_000, 'the intruder\'s valid summary')
  })

  it('keeps forged peer IDs out of every member table', async () => {
    // Two more gossip heartbeats for anything still in flight behind the controls.
    await sleep(2 * PROFILE_TIMINGS.local.gossipHeartbeat)
    for (const p of peers) {
      assert.equal(p.membership.members.has(phantomId), false, `${p.config.name} lists the phantom`)
      if (p !== p2()) {
        const n2 = p.membership.members.get(p2().peerId)
        assert.equal(n2?.status.name, 'n2', `${p.config.name} holds a forged status for n2`)
        assert.ok(n2.status.incarnation < HUGE_TERM)
      }
    }
  })

  it('keeps every coordinate in every member table finite', () => {
    for (const p of peers) {
      for (const m of p.membership.members.values()) {
        const c = m.status.coordinate
        assert.ok([...c.vec, c.error, c.adjustment, c.height].every(Number.isFinite), `${p.config.name}: ${m.status.name} has ${JSON.stringify(c)}`)
        assert.ok(['leader', 'follower', 'candidate'].includes(m.status.role))
      }
    }
  })

  it('ignores region summaries whose leader is not their sender, and oversized ones', () => {
    const real = new Set(peers.map(p => p.peerId))
    for (const p of peers) {
      const names = p.regions.list().map(r => r.summary.region)
      assert.ok(!names.includes('phantomland'), `${p.config.name} knows phantomland`)
      assert.ok(!names.includes('bloated'), `${p.config.name} knows bloated`)
      const own = p.regions.get(REGION)
      assert.ok(own !== undefined)
      assert.ok(real.has(own.summary.leader), `${p.config.name}: region h led by ${own.summary.leader}`)
      assert.ok(own.summary.term < HUGE_TERM, `${p.config.name}: region h summary at term ${own.summary.term}`)
    }
  })

  it('keeps all three peers running and answering', async () => {
    for (const p of peers) {
      const { seq } = p.membership.localStatus
      await eventually(() => p.membership.localStatus.seq > seq, 5000, `${p.config.name} to keep beating`)
      const res = await fetch(`http://${p.api.address}/api/v1/status`, { headers: { authorization: `Bearer ${p.token}` } })
      assert.equal(res.status, 200)
      const body = await res.json() as { peerId: string, region: string }
      assert.equal(body.peerId, p.peerId)
      assert.equal(body.region, REGION)
    }
  })

  it('still converges: every peer sees the others alive and all follow one leader', async () => {
    await eventually(() => converged(peers), 20_000, 'the peers to converge after the hostile wave')
    await eventually(() => peers.every(p => p.regions.get(REGION)?.summary.leader === p.election.current.leader), 10_000, 'the region summary from the leader')
  })
})
