// The election driver over a fake membership: whom it follows, and when it stops following.
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Libp2p } from '@libp2p/interface'
import { Election } from '../../node/election/election.js'
import type { Member, MemberEvent, Membership } from '../../node/membership/membership.js'
import { MemoryStore } from '../../node/store.js'
import { systemClock } from '../../node/clock.js'
import { PROFILE_TIMINGS } from '../../node/config.js'

const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

/** The part of the membership the election reads, with a member whose status the test changes. */
function fakeMembership (): { membership: Membership, member: Member, emit: (e: MemberEvent) => void } {
  const listeners = new Set<(e: MemberEvent) => void>()
  const member = {
    peerId: other,
    status: { peerId: other, name: 'b', region: 'r', role: 'leader', term: 3, leader: other, incarnation: 1, seq: 1, rev: 1 },
    clock: { state: 'alive' },
    firsthand: true
  } as unknown as Member
  const members = new Map([[other, member]])
  const membership = {
    members,
    state: (peer: string) => members.get(peer)?.clock.state,
    onEvent: (l: (e: MemberEvent) => void) => { listeners.add(l); return () => listeners.delete(l) },
    setRole: () => {},
    refresh: async () => {},
    liveMembers: () => [...members.values()]
  } as unknown as Membership
  return { membership, member, emit: (e) => { for (const l of listeners) l(e) } }
}

describe('election driver', function () {
  it('stops following a leader that is alive but no longer leads by its own account (it restarted)', async function () {
    const { membership, member, emit } = fakeMembership()
    const libp2p = { peerId: self, handle: async () => {}, unhandle: async () => {} } as unknown as Libp2p
    const election = new Election({ libp2p, store: new MemoryStore(), clock: systemClock, timings: PROFILE_TIMINGS.local, region: 'r', membership, eligible: true, mayStand: () => false })
    await election.start()
    try {
      assert.equal(election.current.leader, other)
      assert.equal(election.leaderLive(), true)
      // The leader restarts: a new life, alive again at once, and a follower of the same term.
      member.status = { ...member.status, role: 'follower', leader: null, incarnation: 2 }
      emit({ type: 'update', member })
      assert.equal(election.leaderLive(), false, 'a leader that says it follows is no live leader')
    } finally {
      await election.stop()
    }
  })
})
