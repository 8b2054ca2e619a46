import assert from 'node:assert/strict'
import { describe, it } from 'mocha'
import {
  VivaldiClient,
  distance,
  isValidCoordinate,
  newCoordinate,
  update,
  type VivaldiConfig
} from '../../node/coordinates.js'
import { DIMENSIONS, type Coordinate } from '../../node/wire/schemas.js'

/** Small seeded PRNG, so every simulated run can be replayed exactly. */
function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function coord (head: number[], fields: Partial<Omit<Coordinate, 'vec'>> = {}): Coordinate {
  const vec = [...head, ...new Array<number>(DIMENSIONS - head.length).fill(0)]
  return { vec, error: 1, adjustment: 0, height: 0, ...fields }
}

function norm (v: number[]): number {
  return Math.hypot(...v)
}

function median (xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

function deepFreeze (c: Coordinate): Coordinate {
  Object.freeze(c.vec)
  return Object.freeze(c)
}

interface Mesh {
  /** Ground-truth RTT in ms between nodes i and j. */
  rtt: (i: number, j: number) => number
  size: number
}

/** Nodes on a plane (ms) plus a per-node access latency: a realistic shape, with heights to learn. */
function planarMesh (points: Array<[number, number]>, access: number[]): Mesh {
  return {
    size: points.length,
    rtt: (i, j) => Math.hypot(points[i][0] - points[j][0], points[i][1] - points[j][1]) + access[i] + access[j]
  }
}

/**
 * Every round, each node measures one random other node with ±5 % jitter. Returns the median relative error of all
 * pairwise estimates against the ground truth, and the clients.
 */
function simulate (mesh: Mesh, rounds: number, seed: number, cfg?: VivaldiConfig): { medianError: number, clients: VivaldiClient[] } {
  const rand = mulberry32(seed)
  const clients = Array.from({ length: mesh.size }, () => new VivaldiClient(cfg, rand))
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < mesh.size; i++) {
      let j = Math.floor(rand() * (mesh.size - 1))
      if (j >= i) j++
      const jitter = 1 + (rand() - 0.5) * 0.1
      clients[i].observe(`n${j}`, clients[j].coordinate, mesh.rtt(i, j) * jitter)
    }
  }
  const errors: number[] = []
  for (let i = 0; i < mesh.size; i++) {
    for (let j = 0; j < mesh.size; j++) {
      if (i === j) continue
      errors.push(Math.abs(clients[i].estimateRtt(clients[j].coordinate) - mesh.rtt(i, j)) / mesh.rtt(i, j))
    }
  }
  return { medianError: median(errors), clients }
}

function allRtts (mesh: Mesh): number[] {
  const rtts: number[] = []
  for (let i = 0; i < mesh.size; i++) for (let j = i + 1; j < mesh.size; j++) rtts.push(mesh.rtt(i, j))
  return rtts
}

