import assert from 'node:assert/strict'
import {
  becomeLeader, decideVote, hasQuorum, initialState, observe, quorumSize, startCandidacy
} from '../../node/election/rules.js'
import type { ElectionState, VoteDecision, VoteRequest, VoterView } from '../../node/election/rules.js'
import type { Role } from '../../node/wire/schemas.js'

const REGION = 'eu-west'
const SELF = 'peer-m'

function state (term: number, role: Role = 'follower', votedFor: string | null = null, leader: string | null = null): ElectionState {
  return { term, votedFor, role, leader }
}

function vote (term: number, candidate: string, kind: VoteRequest['kind'] = 'vote', region = REGION): VoteRequest {
  return { kind, region, term, candidate }
}

function view (leaderLive = false, self = SELF): VoterView {
  return { self, region: REGION, leaderLive }
}

/** Simulates a restart: only what survives a JSON round trip through the store is kept. */
function reload (s: ElectionState): ElectionState {
  return JSON.parse(JSON.stringify(s)) as ElectionState
}

describe('election rules', () => {
  describe('initialState', () => {
    it('is a follower at term 0 with no vote and no leader', () => {
      assert.deepEqual(initialState(), { term: 0, votedFor: null, role: 'follower', leader: null })
    })
  })

  describe('decideVote', () => {
    const cases: Array<{
      name: string
      state: ElectionState
      req: VoteRequest
      leaderLive?: boolean
      want: Omit<VoteDecision, 'next'> & { next?: ElectionState }
    }> = [
      {
        name: 'denies a candidate of another region and keeps the state',
        state: state(3),
        req: vote(9, 'peer-a', 'vote', 'us-east'),
        want: { granted: false, reason: 'wrong-region', persist: false }
      },
      {
        name: 'denies a pre-vote from another region',
        state: state(3),
        req: vote(9, 'peer-a', 'prevote', 'us-east'),
        want: { granted: false, reason: 'wrong-region', persist: false }
      },
      {
        name: 'grants a pre-vote for a higher term without a live leader, changing nothing',
        state: state(3, 'follower', 'peer-b'),
        req: vote(4, 'peer-a', 'prevote'),
        want: { granted: true, reason: 'granted', persist: false }
      },
      {
        name: 'denies a pre-vote while a live leader is heard',
        state: state(3, 'follower', null, 'peer-l'),
        req: vote(4, 'peer-a', 'prevote'),
        leaderLive: true,
        want: { granted: false, reason: 'leader-alive', persist: false }
      },
      {
        name: 'denies a pre-vote for the current term',
        state: state(3),
        req: vote(3, 'peer-a', 'prevote'),
        want: { granted: false, reason: 'stale-term', persist: false }
      },
      {
        name: 'denies a pre-vote for an older term',
        state: state(3),
        req: vote(2, 'peer-a', 'prevote'),
        want: { granted: false, reason: 'stale-term', persist: false }
      },
      {
        name: 'grants a vote for a higher term, adopting the term',
        state: state(3, 'follower', 'peer-b', 'peer-b'),
        req: vote(4, 'peer-a'),
        want: { granted: true, reason: 'granted', persist: true, next: state(4, 'follower', 'peer-a', null) }
      },
      {
        name: 'grants a vote in the current term when it has not voted',
        state: state(4),
        req: vote(4, 'peer-a'),
        want: { granted: true, reason: 'granted', persist: true, next: state(4, 'follower', 'peer-a') }
      },
      {
        name: 'grants a retried request from the candidate it already voted for',
        state: state(4, 'follower', 'peer-a'),
        req: vote(4, 'peer-a'),
        want: { granted: true, reason: 'granted', persist: true, next: state(4, 'follower', 'peer-a') }
      },
      {
        name: 'denies a second candidate in the same term',
        state: state(4, 'follower', 'peer-a'),
        req: vote(4, 'peer-b'),
        want: { granted: false, reason: 'already-voted', persist: false }
      },
      {
        name: 'a candidate denies a rival in its own term: it voted for itself',
        state: state(4, 'candidate', SELF),
        req: vote(4, 'peer-b'),
        want: { granted: false, reason: 'already-voted', persist: false }
      },
      {
        name: 'a candidate votes for a rival in a higher term, stepping down',
        state: state(4, 'candidate', SELF),
        req: vote(5, 'peer-b'),
        want: { granted: true, reason: 'granted', persist: true, next: state(5, 'follower', 'peer-b') }
      },
      {
        name: 'denies a stale term',
        state: state(4),
        req: vote(3, 'peer-a'),
        want: { granted: false, reason: 'stale-term', persist: false }
      },
      {
        name: 'denies a stale term even when it has not voted and hears no leader',
        state: state(4, 'candidate', null),
        req: vote(1, 'peer-a'),
        want: { granted: false, reason: 'stale-term', persist: false }
      },
      {
        name: 'denies a higher term while a live leader is heard, and does not adopt the term',
        state: state(4, 'follower', 'peer-l', 'peer-l'),
        req: vote(9, 'peer-a'),
        leaderLive: true,
        want: { granted: false, reason: 'leader-alive', persist: false }
      },
      {
        name: 'a live leader denies votes and keeps its term',
        state: state(4, 'leader', SELF, SELF),
        req: vote(5, 'peer-a'),
        leaderLive: true,
        want: { granted: false, reason: 'leader-alive', persist: false }
      }
    ]

    for (const c of cases) {
      it(c.name, () => {
        const before = structuredClone(c.state)
        const got = decideVote(c.state, c.req, view(c.leaderLive))
        assert.equal(got.granted, c.want.granted)
        assert.equal(got.reason, c.want.reason)
        assert.equal(got.persist, c.want.persist)
        assert.deepEqual(got.next, c.want.next ?? c.state)
        assert.deepEqual(c.state, before, 'the input state must not be mutated')
      })
    }

    it('never changes the state on a pre-vote', () => {
      const states = [state(0), state(3, 'follower', 'peer-b', 'peer-l'), state(7, 'candidate', SELF), state(7, 'leader', SELF, SELF)]
      for (const s of states) {
        for (const term of [0, s.term, s.term + 1, s.term + 5]) {
          for (const leaderLive of [false, true]) {
            const got = decideVote(s, vote(term, 'peer-a', 'prevote'), view(leaderLive))
            assert.equal(got.next, s)
            assert.equal(got.persist, false)
          }
        }
      }
    })

    it('keeps one vote per term across a restart', () => {
      const first = decideVote(state(4), vote(5, 'peer-a'), view())
      assert.equal(first.granted, true)
      assert.equal(first.persist, true)

      const second = decideVote(reload(first.next), vote(5, 'peer-b'), view())
      assert.equal(second.granted, false)
      assert.equal(second.reason, 'already-voted')

      const retry = decideVote(reload(first.next), vote(5, 'peer-a'), view())
      assert.equal(retry.granted, true)
    })
  })

  describe('startCandidacy', () => {
    const cases: Array<{ name: string, from: ElectionState, want: ElectionState }> = [
      { name: 'from the initial state', from: initialState(), want: state(1, 'candidate', SELF, null) },
      { name: 'from a follower with a leader and a vote', from: state(6, 'follower', 'peer-b', 'peer-l'), want: state(7, 'candidate', SELF, null) },
      { name: 'from a candidate whose election timed out', from: state(7, 'candidate', SELF), want: state(8, 'candidate', SELF, null) }
    ]
    for (const c of cases) {
      it(c.name, () => assert.deepEqual(startCandidacy(c.from, SELF), c.want))
    }
  })

  describe('quorumSize and hasQuorum', () => {
    const cases: Array<{ alive: number, quorum: number }> = [
      { alive: 1, quorum: 1 },
      { alive: 2, quorum: 2 },
      { alive: 3, quorum: 2 },
      { alive: 4, quorum: 3 },
      { alive: 5, quorum: 3 },
      { alive: 6, quorum: 4 },
      { alive: 7, quorum: 4 }
    ]
    for (const c of cases) {
      it(`needs ${c.quorum} of ${c.alive} alive`, () => {
        assert.equal(quorumSize(c.alive), c.quorum)
        assert.equal(hasQuorum(c.quorum, c.alive), true)
        assert.equal(hasQuorum(c.quorum - 1, c.alive), false)
        // Two disjoint groups of voters can never both reach it.
        assert.ok(2 * c.quorum > c.alive)
      })
    }

    it('treats fewer than one alive peer as the candidate alone', () => {
      assert.equal(quorumSize(0), 1)
      assert.equal(hasQuorum(1, 0), true)
    })
  })

  describe('becomeLeader', () => {
    const cases: Array<{ name: string, from: ElectionState, want: ElectionState }> = [
      { name: 'a candidate that voted for itself leads', from: state(5, 'candidate', SELF), want: state(5, 'leader', SELF, SELF) },
      { name: 'a candidate that stepped down meanwhile does not', from: state(5, 'follower', SELF, 'peer-l'), want: state(5, 'follower', SELF, 'peer-l') },
      { name: 'a follower that voted for another does not', from: state(6, 'follower', 'peer-b'), want: state(6, 'follower', 'peer-b') },
      { name: 'a leader stays as it is', from: state(5, 'leader', SELF, SELF), want: state(5, 'leader', SELF, SELF) }
    ]
    for (const c of cases) {
      it(c.name, () => assert.deepEqual(becomeLeader(c.from, SELF), c.want))
    }
  })

  describe('observe', () => {
    const cases: Array<{
      name: string
      state: ElectionState
      msg: { peerId: string, term: number, role: Role }
      self?: string
      want: { next?: ElectionState, changed: boolean, persist: boolean, steppedDown: boolean }
    }> = [
      {
        name: 'ignores its own messages',
        state: state(3, 'candidate', SELF),
        msg: { peerId: SELF, term: 9, role: 'leader' },
        want: { changed: false, persist: false, steppedDown: false }
      },
      {
        name: 'ignores a lower term',
        state: state(5, 'leader', SELF, SELF),
        msg: { peerId: 'peer-z', term: 4, role: 'leader' },
        want: { changed: false, persist: false, steppedDown: false }
      },
      {
        name: 'a leader steps down at once on a higher term',
        state: state(5, 'leader', SELF, SELF),
        msg: { peerId: 'peer-a', term: 6, role: 'follower' },
        want: { next: state(6, 'follower', null, null), changed: true, persist: true, steppedDown: true }
      },
      {
        name: 'a candidate steps down on a higher term and follows its leader',
        state: state(5, 'candidate', SELF),
        msg: { peerId: 'peer-a', term: 7, role: 'leader' },
        want: { next: state(7, 'follower', null, 'peer-a'), changed: true, persist: true, steppedDown: true }
      },
      {
        name: 'a follower adopts a higher term, clearing its vote',
        state: state(5, 'follower', 'peer-b', 'peer-b'),
        msg: { peerId: 'peer-c', term: 6, role: 'candidate' },
        want: { next: state(6, 'follower', null, null), changed: true, persist: true, steppedDown: false }
      },
      {
        name: 'a follower adopts the leader of its term',
        state: state(5, 'follower', 'peer-a'),
        msg: { peerId: 'peer-a', term: 5, role: 'leader' },
        want: { next: state(5, 'follower', 'peer-a', 'peer-a'), changed: true, persist: false, steppedDown: false }
      },
      {
        name: 'a follower already following that leader is unchanged',
        state: state(5, 'follower', 'peer-a', 'peer-a'),
        msg: { peerId: 'peer-a', term: 5, role: 'leader' },
        want: { changed: false, persist: false, steppedDown: false }
      },
      {
        name: 'a follower ignores an equal-term follower or candidate',
        state: state(5, 'follower', 'peer-a', 'peer-a'),
        msg: { peerId: 'peer-c', term: 5, role: 'candidate' },
        want: { changed: false, persist: false, steppedDown: false }
      },
      {
        name: 'a candidate steps down to the leader of its term, keeping its own vote',
        state: state(5, 'candidate', SELF),
        msg: { peerId: 'peer-a', term: 5, role: 'leader' },
        want: { next: state(5, 'follower', SELF, 'peer-a'), changed: true, persist: false, steppedDown: true }
      },
      {
        name: 'a leader yields to an equal-term leader with a higher peer ID',
        state: state(5, 'leader', SELF, SELF),
        msg: { peerId: 'peer-z', term: 5, role: 'leader' },
        want: { next: state(5, 'follower', SELF, 'peer-z'), changed: true, persist: false, steppedDown: true }
      },
      {
        name: 'a leader keeps the lead over an equal-term leader with a lower peer ID',
        state: state(5, 'leader', SELF, SELF),
        msg: { peerId: 'peer-a', term: 5, role: 'leader' },
        want: { changed: false, persist: false, steppedDown: false }
      },
      {
        name: 'a leader ignores an equal-term follower',
        state: state(5, 'leader', SELF, SELF),
        msg: { peerId: 'peer-z', term: 5, role: 'follower' },
        want: { changed: false, persist: false, steppedDown: false }
      }
    ]

    for (const c of cases) {
      it(c.name, () => {
        const got = observe(c.state, c.msg, c.self ?? SELF)
        assert.deepEqual(got, { next: c.want.next ?? c.state, ...c.want })
      })
    }

    it('resolves two equal-term leaders the same way on both sides', () => {
      // After a partition heals, each leader hears the other's heartbeat; exactly one must remain.
      const ids = ['12D3KooWA', '12D3KooWB', 'QmX', 'peer-10', 'peer-9']
      for (const a of ids) {
        for (const b of ids) {
          if (a === b) continue
          const aSide = observe(state(4, 'leader', a, a), { peerId: b, term: 4, role: 'leader' }, a)
          const bSide = observe(state(4, 'leader', b, b), { peerId: a, term: 4, role: 'leader' }, b)
          const leaders = [aSide, bSide].filter(o => o.next.role === 'leader')
          assert.equal(leaders.length, 1, `${a} vs ${b}`)
          assert.equal(leaders[0]?.next.leader, a > b ? a : b)
          assert.equal((a > b ? bSide : aSide).next.leader, a > b ? a : b)
        }
      }
    })
  })

  describe('simulation', () => {
    // Five peers see each other alive: three voters and two candidates that start campaigning in the same term.
    // Every vote request reaches every voter, in every possible order, and the candidates also ask each other.
    // A vote is one per term, so the two candidates can never both collect quorumSize(5) = 3 votes.
    const voters = ['peer-a', 'peer-b', 'peer-c']
    const candidates = ['peer-x', 'peer-y']
    const alive = voters.length + candidates.length

    function permutations<T> (items: T[]): T[][] {
      if (items.length <= 1) return [items]
      return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map(rest => [item, ...rest]))
    }

    it('lets exactly one of two same-term candidates reach a quorum, in every delivery order', () => {
      const requests = candidates.flatMap(c => [...voters, ...candidates].filter(v => v !== c).map(voter => ({ from: c, to: voter })))
      let orders = 0
      for (const order of permutations(requests)) {
        const peers = new Map<string, ElectionState>()
        for (const v of voters) peers.set(v, state(2))
        for (const c of candidates) peers.set(c, startCandidacy(state(2), c))
        const votes = new Map(candidates.map(c => [c, new Set([c])]))

        for (const { from, to } of order) {
          const d = decideVote(peers.get(to) ?? initialState(), vote(3, from), view(false, to))
          // Persist, then answer: the next request sees the persisted state.
          if (d.persist) peers.set(to, reload(d.next))
          if (d.granted) votes.get(from)?.add(to)
        }

        const winners = candidates.filter(c => hasQuorum(votes.get(c)?.size ?? 0, alive))
        assert.equal(winners.length, 1, `order ${order.map(r => `${r.from}->${r.to}`).join(', ')}`)
        orders++
      }
      assert.equal(orders, 40320)
    })
  })
})
