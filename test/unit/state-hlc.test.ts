import assert from 'node:assert/strict'
import { compareHlc, DEFAULT_MAX_DRIFT_MS, HybridClock, successor, type Hlc } from '../../node/state/hlc.js'

const h = (wall: number, counter: number, peer = 'b'): Hlc => ({ wall, counter, peer })

/** A clock whose wall time the test sets. */
function manual (start: number): { clock: HybridClock, set: (ms: number) => void } {
  let now = start
  return { clock: new HybridClock('b', () => now), set: (ms) => { now = ms } }
}

describe('hybrid logical clock', () => {
  describe('compareHlc', () => {
    const cases: Array<{ name: string, a: Hlc, b: Hlc, want: -1 | 0 | 1 }> = [
      { name: 'wall decides first', a: h(1, 9, 'z'), b: h(2, 0, 'a'), want: -1 },
      { name: 'then the counter', a: h(5, 2, 'a'), b: h(5, 1, 'z'), want: 1 },
      { name: 'then the peer ID', a: h(5, 1, 'a'), b: h(5, 1, 'b'), want: -1 },
      { name: 'peer IDs compare as strings, not numbers', a: h(5, 1, '10'), b: h(5, 1, '9'), want: -1 },
      { name: 'the same timestamp', a: h(5, 1, 'a'), b: h(5, 1, 'a'), want: 0 }
    ]
    for (const c of cases) {
      it(c.name, () => {
        assert.equal(Math.sign(compareHlc(c.a, c.b)), c.want)
        assert.equal(Math.sign(compareHlc(c.b, c.a)), -c.want || 0)
      })
    }
  })

  describe('now()', () => {
    // Each step sets the wall clock and takes a timestamp.
    const cases: Array<{ name: string, walls: number[], want: Array<[number, number]> }> = [
      { name: 'follows the wall clock, counter 0', walls: [100, 101, 105], want: [[100, 0], [101, 0], [105, 0]] },
      { name: 'counts within one millisecond', walls: [100, 100, 100], want: [[100, 0], [100, 1], [100, 2]] },
      { name: 'never goes back when the wall clock does', walls: [100, 90, 95, 101], want: [[100, 0], [100, 1], [100, 2], [101, 0]] },
      { name: 'ignores fractions of a millisecond', walls: [100.2, 100.9], want: [[100, 0], [100, 1]] }
    ]
    for (const c of cases) {
      it(c.name, () => {
        const { clock, set } = manual(0)
        const got = c.walls.map(w => { set(w); const t = clock.now(); return [t.wall, t.counter] })
        assert.deepEqual(got, c.want)
      })
    }

    it('stamps its own peer ID', () => {
      assert.equal(new HybridClock('me', () => 1).now().peer, 'me')
    })
  })

  describe('observe()', () => {
    // Kulkarni et al.'s receive rule: l = max(l, l_m, pt); c from whichever of l and l_m supplied the maximum.
    const cases: Array<{ name: string, local: [number, number], pt: number, remote: [number, number], want: [number, number], adopted?: boolean }> = [
      { name: 'the wall clock is ahead of both: counter resets', local: [100, 3], pt: 200, remote: [150, 7], want: [200, 0] },
      { name: 'the remote is ahead: its counter + 1', local: [100, 3], pt: 120, remote: [150, 7], want: [150, 8] },
      { name: 'we are ahead: our counter + 1', local: [160, 3], pt: 120, remote: [150, 7], want: [160, 4] },
      { name: 'same wall: the larger counter + 1', local: [150, 3], pt: 120, remote: [150, 7], want: [150, 8] },
      { name: 'same wall, ours larger', local: [150, 9], pt: 120, remote: [150, 7], want: [150, 10] },
      { name: 'a remote just inside the drift bound is adopted', local: [100, 0], pt: 100, remote: [100 + DEFAULT_MAX_DRIFT_MS, 2], want: [100 + DEFAULT_MAX_DRIFT_MS, 3] },
      { name: 'a remote beyond the drift bound is not adopted', local: [100, 0], pt: 100, remote: [100 + DEFAULT_MAX_DRIFT_MS + 1, 2], want: [100, 0], adopted: false },
      { name: 'a remote a year ahead is not adopted', local: [100, 5], pt: 100, remote: [100 + 365 * 86_400_000, 0], want: [100, 5], adopted: false }
    ]
    for (const c of cases) {
      it(c.name, () => {
        const { clock, set } = manual(c.local[0])
        clock.now()
        // Bring the clock to the local state: repeated ticks within one millisecond raise the counter.
        for (let i = 0; i < c.local[1]; i++) clock.now()
        assert.deepEqual([clock.last.wall, clock.last.counter], c.local)
        set(c.pt)
        assert.equal(clock.observe(h(c.remote[0], c.remote[1], 'x')), c.adopted ?? true)
        assert.deepEqual([clock.last.wall, clock.last.counter], c.want)
      })
    }

    it('the next timestamp is after everything observed', () => {
      const { clock, set } = manual(100)
      set(100)
      clock.observe(h(150, 4, 'z'))
      const t = clock.now()
      assert.ok(compareHlc(t, h(150, 4, 'z')) > 0)
    })

    it('honours a custom drift bound', () => {
      const clock = new HybridClock('b', () => 1000, { maxDriftMs: 10 })
      assert.equal(clock.observe(h(1011, 0)), false)
      assert.equal(clock.observe(h(1010, 0)), true)
    })

    it('refuses non-finite timestamps', () => {
      const { clock } = manual(100)
      assert.equal(clock.observe(h(Infinity, 0)), false)
      assert.equal(clock.observe(h(100, NaN)), false)
      assert.deepEqual([clock.last.wall, clock.last.counter], [0, 0])
    })

    it('stays monotonic through any mix of local events, receives and wall-clock jumps', () => {
      let seed = 7
      const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
      let wall = 1_000_000
      const clock = new HybridClock('b', () => wall)
      let previous = clock.now()
      for (let i = 0; i < 5000; i++) {
        wall += Math.floor(rnd() * 20) - 8
        if (rnd() < 0.4) clock.observe(h(wall + Math.floor(rnd() * 200) - 100, Math.floor(rnd() * 5), 'x'))
        const t = clock.now()
        assert.ok(compareHlc(t, previous) > 0, `step ${i}: ${JSON.stringify(t)} not after ${JSON.stringify(previous)}`)
        // Bounded drift: never more than the largest remote skew (100 ms) ahead of the wall clock.
        assert.ok(t.wall - wall <= 200, `step ${i}: ${t.wall - wall} ms ahead`)
        previous = t
      }
    })
  })

  describe('successor', () => {
    const cases: Array<{ name: string, after: Hlc, peer: string, want: Hlc }> = [
      { name: 'a larger peer ID only needs the same wall and counter', after: h(5, 1, 'a'), peer: 'b', want: h(5, 1, 'b') },
      { name: 'a smaller peer ID needs the next counter', after: h(5, 1, 'c'), peer: 'b', want: h(5, 2, 'b') },
      { name: 'the same peer needs the next counter', after: h(5, 1, 'b'), peer: 'b', want: h(5, 2, 'b') }
    ]
    for (const c of cases) {
      it(c.name, () => {
        const got = successor(c.after, c.peer)
        assert.deepEqual(got, c.want)
        assert.ok(compareHlc(got, c.after) > 0)
      })
    }
  })
})
