import assert from 'node:assert/strict'
import {
  DEFAULT_AWARENESS, awarenessAfterLag, awarenessAfterProbe, heard, judge, scaled, stalled, suspicionTimeout
} from '../../node/membership/detector.js'
import type { DetectorTimings, MemberClock, MemberState, ProbeOutcome, Verdict } from '../../node/membership/detector.js'

const T: DetectorTimings = { suspectAfter: 1_000, suspicionMin: 2_000, suspicionMax: 10_000, probeTimeout: 500 }

function clock (lastHeard: number, state: MemberState = 'alive', suspectSince: number | null = null, confirmations = 0): MemberClock {
  return { lastHeard, suspectSince, confirmations, state }
}

describe('failure detector', () => {
  describe('suspicionTimeout', () => {
    const cases: Array<{ name: string, confirmations: number, expected: number, want: number }> = [
      { name: 'no confirmation: the longest suspicion', confirmations: 0, expected: 3, want: 10_000 },
      // 10000 − 8000·log 2 / log 4 = 10000 − 4000
      { name: 'one of three confirmations', confirmations: 1, expected: 3, want: 6_000 },
      // 10000 − 8000·log 3 / log 4
      { name: 'two of three confirmations', confirmations: 2, expected: 3, want: 10_000 - 8_000 * Math.log(3) / Math.log(4) },
      { name: 'all expected confirmations: the shortest suspicion', confirmations: 3, expected: 3, want: 2_000 },
      { name: 'more confirmations than expected stays at the shortest', confirmations: 9, expected: 3, want: 2_000 },
      // 10000 − 8000·log 8 / log 16 = 10000 − 6000
      { name: 'seven of fifteen', confirmations: 7, expected: 15, want: 4_000 },
      { name: 'one of one', confirmations: 1, expected: 1, want: 2_000 },
      { name: 'nothing expected: the shortest suspicion', confirmations: 0, expected: 0, want: 2_000 },
      { name: 'a negative expectation counts as none', confirmations: 0, expected: -1, want: 2_000 },
      { name: 'a negative count is taken as no confirmation', confirmations: -3, expected: 3, want: 10_000 }
    ]
    for (const c of cases) {
      it(c.name, () => {
        const got = suspicionTimeout(c.confirmations, c.expected, T.suspicionMin, T.suspicionMax)
        assert.ok(Math.abs(got - c.want) < 1e-6, `got ${got}, want ${c.want}`)
      })
    }

    it('shrinks with every further confirmation', () => {
      let previous = Infinity
      for (let k = 0; k <= 5; k++) {
        const got = suspicionTimeout(k, 5, T.suspicionMin, T.suspicionMax)
        assert.ok(got < previous, `k=${k}`)
        previous = got
      }
    })
  })

  describe('scaled', () => {
    const cases: Array<{ ms: number, awareness: number, want: number }> = [
      { ms: 1_000, awareness: 0, want: 1_000 },
      { ms: 1_000, awareness: 1, want: 2_000 },
      { ms: 1_000, awareness: 3, want: 4_000 },
      { ms: 250, awareness: 8, want: 2_250 },
      { ms: 0, awareness: 5, want: 0 },
      { ms: 1_000, awareness: -2, want: 1_000 }
    ]
    for (const c of cases) {
      it(`${c.ms} ms at awareness ${c.awareness} is ${c.want} ms`, () => assert.equal(scaled(c.ms, c.awareness), c.want))
    }
  })

  describe('awarenessAfterLag', () => {
    const cases: Array<{ name: string, score: number, lagMs: number, want: number }> = [
      { name: 'no lag lowers the score', score: 3, lagMs: 0, want: 2 },
      { name: 'lag under half the threshold lowers it', score: 3, lagMs: 49, want: 2 },
      { name: 'lag of exactly half the threshold keeps it', score: 3, lagMs: 50, want: 3 },
      { name: 'lag at the threshold keeps it', score: 3, lagMs: 100, want: 3 },
      { name: 'lag above the threshold raises it by 1', score: 3, lagMs: 101, want: 4 },
      { name: 'lag of exactly four times the threshold raises it by 1', score: 3, lagMs: 400, want: 4 },
      { name: 'lag above four times the threshold raises it by 2', score: 3, lagMs: 401, want: 5 },
      { name: 'never goes below 0', score: 0, lagMs: 0, want: 0 },
      { name: 'never goes above max', score: 8, lagMs: 150, want: 8 },
      { name: 'a jump of 2 is clamped at max', score: 7, lagMs: 5_000, want: 8 }
    ]
    for (const c of cases) {
      it(c.name, () => assert.equal(awarenessAfterLag(c.score, c.lagMs), c.want))
    }

    it('uses the given config', () => {
      const cfg = { max: 2, lagThresholdMs: 10 }
      assert.equal(awarenessAfterLag(0, 11, cfg), 1)
      assert.equal(awarenessAfterLag(1, 41, cfg), 2)
      assert.equal(awarenessAfterLag(2, 41, cfg), 2)
      assert.equal(awarenessAfterLag(2, 4, cfg), 1)
    })

    it('defaults to max 8 and a 100 ms threshold', () => {
      assert.deepEqual(DEFAULT_AWARENESS, { max: 8, lagThresholdMs: 100 })
    })
  })

  describe('awarenessAfterProbe', () => {
    const cases: Array<{ score: number, outcome: ProbeOutcome, want: number }> = [
      { score: 3, outcome: 'ack', want: 2 },
      { score: 0, outcome: 'ack', want: 0 },
      { score: 3, outcome: 'nack', want: 3 },
      { score: 8, outcome: 'nack', want: 8 },
      { score: 3, outcome: 'silent', want: 4 },
      { score: 8, outcome: 'silent', want: 8 }
    ]
    for (const c of cases) {
      it(`${c.outcome} moves ${c.score} to ${c.want}`, () => assert.equal(awarenessAfterProbe(c.score, c.outcome), c.want))
    }

    it('clamps at the configured max', () => {
      assert.equal(awarenessAfterProbe(2, 'silent', { max: 2, lagThresholdMs: 100 }), 2)
    })
  })

  describe('judge', () => {
    // Suspicion timeouts with T and 3 expected confirmations: 10 s with none, 6 s with one, 2 s with three.
    const cases: Array<{ name: string, m: MemberClock, now: number, awareness?: number, want: Verdict }> = [
      { name: 'alive when just heard', m: clock(5_000), now: 5_000, want: { state: 'alive', probe: false } },
      { name: 'alive at exactly suspectAfter', m: clock(5_000), now: 6_000, want: { state: 'alive', probe: false } },
      { name: 'suspect past suspectAfter, with a probe', m: clock(5_000), now: 6_001, want: { state: 'suspect', probe: true } },
      { name: 'a suspect heard from again is alive', m: clock(7_000, 'suspect', 6_500), now: 7_500, want: { state: 'alive', probe: false } },
      { name: 'a suspect stays suspect without a new probe', m: clock(5_000, 'suspect', 6_001), now: 9_000, want: { state: 'suspect', probe: false } },
      { name: 'a suspect just before the suspicion ends', m: clock(5_000, 'suspect', 6_000), now: 15_999, want: { state: 'suspect', probe: false } },
      { name: 'a suspect dies when the suspicion ends', m: clock(5_000, 'suspect', 6_000), now: 16_000, want: { state: 'dead', probe: false } },
      { name: 'one confirmation shortens the suspicion', m: clock(5_000, 'suspect', 6_000, 1), now: 12_000, want: { state: 'dead', probe: false } },
      { name: 'all confirmations: dead after suspicionMin', m: clock(5_000, 'suspect', 6_000, 3), now: 8_000, want: { state: 'dead', probe: false } },
      { name: 'a suspect without a start time is suspect from now', m: clock(5_000, 'suspect', null), now: 50_000, want: { state: 'suspect', probe: false } },
      { name: 'the dead stay dead', m: clock(5_000, 'dead', 6_000), now: 100_000, want: { state: 'dead', probe: false } },
      { name: 'the dead stay dead without a suspicion time', m: clock(5_000, 'dead', null), now: 5_001, want: { state: 'dead', probe: false } },
      { name: 'the dead heard from after their suspicion are alive', m: clock(20_000, 'dead', 6_000), now: 20_500, want: { state: 'alive', probe: false } },
      { name: 'the dead heard from, then silent again, are suspect', m: clock(20_000, 'dead', 6_000), now: 21_001, want: { state: 'suspect', probe: true } },
      // Awareness 1 doubles everything: suspect after 2 s, a lone suspicion lasts 20 s.
      { name: 'awareness 1: still alive at 2× suspectAfter', m: clock(5_000), now: 7_000, awareness: 1, want: { state: 'alive', probe: false } },
      { name: 'awareness 1: suspect past 2× suspectAfter', m: clock(5_000), now: 7_001, awareness: 1, want: { state: 'suspect', probe: true } },
      { name: 'awareness 1: a suspect survives the unscaled suspicion', m: clock(5_000, 'suspect', 7_001), now: 17_001, awareness: 1, want: { state: 'suspect', probe: false } },
      { name: 'awareness 1: a suspect dies after the scaled suspicion', m: clock(5_000, 'suspect', 7_001), now: 27_001, awareness: 1, want: { state: 'dead', probe: false } },
      { name: 'awareness 3: a peer silent for 2× suspectAfter is still alive', m: clock(5_000), now: 7_000, awareness: 3, want: { state: 'alive', probe: false } },
      { name: 'awareness 3: suspect only past 4× suspectAfter', m: clock(5_000), now: 9_001, awareness: 3, want: { state: 'suspect', probe: true } }
    ]
    for (const c of cases) {
      it(c.name, () => assert.deepEqual(judge(c.m, c.now, T, c.awareness ?? 0, 3), c.want))
    }

    it('walks alive → suspect → dead → alive as the caller applies the verdicts', () => {
      let m = heard(0)
      const seen: Array<[number, MemberState, boolean]> = []
      const tick = (now: number): void => {
        const v = judge(m, now, T, 0, 3)
        seen.push([now, v.state, v.probe])
        if (v.state === 'suspect' && m.state !== 'suspect') m = { ...m, state: 'suspect', suspectSince: now }
        else if (v.state !== m.state) m = { ...m, state: v.state }
      }
      for (let now = 0; now <= 13_000; now += 500) tick(now)
      m = heard(13_200)
      tick(13_500)

      const transitions = seen.filter(([, state], i) => i === 0 || seen[i - 1]?.[1] !== state)
      assert.deepEqual(transitions, [
        [0, 'alive', false],
        [1_500, 'suspect', true],
        [11_500, 'dead', false],
        [13_500, 'alive', false]
      ])
      assert.equal(seen.filter(([, , probe]) => probe).length, 1, 'one probe per suspicion')
    })
  })

  describe('stalled', () => {
    const cases: Array<{ name: string, expected: number, actual: number, want: boolean }> = [
      { name: 'on time', expected: 1_000, actual: 1_000, want: false },
      { name: 'a little late', expected: 1_000, actual: 1_300, want: false },
      { name: 'exactly twice the interval', expected: 1_000, actual: 2_000, want: false },
      { name: 'more than twice the interval', expected: 1_000, actual: 2_001, want: true },
      { name: 'short interval: late by the slack is tolerated', expected: 100, actual: 350, want: false },
      { name: 'short interval: late by more than the slack', expected: 100, actual: 351, want: true },
      { name: 'short interval: twice late is not yet a stall', expected: 100, actual: 250, want: false },
      { name: 'early', expected: 1_000, actual: 10, want: false },
      { name: 'a long stall', expected: 500, actual: 30_000, want: true }
    ]
    for (const c of cases) {
      it(`${c.name} (${c.actual} ms for ${c.expected} ms)`, () => assert.equal(stalled(c.expected, c.actual), c.want))
    }
  })
})

describe('judge: suspicion raised on evidence', () => {
  const t = { suspectAfter: 1000, suspicionMin: 200, suspicionMax: 800, probeTimeout: 100 }
  it('stays suspect although the silence is still short, until the member is heard after the suspicion began', () => {
    // The connection dropped and a direct probe failed 10 ms after the last message.
    const m = { lastHeard: 0, suspectSince: 10, confirmations: 0, state: 'suspect' as const }
    assert.equal(judge(m, 100, t, 0, 2).state, 'suspect')
    assert.equal(judge(m, 10 + 800, t, 0, 2).state, 'dead')
    assert.equal(judge({ ...m, confirmations: 2 }, 10 + 200, t, 0, 2).state, 'dead')
    assert.equal(judge({ ...m, lastHeard: 50 }, 100, t, 0, 2).state, 'alive')
  })
})
