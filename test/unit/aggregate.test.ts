import assert from 'node:assert/strict'
import { aggregate, EARTH_RADIUS_KM, geoCentroid, haversineKm, summarize } from '../../node/regions/aggregate.js'
import { DIMENSIONS, regionSummarySchema } from '../../node/wire/schemas.js'
import type { Aggregate, Location, NodeStatus, Resources } from '../../node/wire/schemas.js'

const LEADER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'
const GPU = { name: 'NVIDIA T4', memTotal: 16e9, memFree: 15e9, usage: 0.1 }
const BERLIN = { lat: 52.52, lon: 13.405 }
const MUNICH = { lat: 48.1351, lon: 11.582 }

function member (n: number, resources: Partial<Resources>, extra: Partial<NodeStatus> = {}): NodeStatus {
  return {
    peerId: LEADER.slice(0, -1) + String(n),
    region: 'eu-1',
    name: `node-${n}`,
    addrs: [],
    eligible: true,
    resources: {
      cpuCores: 1, cpuUsage: 0, memTotal: 0, memFree: 0, diskTotal: 0, diskFree: 0,
      arch: 'amd64', gpus: [], runtimes: ['process'],
      ...resources
    },
    labels: {},
    location: null,
    coordinate: { vec: new Array<number>(DIMENSIONS).fill(0), error: 1.5, adjustment: 0, height: 1e-5 },
    version: '0.1.0',
    incarnation: 1, seq: 1, rev: 1, role: 'follower', term: 3, leader: LEADER, instances: '',
    ...extra
  }
}

