import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import type { Hlc } from '../../node/state/hlc.js'
import {
  compareVersions, diff, digestLine, digestOf, mergeInto, tombstoneExpired, wins, type Entry, type Version
} from '../../node/state/merge.js'

const h = (wall: number, counter = 0, peer = 'p1'): Hlc => ({ wall, counter, peer })
function e (key: string, value: unknown, version: Hlc, term?: number): Entry {
  return term === undefined ? { key, value, version } : { key, value, version, term }
}

/** A seeded shuffle, so a failing permutation can be replayed. */
function shuffled<T> (items: T[], seed: number): T[] {
  const out = [...items]
  let s = seed
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

function permutations<T> (items: T[]): T[][] {
  if (items.length <= 1) return [items]
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map(rest => [x, ...rest]))
}

const asObject = (m: Map<string, Entry>): Record<string, Entry> => Object.fromEntries([...m.entries()].sort(([a], [b]) => a < b ? -1 : 1))

describe('replicated state merge', () => {
  describe('wins', () => {
    const cases: Array<{ name: string, incoming: Entry, local: Entry | undefined, want: boolean }> = [
      { name: 'anything beats nothing', incoming: e('k', 1, h(1)), local: undefined, want: true },
      { name: 'a tombstone beats nothing', incoming: e('k', null, h(1)), local: undefined, want: true },
      { name: 'a higher wall time wins', incoming: e('k', 'new', h(2)), local: e('k', 'old', h(1)), want: true },
      { name: 'a lower wall time loses', incoming: e('k', 'old', h(1)), local: e('k', 'new', h(2)), want: false },
      { name: 'same wall: the higher counter wins', incoming: e('k', 'b', h(5, 2)), local: e('k', 'a', h(5, 1)), want: true },
      { name: 'same wall and counter: the higher peer ID wins', incoming: e('k', 'b', h(5, 1, 'p2')), local: e('k', 'a', h(5, 1, 'p1')), want: true },
      { name: 'same wall and counter: the lower peer ID loses', incoming: e('k', 'a', h(5, 1, 'p1')), local: e('k', 'b', h(5, 1, 'p2')), want: false },
      { name: 'the same entry again does not win (idempotent)', incoming: e('k', 'a', h(5)), local: e('k', 'a', h(5)), want: false },
      { name: 'a newer tombstone beats a value', incoming: e('k', null, h(6)), local: e('k', 'a', h(5)), want: true },
      { name: 'an older tombstone loses to a value', incoming: e('k', null, h(4)), local: e('k', 'a', h(5)), want: false },
      { name: 'a newer value beats a tombstone', incoming: e('k', 'again', h(7)), local: e('k', null, h(6)), want: true },
      { name: 'an older value loses to a tombstone', incoming: e('k', 'stale', h(5)), local: e('k', null, h(6)), want: false },
      { name: 'fenced: a higher term wins over a newer clock', incoming: e('k', 'leader2', h(1), 2), local: e('k', 'leader1', h(9_000), 1), want: true },
      { name: 'fenced: a lower term loses to an older clock', incoming: e('k', 'leader1', h(9_000), 1), local: e('k', 'leader2', h(1), 2), want: false },
      { name: 'fenced: equal terms fall back to the clock', incoming: e('k', 'b', h(3), 2), local: e('k', 'a', h(2), 2), want: true },
      { name: 'fenced: equal terms, older clock loses', incoming: e('k', 'a', h(2), 2), local: e('k', 'b', h(3), 2), want: false },
      { name: 'fenced: term 0 is a term', incoming: e('k', 'b', h(1), 0), local: e('k', 'a', h(9)), want: true },
      { name: 'fenced beats unfenced whatever the clocks', incoming: e('k', 'b', h(1), 1), local: e('k', 'a', h(9)), want: true },
      { name: 'unfenced loses to fenced whatever the clocks', incoming: e('k', 'a', h(9)), local: e('k', 'b', h(1), 1), want: false },
      { name: 'a fenced tombstone at a higher term deletes', incoming: e('k', null, h(1), 3), local: e('k', 'a', h(9), 2), want: true },
      { name: 'same version, different values: the larger JSON text wins', incoming: e('k', 'b', h(5)), local: e('k', 'a', h(5)), want: true },
      { name: 'same version, different values: the smaller JSON text loses', incoming: e('k', 'a', h(5)), local: e('k', 'b', h(5)), want: false },
      { name: 'same version: a value beats a tombstone', incoming: e('k', 0, h(5)), local: e('k', null, h(5)), want: true }
    ]
    for (const c of cases) {
      it(c.name, () => {
        assert.equal(wins(c.incoming, c.local), c.want)
        if (c.local !== undefined && c.want) assert.equal(wins(c.local, c.incoming), false, 'exactly one of two entries wins')
      })
    }
  })

  describe('compareVersions is a total order', () => {
    const versions: Version[] = [
      { version: h(1) }, { version: h(9) }, { version: h(3, 1, 'p2') }, { version: h(1), term: 2 }, { version: h(5), term: 1 },
      { version: h(9_000), term: 1 }, { version: h(2), term: 0 }, { version: h(3, 1, 'p1') }
    ]
    it('is antisymmetric and transitive over a mixed set (fenced and unfenced)', () => {
      for (const a of versions) {
        for (const b of versions) {
          assert.equal(Math.sign(compareVersions(a, b)), -Math.sign(compareVersions(b, a)) || 0)
          for (const c of versions) {
            if (compareVersions(a, b) > 0 && compareVersions(b, c) > 0) assert.ok(compareVersions(a, c) > 0, `${JSON.stringify([a, b, c])}`)
          }
        }
      }
    })
  })

  describe('merging is commutative, associative and idempotent', () => {
    // Conflicts on one key from three peers, fenced keys, tombstones, a resurrection and a duplicate.
    const entries: Entry[] = [
      e('a', 1, h(10, 0, 'p1')),
      e('a', 2, h(10, 0, 'p2')),
      e('a', 3, h(9, 5, 'p3')),
      e('b', { x: 1 }, h(20)),
      e('b', null, h(21, 0, 'p2')),
      e('b', { x: 2 }, h(22, 0, 'p3')),
      e('place/s/0', 'n1', h(100, 0, 'p1'), 1),
      e('place/s/0', 'n2', h(50, 0, 'p2'), 2),
      e('place/s/0', 'n3', h(60, 0, 'p3'), 2),
      e('c', null, h(5)),
      e('c', 'old', h(4)),
      e('a', 2, h(10, 0, 'p2'))
    ]
    const reference = new Map<string, Entry>()
    mergeInto(reference, entries)

    it('keeps the winners one would expect', () => {
      assert.deepEqual(Object.fromEntries([...reference].map(([k, v]) => [k, v.value])), { a: 2, b: { x: 2 }, 'place/s/0': 'n3', c: null })
    })

    it('gives the same map for every permutation of a conflicting subset', () => {
      const subset = [entries[0], entries[1], entries[2], entries[6], entries[7], entries[8]]
      const want = new Map<string, Entry>()
      mergeInto(want, subset)
      for (const order of permutations(subset)) {
        const m = new Map<string, Entry>()
        mergeInto(m, order)
        assert.deepEqual(asObject(m), asObject(want))
      }
    })

    it('gives the same map for 500 random orders of all entries', () => {
      for (let seed = 1; seed <= 500; seed++) {
        const m = new Map<string, Entry>()
        mergeInto(m, shuffled(entries, seed))
        assert.deepEqual(asObject(m), asObject(reference), `seed ${seed}`)
      }
    })

    it('merging the same entries again changes nothing', () => {
      const m = new Map(reference)
      assert.deepEqual(mergeInto(m, entries), [])
      assert.deepEqual(asObject(m), asObject(reference))
    })

    it('two replicas that saw different halves converge when they exchange their maps', () => {
      for (let seed = 1; seed <= 100; seed++) {
        const order = shuffled(entries, seed)
        const left = new Map<string, Entry>()
        const right = new Map<string, Entry>()
        mergeInto(left, order.slice(0, 5))
        mergeInto(right, order.slice(5))
        mergeInto(left, right.values())
        mergeInto(right, [...left.values()])
        assert.deepEqual(asObject(left), asObject(reference), `seed ${seed}`)
        assert.deepEqual(asObject(right), asObject(reference), `seed ${seed}`)
      }
    })

    it('reports exactly the entries that took effect', () => {
      const m = new Map<string, Entry>()
      const applied = mergeInto(m, [e('k', 1, h(2)), e('k', 0, h(1)), e('k', 2, h(3)), e('k', 2, h(3))])
      assert.deepEqual(applied.map(x => x.value), [1, 2])
    })
  })

  describe('digestOf', () => {
    it('hashes the sorted "key@wall.counter.peer.term" lines', () => {
      const want = createHash('sha256').update('a@1.0.p1.-\nb@2.3.p2.4\n').digest('hex')
      assert.equal(digestOf([e('b', 'x', h(2, 3, 'p2'), 4), e('a', 'y', h(1, 0, 'p1'))]), want)
      assert.equal(digestLine('a', { version: h(1, 0, 'p1') }), 'a@1.0.p1.-')
    })

    const base = [e('a', 1, h(1)), e('b', null, h(2)), e('c', 'x', h(3), 1)]
    const cases: Array<{ name: string, other: Entry[], same: boolean }> = [
      { name: 'does not depend on order', other: [base[2], base[0], base[1]], same: true },
      { name: 'does not depend on values (versions identify them)', other: [e('a', 99, h(1)), base[1], base[2]], same: true },
      { name: 'changes with a wall time', other: [e('a', 1, h(4)), base[1], base[2]], same: false },
      { name: 'changes with a counter', other: [e('a', 1, h(1, 1)), base[1], base[2]], same: false },
      { name: 'changes with a peer', other: [e('a', 1, h(1, 0, 'p9')), base[1], base[2]], same: false },
      { name: 'changes with a term', other: [base[0], base[1], e('c', 'x', h(3), 2)], same: false },
      { name: 'counts tombstones', other: [base[0], base[2]], same: false },
      { name: 'changes with a key', other: [e('z', 1, h(1)), base[1], base[2]], same: false }
    ]
    for (const c of cases) {
      it(c.name, () => { assert.equal(digestOf(c.other) === digestOf(base), c.same) })
    }

    it('accepts [key, version] pairs as well as entries', () => {
      assert.equal(digestOf(base.map(x => [x.key, x] as [string, Version])), digestOf(base))
    })
  })

  describe('diff', () => {
    const local = new Map<string, Version>([
      ['a', { version: h(5) }],
      ['b', { version: h(5) }],
      ['c', { version: h(5), term: 2 }],
      ['d', { version: h(5) }]
    ])
    const cases: Array<{ name: string, remote: Array<[string, Version]>, want: string[] }> = [
      { name: 'nothing when equal', remote: [...local], want: [] },
      { name: 'a key we lack', remote: [['z', { version: h(1) }]], want: ['z'] },
      { name: 'a newer remote version', remote: [['a', { version: h(6) }]], want: ['a'] },
      { name: 'not an older remote version', remote: [['a', { version: h(4) }]], want: [] },
      { name: 'a higher term with an older clock', remote: [['c', { version: h(1), term: 3 }]], want: ['c'] },
      { name: 'not a lower term with a newer clock', remote: [['c', { version: h(9), term: 1 }]], want: [] },
      { name: 'sorted by key', remote: [['y', { version: h(1) }], ['b', { version: h(6, 0, 'p2') }], ['x', { version: h(1) }]], want: ['b', 'x', 'y'] }
    ]
    for (const c of cases) {
      it(c.name, () => { assert.deepEqual(diff(local, c.remote), c.want) })
    }
  })

  describe('tombstoneExpired', () => {
    const cases: Array<{ name: string, entry: Entry, wall: number, ttl: number, want: boolean }> = [
      { name: 'a value never expires', entry: e('k', 1, h(0)), wall: 1e12, ttl: 10, want: false },
      { name: 'a fresh tombstone is kept', entry: e('k', null, h(1000)), wall: 1005, ttl: 10, want: false },
      { name: 'a tombstone exactly at the TTL is kept', entry: e('k', null, h(1000)), wall: 1010, ttl: 10, want: false },
      { name: 'an older tombstone expires', entry: e('k', null, h(1000)), wall: 1011, ttl: 10, want: true },
      { name: 'a tombstone from the future is kept', entry: e('k', null, h(5000)), wall: 1000, ttl: 10, want: false }
    ]
    for (const c of cases) {
      it(c.name, () => { assert.equal(tombstoneExpired(c.entry, c.wall, c.ttl), c.want) })
    }
  })
})