describe('coordinates', () => {
  describe('newCoordinate', () => {
    const cases: Array<{ name: string, cfg?: VivaldiConfig, error: number, height: number }> = [
      { name: 'defaults', error: 1.5, height: 0.01 },
      { name: 'custom errorMax and heightMin', cfg: { errorMax: 2, heightMin: 0.5 }, error: 2, height: 0.5 }
    ]
    for (const { name, cfg, error, height } of cases) {
      it(`starts at the origin, maximally uncertain (${name})`, () => {
        assert.deepEqual(newCoordinate(cfg), { vec: new Array<number>(DIMENSIONS).fill(0), error, adjustment: 0, height })
      })
    }

    const badConfigs: Array<[VivaldiConfig, RegExp]> = [
      [{ ce: 0 }, /VivaldiConfig\.ce must be in \(0, 1\] \(got 0\)/],
      [{ cc: 1.5 }, /VivaldiConfig\.cc/],
      [{ errorMax: Number.NaN }, /VivaldiConfig\.errorMax/],
      [{ adjustmentWindow: 1.5 }, /VivaldiConfig\.adjustmentWindow/],
      [{ latencyFilterSize: 0 }, /VivaldiConfig\.latencyFilterSize/],
      [{ heightMin: -1 }, /VivaldiConfig\.heightMin/],
      [{ gravityRho: Number.POSITIVE_INFINITY }, /VivaldiConfig\.gravityRho/]
    ]
    for (const [cfg, message] of badConfigs) {
      it(`rejects config ${Object.entries(cfg).map(([key, value]) => `${key} = ${String(value)}`).join(', ')}`, () => {
        assert.throws(() => new VivaldiClient(cfg), (err: unknown) => err instanceof RangeError && message.test(err.message))
      })
    }
  })

  describe('isValidCoordinate', () => {
    const cases: Array<[string, Coordinate, boolean]> = [
      ['a fresh coordinate', newCoordinate(), true],
      ['negative vec entries and adjustment', coord([-3, -4], { adjustment: -2 }), true],
      ['NaN in vec', coord([0, Number.NaN]), false],
      ['Infinity in vec', coord([Number.POSITIVE_INFINITY]), false],
      ['a huge finite vec entry', coord([1e300]), false],
      ['too few dimensions', { ...newCoordinate(), vec: [0, 0, 0] }, false],
      ['too many dimensions', { ...newCoordinate(), vec: new Array<number>(DIMENSIONS + 1).fill(0) }, false],
      ['negative error', coord([], { error: -0.1 }), false],
      ['NaN error', coord([], { error: Number.NaN }), false],
      ['negative height', coord([], { height: -0.1 }), false],
      ['infinite height', coord([], { height: Number.POSITIVE_INFINITY }), false],
      ['NaN adjustment', coord([], { adjustment: Number.NaN }), false]
    ]
    for (const [name, c, valid] of cases) {
      it(`${valid ? 'accepts' : 'rejects'} ${name}`, () => {
        assert.equal(isValidCoordinate(c), valid)
      })
    }
  })

  describe('distance', () => {
    const cases: Array<[string, Coordinate, Coordinate, number]> = [
      ['two origins without height', coord([]), coord([]), 0],
      ['two fresh coordinates: only the minimum heights', newCoordinate(), newCoordinate(), 0.02],
      ['3-4-5 triangle from the origin', coord([3, 4]), coord([]), 5],
      ['3-4-5 triangle, neither at the origin', coord([1, 1]), coord([4, 5]), 5],
      ['uses every dimension', coord([1, 1, 1, 1, 1, 1, 1, 1]), coord([]), Math.sqrt(8)],
      ['heights add', coord([3, 4], { height: 1 }), coord([], { height: 2 }), 8],
      ['positive adjustments add', coord([3, 4], { adjustment: 1 }), coord([], { adjustment: 0.5 }), 6.5],
      ['negative adjustments subtract while the sum stays positive', coord([3, 4], { adjustment: -1 }), coord([], { adjustment: -1.5 }), 2.5],
      ['adjustments are ignored when they would reach zero', coord([3, 4], { adjustment: -2.5 }), coord([], { adjustment: -2.5 }), 5],
      ['adjustments are ignored when they would go negative', coord([3, 4], { adjustment: -3 }), coord([], { adjustment: -3 }), 5]
    ]
    for (const [name, a, b, expected] of cases) {
      it(`${name} (symmetric)`, () => {
        assert.ok(Math.abs(distance(a, b) - expected) < 1e-12, `expected ${expected}, got ${distance(a, b)}`)
        assert.equal(distance(a, b), distance(b, a))
      })
    }
  })

  describe('update', () => {
    const badRtts = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1, -1e-9]
    for (const rtt of badRtts) {
      it(`rejects an RTT of ${rtt}`, () => {
        assert.throws(() => update(newCoordinate(), newCoordinate(), rtt), (err: unknown) => err instanceof RangeError && /rttMs/.test(err.message))
      })
    }

    const badRemotes: Array<[string, Coordinate, RegExp]> = [
      ['NaN in vec', coord([0, 0, Number.NaN]), /remote coordinate vec\[2\] must be a finite number/],
      ['Infinity in vec', coord([Number.NEGATIVE_INFINITY]), /remote coordinate vec\[0\]/],
      ['a huge vec entry', coord([0, 1e200]), /remote coordinate vec\[1\]/],
      ['a huge height', coord([], { height: 1e308 }), /remote coordinate height/],
      ['a negative height', coord([], { height: -5 }), /remote coordinate height/],
      ['a NaN error', coord([], { error: Number.NaN }), /remote coordinate error/],
      ['an infinite adjustment', coord([], { adjustment: Number.POSITIVE_INFINITY }), /remote coordinate adjustment/],
      ['a short vec', { ...newCoordinate(), vec: [1, 2] }, /remote coordinate vec must have 8 entries \(got 2\)/]
    ]
    for (const [name, remote, message] of badRemotes) {
      it(`rejects a remote with ${name}`, () => {
        assert.throws(() => update(newCoordinate(), remote, 10), (err: unknown) => err instanceof RangeError && message.test(err.message))
      })
    }

    it('rejects an invalid local coordinate as well', () => {
      assert.throws(() => update(coord([Number.NaN]), newCoordinate(), 10), /local coordinate vec\[0\]/)
    })

    it('is pure: inputs stay untouched and a new coordinate comes back', () => {
      const local = deepFreeze(coord([1, 2], { height: 0.5 }))
      const remote = deepFreeze(coord([4, 6], { height: 0.5 }))
      const next = update(local, remote, 20, {}, mulberry32(1))
      assert.notEqual(next, local)
      assert.notDeepEqual(next.vec, local.vec)
      assert.deepEqual(local, coord([1, 2], { height: 0.5 }))
    })

    it('separates coincident coordinates along the direction rand picks', () => {
      // weight = 1.5 / (1.5 + 1.5); force = cc * weight * (rtt - distance) = 0.25 * 0.5 * (10 - 0.02)
      const next = update(newCoordinate(), newCoordinate(), 10, {}, () => 0.9)
      assert.ok(Math.abs(norm(next.vec) - 0.25 * 0.5 * 9.98) < 1e-12, `moved ${norm(next.vec)}`)
      for (const x of next.vec) assert.ok(Math.abs(x - next.vec[0]) < 1e-12 && x > 0)
      assert.equal(next.height, 0.01)
    })

    it('still separates coincident coordinates with a degenerate rand', () => {
      const next = update(newCoordinate(), newCoordinate(), 10, {}, () => 0.5)
      assert.ok(next.vec[0] > 1)
      assert.deepEqual(next.vec.slice(1), new Array<number>(DIMENSIONS - 1).fill(0))
    })

    const moves: Array<{ name: string, rtt: number, farther: boolean }> = [
      { name: 'pushes away when the RTT is longer than predicted', rtt: 10, farther: true },
      { name: 'pulls closer when the RTT is shorter than predicted', rtt: 1, farther: false }
    ]
    for (const { name, rtt, farther } of moves) {
      it(name, () => {
        const local = coord([5], { height: 0.01 })
        const remote = coord([], { height: 0.01 })
        const before = distance(local, remote)
        const after = distance(update(local, remote, rtt, {}, mulberry32(2)), remote)
        assert.equal(after > before, farther, `distance went from ${before} to ${after}`)
        // A single step moves part of the way, never past the measured RTT.
        assert.ok(farther ? after < rtt : after > rtt)
      })
    }

    it('shrinks the error when the prediction was right, weighted by both errors', () => {
      const local = coord([10], { error: 1, height: 0.01 })
      const remote = coord([], { error: 1, height: 0.01 })
      const next = update(local, remote, distance(local, remote))
      // ce * weight * 0 + error * (1 - ce * weight), with weight = 1 / (1 + 1)
      assert.ok(Math.abs(next.error - 0.875) < 1e-12, `error ${next.error}`)
      assert.deepEqual(next.vec, local.vec)
    })

    it('caps the error at errorMax however wrong the prediction', () => {
      // Predicted 1000 ms, measured 1 ms: a relative error of ~1000, far past the cap.
      const next = update(coord([1000], { error: 1.5 }), coord([], { error: 0.01 }), 1)
      assert.equal(next.error, 1.5)
    })

    it('keeps the height at or above heightMin when pulled together hard', () => {
      // With cc = 1 and all the trust on the remote, one step would cut the height by ~4 ms, below zero.
      const next = update(coord([5], { error: 1.5, height: 2 }), coord([], { error: 0.001, height: 2 }), 0.001, { cc: 1 })
      assert.equal(next.height, 0.01)
      assert.ok(distance(next, coord([], { height: 2 })) < 9, 'and it did move closer')
    })

    it('accepts a zero RTT', () => {
      assert.ok(isValidCoordinate(update(coord([1]), coord([]), 0)))
    })

    it('resets rather than return a coordinate out of range', () => {
      assert.deepEqual(update(newCoordinate(), coord([1]), 1e308, {}, mulberry32(4)), newCoordinate())
    })
  })

  describe('VivaldiClient', () => {
    it('converges on a planar mesh with access latencies (4-6 nodes, 300 rounds, 5 seeds)', () => {
      const meshes = [
        planarMesh([[0, 0], [40, 0], [0, 30], [40, 30]], [1, 5, 2, 8]),
        planarMesh([[10, 10], [80, 20], [30, 70], [60, 60], [90, 90]], [0.5, 3, 10, 1, 4]),
        planarMesh([[0, 0], [100, 0], [50, 86], [50, 29], [20, 40], [75, 10]], [2, 2, 6, 1, 3, 9])
      ]
      for (const mesh of meshes) {
        for (let seed = 1; seed <= 5; seed++) {
          const { medianError, clients } = simulate(mesh, 300, seed)
          // Measured 2-9 % with these meshes and seeds; the worst of 200 seeds is 15 %.
          assert.ok(medianError < 0.15, `${mesh.size} nodes, seed ${seed}: median relative error ${medianError}`)
          for (const c of clients) assert.ok(c.coordinate.error < 1.5, 'every node grew more confident')
        }
      }
    })

    it('converges on sub-millisecond (loopback-like) RTTs', () => {
      const mesh = planarMesh([[0, 0], [0.2, 0], [0, 0.15], [0.2, 0.15], [0.1, 0.3]], [0.02, 0.05, 0.03, 0.08, 0.04])
      const rtts = allRtts(mesh)
      assert.ok(Math.min(...rtts) >= 0.05 && Math.max(...rtts) <= 0.5, 'the mesh really is sub-millisecond')
      for (let seed = 1; seed <= 5; seed++) {
        const { medianError, clients } = simulate(mesh, 300, seed)
        // Measured 1.5-3 % with these seeds; the worst of 200 seeds is 18 %.
        assert.ok(medianError < 0.15, `seed ${seed}: median relative error ${medianError}`)
        for (const c of clients) assert.ok(c.coordinate.height >= 0.01 && isValidCoordinate(c.coordinate))
      }
    })

    it('is replayable from a seed', () => {
      const mesh = planarMesh([[0, 0], [40, 0], [0, 30]], [1, 2, 3])
      const a = simulate(mesh, 50, 42).clients.map(c => c.coordinate)
      const b = simulate(mesh, 50, 42).clients.map(c => c.coordinate)
      assert.deepEqual(a, b)
    })

    /** A settled client whose estimate to `remote` is about `rtt`, before `outlier` arrives. */
    function settledAgainst (cfg: VivaldiConfig, remote: Coordinate, rtt: number): VivaldiClient {
      const client = new VivaldiClient(cfg, mulberry32(7))
      for (let i = 0; i < 100; i++) client.observe('peer', remote, rtt)
      return client
    }

    const outliers: Array<{ name: string, cfg: VivaldiConfig, forget: boolean, movesMoreThan?: number, movesLessThan?: number }> = [
      { name: 'the median filter absorbs a single outlier', cfg: {}, forget: false, movesLessThan: 0.5 },
      { name: 'without the filter the same outlier drags the coordinate', cfg: { latencyFilterSize: 1 }, forget: false, movesMoreThan: 20 },
      { name: 'forget() drops the filter, so the outlier is taken at face value', cfg: {}, forget: true, movesMoreThan: 20 }
    ]
    for (const { name, cfg, forget, movesMoreThan, movesLessThan } of outliers) {
      it(name, () => {
        const remote = coord([30, 0], { error: 0.2, height: 1 })
        const client = settledAgainst(cfg, remote, 10)
        assert.ok(Math.abs(client.estimateRtt(remote) - 10) < 1, `settled at ${client.estimateRtt(remote)}`)
        if (forget) client.forget('peer')
        const before = client.coordinate
        const after = client.observe('peer', remote, 1000)
        const moved = norm(after.vec.map((x, i) => x - before.vec[i])) + Math.abs(after.height - before.height)
        if (movesLessThan !== undefined) assert.ok(moved < movesLessThan, `moved ${moved} ms`)
        if (movesMoreThan !== undefined) assert.ok(moved > movesMoreThan, `moved ${moved} ms`)
      })
    }

    it('leaves its state untouched when an observation is rejected', () => {
      const remote = coord([30], { error: 0.5 })
      const clean = new VivaldiClient({}, mulberry32(9))
      const poked = new VivaldiClient({}, mulberry32(9))
      for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
        assert.throws(() => poked.observe('peer', remote, bad), RangeError)
      }
      assert.throws(() => poked.observe('peer', coord([Number.NaN]), 10), RangeError)
      assert.deepEqual(poked.coordinate, newCoordinate())
      for (const rtt of [12, 11, 13]) {
        assert.deepEqual(poked.observe('peer', remote, rtt), clean.observe('peer', remote, rtt))
      }
    })

    it('learns half the mean residual over the adjustment window', () => {
      const remote = coord([30], { error: 0.5, height: 1 })
      const client = new VivaldiClient({ adjustmentWindow: 20 }, mulberry32(10))
      const after = client.observe('peer', remote, 50)
      const raw = distance({ ...after, adjustment: 0 }, remote)
      assert.ok(Math.abs(after.adjustment - (50 - raw) / 40) < 1e-12, `adjustment ${after.adjustment}`)
      assert.ok(after.adjustment > 0)
    })

    it('keeps the adjustment at zero with adjustmentWindow 0', () => {
      const client = new VivaldiClient({ adjustmentWindow: 0 }, mulberry32(11))
      const remote = coord([30], { error: 0.5 })
      for (const rtt of [50, 60, 5]) assert.equal(client.observe('peer', remote, rtt).adjustment, 0)
    })

    it('gravity pulls a far-flung coordinate towards the origin', () => {
      const far = coord([1000], { error: 0.1, height: 0.01 })
      const distanceFromOrigin = (cfg: VivaldiConfig): number => {
        const client = new VivaldiClient(cfg, mulberry32(12))
        for (let i = 0; i < 200; i++) client.observe('far', far, 10)
        return norm(client.coordinate.vec)
      }
      const withGravity = distanceFromOrigin({})
      const withoutGravity = distanceFromOrigin({ gravityRho: 1e12 })
      assert.ok(withoutGravity > 980, `without gravity it settles next to the remote (${withoutGravity})`)
      assert.ok(withGravity < withoutGravity - 100, `with gravity ${withGravity}, without ${withoutGravity}`)
    })

    it('estimateRtt is the distance between the two coordinates', () => {
      const client = new VivaldiClient({}, mulberry32(13))
      const remote = coord([30, 40], { error: 0.5, height: 2 })
      client.observe('peer', remote, 20)
      assert.equal(client.estimateRtt(remote), distance(client.coordinate, remote))
      assert.throws(() => client.estimateRtt(coord([Number.NaN])), /remote coordinate vec\[0\]/)
    })

    it('hands out copies, so callers cannot corrupt its state', () => {
      const client = new VivaldiClient()
      const c = client.coordinate
      c.vec[0] = Number.NaN
      c.height = -1
      assert.ok(isValidCoordinate(client.coordinate))
      assert.deepEqual(client.coordinate, newCoordinate())
    })
  })
})