function close (actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: expected ${expected} ± ${tolerance}, got ${actual}`)
}

function closeAggregate (actual: Aggregate, expected: Aggregate, what: string): void {
  for (const k of ['sum', 'mean', 'std', 'maxFree'] as const) close(actual[k], expected[k], 1e-9 * Math.max(1, expected[k]), `${what}.${k}`)
}

function summary (members: NodeStatus[]) {
  const s = summarize({ region: 'eu-1', leader: LEADER, term: 3, at: 1_700_000_000_000, members })
  // Whatever the input, the leader must be able to publish what it built.
  regionSummarySchema.parse(s)
  return s
}

describe('aggregate', () => {
  const cases: Array<{ name: string, values: number[], expected: Aggregate }> = [
    { name: 'no values', values: [], expected: { sum: 0, mean: 0, std: 0, maxFree: 0 } },
    { name: 'one value', values: [7], expected: { sum: 7, mean: 7, std: 0, maxFree: 7 } },
    { name: 'two values', values: [2, 4], expected: { sum: 6, mean: 3, std: 1, maxFree: 4 } },
    // mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32; 32/8 = 4; std 2
    { name: 'the textbook eight', values: [2, 4, 4, 4, 5, 5, 7, 9], expected: { sum: 40, mean: 5, std: 2, maxFree: 9 } },
    { name: 'zeros', values: [0, 0, 0], expected: { sum: 0, mean: 0, std: 0, maxFree: 0 } }
  ]
  for (const c of cases) {
    it(c.name, () => closeAggregate(aggregate(c.values), c.expected, c.name))
  }

  it('does not let rounding make the std negative or NaN', () => {
    // 0.1 has no exact binary form, so the mean differs from each value by a rounding error.
    const { std } = aggregate([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert.ok(std >= 0 && std < 1e-12, `std ${std}`)
  })

  it('stays finite when the sum overflows', () => {
    const a = aggregate([Number.MAX_VALUE, Number.MAX_VALUE])
    assert.equal(a.sum, Number.MAX_VALUE)
    assert.equal(a.mean, Number.MAX_VALUE)
    assert.ok(Number.isFinite(a.std))
  })
})

describe('haversineKm', () => {
  const cases: Array<{ name: string, a: Location, b: Location, km: number, tolerance: number }> = [
    { name: 'Berlin to Munich', a: BERLIN, b: MUNICH, km: 504, tolerance: 2 },
    { name: 'a point to itself', a: BERLIN, b: BERLIN, km: 0, tolerance: 0 },
    { name: 'ten degrees along the equator', a: { lat: 0, lon: 0 }, b: { lat: 0, lon: 10 }, km: 1111.95, tolerance: 0.01 },
    { name: 'across the antimeridian', a: { lat: 0, lon: 179 }, b: { lat: 0, lon: -179 }, km: 222.39, tolerance: 0.01 },
    { name: 'antipodes: half the circumference', a: { lat: 0, lon: 0 }, b: { lat: 0, lon: 180 }, km: Math.PI * EARTH_RADIUS_KM, tolerance: 1e-6 },
    { name: 'pole to pole', a: { lat: 90, lon: 0 }, b: { lat: -90, lon: 0 }, km: Math.PI * EARTH_RADIUS_KM, tolerance: 1e-6 }
  ]
  for (const c of cases) {
    it(c.name, () => {
      close(haversineKm(c.a, c.b), c.km, c.tolerance, c.name)
      close(haversineKm(c.b, c.a), c.km, c.tolerance, `${c.name} (reversed)`)
    })
  }
})

describe('geoCentroid', () => {
  const cases: Array<{ name: string, points: Location[], expected: Location | null }> = [
    { name: 'no points', points: [], expected: null },
    { name: 'one point', points: [BERLIN], expected: BERLIN },
    { name: 'symmetric about the equator', points: [{ lat: 10, lon: 0 }, { lat: -10, lon: 0 }], expected: { lat: 0, lon: 0 } },
    { name: 'symmetric about the meridian', points: [{ lat: 0, lon: 10 }, { lat: 0, lon: -10 }], expected: { lat: 0, lon: 0 } },
    { name: 'the four corners around a pole', points: [0, 90, 180, -90].map(lon => ({ lat: 80, lon })), expected: { lat: 90, lon: 0 } },
    { name: 'antipodal points cancel out', points: [{ lat: 0, lon: 0 }, { lat: 0, lon: 180 }], expected: null }
  ]
  for (const c of cases) {
    it(c.name, () => {
      const got = geoCentroid(c.points)
      if (c.expected === null) return assert.equal(got, null)
      assert.ok(got !== null)
      close(got.lat, c.expected.lat, 1e-9, 'lat')
      // At a pole every longitude is the same place.
      if (Math.abs(c.expected.lat) !== 90) close(got.lon, c.expected.lon, 1e-9, 'lon')
    })
  }

  it('lands on the antimeridian, not on Greenwich, for points either side of it', () => {
    const got = geoCentroid([{ lat: 0, lon: 179 }, { lat: 0, lon: -179 }])
    assert.ok(got !== null)
    close(got.lat, 0, 1e-9, 'lat')
    close(Math.abs(got.lon), 180, 1e-9, '|lon|')
    assert.ok(got.lon >= -180 && got.lon <= 180)
  })
})

describe('summarize', () => {
  // Three nodes with round numbers, so every expected value below can be checked by hand.
  const a = member(1, {
    cpuCores: 4, cpuUsage: 0.5, memTotal: 8000, memFree: 3000, diskTotal: 100_000, diskFree: 40_000,
    arch: 'amd64', gpus: [GPU], runtimes: ['process', 'docker']
  }, { location: { lat: 0, lon: 10 }, coordinate: { vec: [1, 2, 3, 4, 5, 6, 7, 8], error: 0.5, adjustment: -1, height: 2 } })
  const b = member(2, {
    cpuCores: 8, cpuUsage: 0.25, memTotal: 16_000, memFree: 9000, diskTotal: 200_000, diskFree: 100_000,
    arch: 'amd64', gpus: [], runtimes: ['process']
  }, { location: { lat: 0, lon: -10 }, coordinate: { vec: [3, 2, 1, 0, -1, -2, -3, -4], error: 1, adjustment: 1, height: 4 } })
  const c = member(3, {
    cpuCores: 2, cpuUsage: 0.5, memTotal: 4000, memFree: 3000, diskTotal: 50_000, diskFree: 10_000,
    arch: 'arm64', gpus: [GPU, GPU], runtimes: ['process']
  }, { location: null, coordinate: { vec: [2, 2, 2, 2, 2, 2, 2, 2], error: 1.5, adjustment: 0, height: 0 } })

  it('carries the identity it was given', () => {
    const s = summary([a, b, c])
    assert.deepEqual(
      { v: s.v, region: s.region, leader: s.leader, term: s.term, at: s.at, nodes: s.nodes },
      { v: 1, region: 'eu-1', leader: LEADER, term: 3, at: 1_700_000_000_000, nodes: 3 }
    )
  })

  it('aggregates the free amounts', () => {
    const { resources } = summary([a, b, c])
    // free cpu 2, 6, 1: mean 3, deviations² 1 + 9 + 4 = 14
    closeAggregate(resources.cpu, { sum: 9, mean: 3, std: Math.sqrt(14 / 3), maxFree: 6 }, 'cpu')
    // 3000, 9000, 3000: mean 5000, deviations² (4 + 16 + 4) × 1e6
    closeAggregate(resources.memory, { sum: 15_000, mean: 5000, std: Math.sqrt(8e6), maxFree: 9000 }, 'memory')
    // 40k, 100k, 10k: mean 50k, deviations² (1 + 25 + 16) × 1e8
    closeAggregate(resources.disk, { sum: 150_000, mean: 50_000, std: Math.sqrt(1.4e9), maxFree: 100_000 }, 'disk')
    // 1, 0, 2 devices: mean 1, deviations² 0 + 1 + 1
    closeAggregate(resources.gpu, { sum: 3, mean: 1, std: Math.sqrt(2 / 3), maxFree: 2 }, 'gpu')
  })

  it('totals the capacity', () => {
    assert.deepEqual(summary([a, b, c]).capacity, { cpu: 14, memory: 28_000, disk: 350_000, gpu: 3 })
  })

  it('breaks the free amounts down by architecture', () => {
    assert.deepEqual(summary([a, b, c]).archs, {
      amd64: { nodes: 2, cpuFree: 8, memFree: 12_000, maxCpuFree: 6, maxMemFree: 9000 },
      arm64: { nodes: 1, cpuFree: 1, memFree: 3000, maxCpuFree: 1, maxMemFree: 3000 }
    })
  })

  it('takes the sorted union of the runtimes', () => {
    const cases: Array<{ members: NodeStatus[], expected: string[] }> = [
      { members: [a, b, c], expected: ['docker', 'process'] },
      { members: [b, c], expected: ['process'] },
      { members: [member(4, { runtimes: ['docker'] }), member(5, { runtimes: ['process', 'docker'] })], expected: ['docker', 'process'] },
      { members: [member(6, { runtimes: [] })], expected: [] }
    ]
    for (const { members, expected } of cases) assert.deepEqual(summary(members).runtimes, expected)
  })

  it('places the located members, ignoring the others', () => {
    const { geo } = summary([a, b, c])
    assert.ok(geo !== null)
    assert.equal(geo.located, 2)
    close(geo.centroid.lat, 0, 1e-9, 'lat')
    close(geo.centroid.lon, 0, 1e-9, 'lon')
    close(geo.radiusKm, 1111.95, 0.01, 'radiusKm')
  })

  it('has no geo when no member is located', () => {
    assert.equal(summary([c]).geo, null)
  })

  it('still encloses antipodal members, which have no centroid', () => {
    const east = member(7, {}, { location: { lat: 0, lon: 90 } })
    const west = member(8, {}, { location: { lat: 0, lon: -90 } })
    const { geo } = summary([east, west])
    assert.ok(geo !== null)
    assert.equal(geo.located, 2)
    close(geo.radiusKm, Math.PI * EARTH_RADIUS_KM, 1e-6, 'radiusKm')
  })

  it('averages the Vivaldi coordinates', () => {
    assert.deepEqual(summary([a, b, c]).coordinate, {
      vec: [2, 2, 2, 2, 2, 2, 2, 2],
      error: 1,
      adjustment: 0,
      height: 2
    })
  })

  it('clamps free cpu at zero', () => {
    const busy = member(9, { cpuCores: 3, cpuUsage: 1 })
    const { resources, archs } = summary([busy])
    assert.equal(resources.cpu.sum, 0)
    assert.equal(archs.amd64.cpuFree, 0)
  })

  it('summarizes an empty region', () => {
    const s = summary([])
    const zero = { sum: 0, mean: 0, std: 0, maxFree: 0 }
    assert.equal(s.nodes, 0)
    assert.deepEqual(s.resources, { cpu: zero, memory: zero, disk: zero, gpu: zero })
    assert.deepEqual(s.capacity, { cpu: 0, memory: 0, disk: 0, gpu: 0 })
    assert.deepEqual(s.archs, {})
    assert.deepEqual(s.runtimes, [])
    assert.equal(s.geo, null)
    assert.equal(s.coordinate, null)
  })

  it('summarizes a single member as itself', () => {
    const s = summary([a])
    assert.equal(s.nodes, 1)
    closeAggregate(s.resources.cpu, { sum: 2, mean: 2, std: 0, maxFree: 2 }, 'cpu')
    assert.deepEqual(s.capacity, { cpu: 4, memory: 8000, disk: 100_000, gpu: 1 })
    assert.deepEqual(s.runtimes, ['docker', 'process'])
    assert.ok(s.geo !== null)
    assert.equal(s.geo.located, 1)
    close(s.geo.centroid.lat, 0, 1e-9, 'lat')
    close(s.geo.centroid.lon, 10, 1e-9, 'lon')
    close(s.geo.radiusKm, 0, 1e-6, 'radiusKm')
    assert.deepEqual(s.coordinate, a.coordinate)
  })

  it('keeps an arch named __proto__ as a plain key', () => {
    const s = summary([member(10, { arch: '__proto__' })])
    assert.equal(Object.getPrototypeOf(s.archs), Object.prototype)
    assert.deepEqual(Object.keys(s.archs), ['__proto__'])
  })
})
