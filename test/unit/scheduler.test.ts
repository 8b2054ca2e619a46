import assert from 'node:assert/strict'
import { describe, it } from 'mocha'
import { distance as nodeDistance } from '../../node/coordinates.js'
import { haversineKm as nodeHaversineKm } from '../../node/regions/aggregate.js'
import { CoordinateSet } from '../../scheduler/geo.js'
import {
  explainDecision,
  explainRanking,
  haversineKm,
  mulberry32,
  reasonText,
  selectNodes,
  selectRegions,
  type Area,
  type Constraint,
  type Decision,
  type NetCoordinate,
  type NodeCandidate,
  type PeerInstance,
  type RegionCandidate,
  type RejectReason,
  type SelectNodesInput,
  type ServiceSpec,
  vivaldiMs
} from '../../scheduler/index.js'

const BERLIN = { lat: 52.52, lon: 13.405 }
const MUNICH = { lat: 48.1351, lon: 11.582 } // 504 km from Berlin
const PARIS = { lat: 48.8566, lon: 2.3522 } // 878 km from Berlin
const MADRID = { lat: 40.4168, lon: -3.7038 } // 1,869 km from Berlin

const AREAS: Record<string, Area> = {
  berlin: { name: 'berlin', center: BERLIN, radiusKm: 50 },
  paris: { name: 'paris', center: PARIS, radiusKm: 50 }
}

/** A ServiceSpec with defaults: a container asking 1 core and 256 MiB, no constraints. */
function spec (over: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name: 'web',
    namespace: 'app',
    virtualization: 'container',
    image: 'docker.io/library/nginx:latest',
    cmd: [],
    environment: [],
    memory: 256,
    vcpus: 1,
    vgpus: 0,
    storage: 0,
    replicas: 1,
    restart: 'always',
    oneShot: false,
    arch: [],
    ports: [],
    addresses: {},
    constraints: [],
    connectivity: [],
    ...over
  }
}

/** A Vivaldi coordinate x ms from the origin along the first axis, no height, no adjustment. */
function coord (x: number, height = 0): NetCoordinate {
  return { vec: [x, 0, 0, 0, 0, 0, 0, 0], error: 0.1, adjustment: 0, height }
}

/** A roomy amd64 docker node: 4 free cores, 4 GiB, 10 GiB disk, no GPU, no location or coordinate. */
function node (name: string, over: Partial<NodeCandidate> = {}): NodeCandidate {
  return {
    peerId: `peer-${name}`,
    name,
    region: 'eu',
    arch: 'amd64',
    runtimes: ['docker', 'process'],
    cpuCores: 4,
    cpuFree: 4,
    memFreeMiB: 4096,
    diskFreeMiB: 10240,
    gpus: 0,
    labels: {},
    location: null,
    coordinate: null,
    reserved: { cpu: 0, memoryMiB: 0 },
    sameService: 0,
    ...over
  }
}

function select (nodes: NodeCandidate[], over: Partial<SelectNodesInput> = {}): Decision {
  return selectNodes({ spec: spec(), nodes, count: 1, policy: 'ROM', seed: 1, areas: AREAS, connected: [], ...over })
}

/** The node names a decision chose, in order. */
function names (d: Decision): string[] {
  return d.chosen.map(p => p.replace(/^peer-/, ''))
}

describe('scheduler: selectNodes filters', () => {
  const db = (name: string, c: NetCoordinate | null): PeerInstance => ({ service: 'db', peerId: `peer-${name}`, coordinate: c, location: null })

  const cases: Array<{
    name: string
    nodes: NodeCandidate[]
    input?: Partial<SelectNodesInput>
    chosen: string[]
    rejected: Partial<Record<RejectReason, number>>
  }> = [
    {
      name: 'excluded peers',
      nodes: [node('a'), node('b'), node('c')],
      input: { exclude: ['peer-a', 'peer-b'] },
      chosen: ['c'],
      rejected: { excluded: 2 }
    },
    {
      name: 'a container needs docker',
      nodes: [node('a', { runtimes: ['process'] }), node('b')],
      chosen: ['b'],
      rejected: { runtime: 1 }
    },
    {
      name: 'a process needs process',
      nodes: [node('a', { runtimes: ['docker'] }), node('b', { runtimes: ['process'] })],
      input: { spec: spec({ virtualization: 'process', image: undefined, cmd: ['sleep', '1'] }) },
      chosen: ['b'],
      rejected: { runtime: 1 }
    },
    {
      name: 'arch must be listed',
      nodes: [node('a', { arch: 'arm64', cpuFree: 8, memFreeMiB: 8192 }), node('b', { arch: 'riscv64' }), node('c')],
      input: { spec: spec({ arch: ['amd64', 'arm64'] }) },
      chosen: ['a'],
      rejected: { arch: 1 }
    },
    {
      name: 'an empty arch list allows any',
      nodes: [node('a', { arch: 'riscv64' })],
      chosen: ['a'],
      rejected: {}
    },
    {
      name: 'direct cluster names the region',
      nodes: [node('a', { region: 'us' }), node('b', { region: 'us' }), node('c')],
      input: { spec: spec({ constraints: [{ type: 'direct', cluster: 'eu' }] }) },
      chosen: ['c'],
      rejected: { 'direct-cluster': 2 }
    },
    {
      name: 'direct nodes lists the names',
      nodes: [node('a'), node('b', { cpuFree: 1 }), node('c')],
      input: { spec: spec({ constraints: [{ type: 'direct', nodes: ['b'] }] }) },
      chosen: ['b'],
      rejected: { 'direct-node': 2 }
    },
    {
      name: 'cpu',
      nodes: [node('a', { cpuFree: 0.5 }), node('b')],
      chosen: ['b'],
      rejected: { cpu: 1 }
    },
    {
      name: 'memory',
      nodes: [node('a', { memFreeMiB: 100 }), node('b', { memFreeMiB: 200 }), node('c')],
      chosen: ['c'],
      rejected: { memory: 2 }
    },
    {
      name: 'gpu',
      nodes: [node('a'), node('b', { gpus: 1 })],
      input: { spec: spec({ vgpus: 1 }) },
      chosen: ['b'],
      rejected: { gpu: 1 }
    },
    {
      name: 'disk',
      nodes: [node('a', { diskFreeMiB: 100 }), node('b')],
      input: { spec: spec({ storage: 1024 }) },
      chosen: ['b'],
      rejected: { disk: 1 }
    },
    {
      name: 'resources the spec does not ask are not checked',
      nodes: [node('a', { cpuFree: 0, memFreeMiB: 0, diskFreeMiB: 0 })],
      input: { spec: spec({ vcpus: 0, memory: 0 }) },
      chosen: ['a'],
      rejected: {}
    },
    {
      name: 'reserved resources count',
      nodes: [node('a', { reserved: { cpu: 3.5, memoryMiB: 0 } }), node('b', { reserved: { cpu: 0, memoryMiB: 4000 } }), node('c', { cpuFree: 1, memFreeMiB: 256 })],
      chosen: ['c'],
      rejected: { cpu: 1, memory: 1 }
    },
    {
      name: 'a node counts once, under its first failing reason',
      nodes: [node('a', { runtimes: ['process'], memFreeMiB: 0, cpuFree: 0 }), node('b', { cpuFree: 0, memFreeMiB: 0 }), node('c')],
      chosen: ['c'],
      rejected: { runtime: 1, cpu: 1 }
    },
    {
      name: 'geo to a point',
      nodes: [node('munich', { location: MUNICH }), node('paris', { location: PARIS }), node('nowhere')],
      input: { spec: spec({ constraints: [{ type: 'geo', location: BERLIN, thresholdKm: 600 }] }) },
      chosen: ['munich'],
      rejected: { geo: 2 }
    },
    {
      name: 'geo to an area adds its radius',
      // Munich is 504 km from Berlin's centre: out at 460 km, in at 460 + 50.
      nodes: [node('munich', { location: MUNICH }), node('paris', { location: PARIS })],
      input: { spec: spec({ constraints: [{ type: 'geo', area: 'berlin', thresholdKm: 460 }] }) },
      chosen: ['munich'],
      rejected: { geo: 1 }
    },
    {
      name: 'latency: a node inside the area is its own landmark',
      // L is in Berlin (a landmark) but cannot run containers; 'inside' is 30 ms from L but 0 ms from itself.
      nodes: [
        node('l', { location: BERLIN, coordinate: coord(0), runtimes: ['process'] }),
        node('inside', { location: BERLIN, coordinate: coord(30) })
      ],
      input: { spec: spec({ constraints: [{ type: 'latency', area: 'berlin', thresholdMs: 20 }] }) },
      chosen: ['inside'],
      rejected: { runtime: 1 }
    },
    {
      name: 'latency rejects a node far from every landmark',
      nodes: [
        node('l', { location: BERLIN, coordinate: coord(0), runtimes: ['process'] }),
        node('near', { location: MADRID, coordinate: coord(5) }),
        node('far', { location: MADRID, coordinate: coord(30) })
      ],
      input: { spec: spec({ constraints: [{ type: 'latency', area: 'berlin', thresholdMs: 20 }] }) },
      chosen: ['near'],
      rejected: { runtime: 1, latency: 1 }
    },
    {
      name: 'latency falls back on geography: 1 ms + km / 100',
      // No landmark in Berlin: Munich is 1 + 5.04 ms away, Paris 1 + 8.78 ms.
      nodes: [node('munich', { location: MUNICH, coordinate: coord(0) }), node('paris', { location: PARIS }), node('nowhere', { coordinate: coord(0) })],
      input: { spec: spec({ constraints: [{ type: 'latency', area: 'berlin', thresholdMs: 6.5 }] }) },
      chosen: ['munich'],
      rejected: { latency: 2 }
    },
    {
      name: 'connectivity bounds the RTT to the nearest instance',
      nodes: [node('near', { coordinate: coord(48) }), node('far', { coordinate: coord(65) }), node('blind')],
      input: { spec: spec({ connectivity: [{ target: 'db', latencyMs: 10 }] }), connected: [db('x', coord(0)), db('y', coord(50))] },
      chosen: ['near'],
      rejected: { connectivity: 2 }
    },
    {
      name: 'connectivity: an instance on the node itself is 0 ms away',
      nodes: [node('host'), node('blind')],
      input: { spec: spec({ connectivity: [{ target: 'db', latencyMs: 1 }] }), connected: [db('host', coord(100))] },
      chosen: ['host'],
      rejected: { connectivity: 1 }
    },
    {
      name: 'connectivity: a target with no instances yet passes',
      nodes: [node('a')],
      input: { spec: spec({ connectivity: [{ target: 'db', latencyMs: 1 }] }), connected: [{ service: 'cache', peerId: 'peer-z', coordinate: coord(99), location: null }] },
      chosen: ['a'],
      rejected: {}
    },
    {
      name: 'an unknown area rejects every node',
      nodes: [node('a'), node('b', { runtimes: [] })],
      input: { spec: spec({ constraints: [{ type: 'latency', area: 'atlantis', thresholdMs: 10 }] }) },
      chosen: [],
      rejected: { 'unknown-area': 2 }
    },
    {
      name: 'no nodes',
      nodes: [],
      chosen: [],
      rejected: {}
    }
  ]

  for (const c of cases) {
    it(c.name, () => {
      for (const policy of ['ROM', 'LDP'] as const) {
        const d = select(c.nodes, { policy, ...c.input })
        assert.deepEqual(names(d), c.chosen, policy)
        assert.deepEqual(d.rejected, c.rejected, policy)
        assert.equal(d.unplaced, 1 - c.chosen.length, policy)
      }
    })
  }

  it('latency: a node with neither a coordinate estimate nor a location fails', () => {
    const d = select([node('l', { location: BERLIN, coordinate: coord(0), runtimes: [] }), node('blind')], {
      spec: spec({ constraints: [{ type: 'latency', area: 'berlin', thresholdMs: 1000 }] })
    })
    assert.deepEqual(d.rejected, { runtime: 1, latency: 1 })
  })

  it('places instances one after another, counting what this decision placed', () => {
    // Room for two instances of 1,024 MiB, not three.
    const d = select([node('a', { memFreeMiB: 2048 + 100 })], { spec: spec({ memory: 1024 }), count: 3 })
    assert.deepEqual(names(d), ['a', 'a'])
    assert.equal(d.unplaced, 1)
    assert.deepEqual(d.rejected, { memory: 1 })
  })

  it('counts cpu fractions without rounding them away', () => {
    const d = select([node('a', { cpuFree: 0.3 })], { spec: spec({ vcpus: 0.1, memory: 0 }), count: 4 })
    assert.equal(d.chosen.length, 3)
    assert.equal(d.unplaced, 1)
  })

  it('count 0 places nothing', () => {
    assert.deepEqual(select([node('a')], { count: 0 }), { chosen: [], unplaced: 0, rejected: {}, scores: [] })
  })
})

describe('scheduler: ROM', () => {
  it("picks the node with the most free cpu and memory, Oakestra's choice when one dominates", () => {
    const nodes = [node('small', { cpuFree: 2, memFreeMiB: 2000 }), node('big', { cpuFree: 4, memFreeMiB: 4000 }), node('mid', { cpuFree: 3, memFreeMiB: 1000 })]
    for (let seed = 0; seed < 10; seed++) assert.deepEqual(names(select(nodes, { seed })), ['big'])
  })

  it('normalises cpu and memory, so that neither unit drowns the other', () => {
    // cpu-rich: (1 + 1000/4000) / 2 = 0.625; memory-rich: (2/4 + 1) / 2 = 0.75.
    const d = select([node('cpu-rich', { cpuFree: 4, memFreeMiB: 1000 }), node('mem-rich', { cpuFree: 2, memFreeMiB: 4000 })])
    assert.deepEqual(names(d), ['mem-rich'])
    assert.equal(d.scores[0].scores.rom, 0.75)
  })

  it('subtracts reserved resources before ranking', () => {
    const d = select([node('a', { cpuFree: 4, memFreeMiB: 4000, reserved: { cpu: 2, memoryMiB: 2000 } }), node('b', { cpuFree: 3, memFreeMiB: 3000 })])
    assert.deepEqual(names(d), ['b'])
  })

  it('records every ranker score and the weighted total', () => {
    const d = select([node('a', { sameService: 1 })])
    assert.deepEqual(d.scores, [{ peerId: 'peer-a', scores: { rom: 1, spread: -1 }, total: 0.5 }])
  })
})

describe('scheduler: LDP', () => {
  const same = { cpuFree: 4, memFreeMiB: 4096 }

  it('prefers the nearer node for a geo constraint', () => {
    const nodes = [node('paris', { ...same, location: PARIS }), node('munich', { ...same, location: MUNICH })]
    const geo: Constraint = { type: 'geo', location: BERLIN, thresholdKm: 1000 }
    for (let seed = 0; seed < 5; seed++) {
      const d = select(nodes, { policy: 'LDP', seed, spec: spec({ constraints: [geo] }) })
      assert.deepEqual(names(d), ['munich'])
      assert.ok(d.scores[0].scores.ldp > 0.4 && d.scores[0].scores.ldp < 0.5, `ldp ${d.scores[0].scores.ldp}`)
    }
  })

  it('prefers the nearer node for a latency constraint', () => {
    const nodes = [
      node('landmark', { location: BERLIN, coordinate: coord(0), runtimes: [] }),
      node('far', { ...same, coordinate: coord(30) }),
      node('near', { ...same, coordinate: coord(10) })
    ]
    for (let seed = 0; seed < 5; seed++) {
      const d = select(nodes, { policy: 'LDP', seed, spec: spec({ constraints: [{ type: 'latency', area: 'berlin', thresholdMs: 40 }] }) })
      assert.deepEqual(names(d), ['near'])
    }
  })

  it('prefers the node nearer the connected instances (S2S), bounded or not', () => {
    const nodes = [node('far', { ...same, coordinate: coord(40) }), node('near', { ...same, coordinate: coord(12) })]
    const connected: PeerInstance[] = [{ service: 'db', peerId: 'peer-db', coordinate: coord(10), location: null }]
    for (const latencyMs of [50, undefined]) {
      for (let seed = 0; seed < 5; seed++) {
        const d = select(nodes, { policy: 'LDP', seed, connected, spec: spec({ connectivity: [{ target: 'db', latencyMs }] }) })
        assert.deepEqual(names(d), ['near'], `latencyMs ${latencyMs}`)
      }
    }
  })

  it('falls back on ROM when the service has no distance to rank by', () => {
    const d = select([node('small', { cpuFree: 1 }), node('big')], { policy: 'LDP' })
    assert.deepEqual(names(d), ['big'])
    assert.deepEqual(Object.keys(d.scores[0].scores), ['rom', 'spread'])
  })

  it('breaks a tie in distance by resources', () => {
    const geo: Constraint = { type: 'geo', location: BERLIN, thresholdKm: 1000 }
    const nodes = [node('small', { cpuFree: 1, location: MUNICH }), node('big', { location: MUNICH })]
    for (let seed = 0; seed < 5; seed++) {
      const d = select(nodes, { policy: 'LDP', seed, spec: spec({ constraints: [geo] }) })
      assert.deepEqual(names(d), ['big'])
      assert.deepEqual(Object.keys(d.scores[0].scores), ['ldp', 'rom', 'spread'])
    }
  })
})

describe('scheduler: spread', () => {
  it('puts 3 replicas on 3 nodes when 3 fit', () => {
    const nodes = [node('a'), node('b', { cpuFree: 3.5 }), node('c', { memFreeMiB: 3800 })]
    for (const policy of ['ROM', 'LDP'] as const) {
      const d = select(nodes, { count: 3, policy })
      assert.deepEqual([...names(d)].sort(), ['a', 'b', 'c'], policy)
    }
  })

  it('reuses a node when it is the only one that fits', () => {
    const nodes = [node('a', { runtimes: ['process'] }), node('b'), node('c', { memFreeMiB: 10 })]
    const d = select(nodes, { count: 3 })
    assert.deepEqual(names(d), ['b', 'b', 'b'])
    assert.deepEqual(d.rejected, { runtime: 1, memory: 1 })
    assert.deepEqual(d.scores.map(s => s.scores.spread), [0, -1, -2])
  })

  it('beats a small resource advantage, counting instances already running', () => {
    const d = select([node('busy', { sameService: 1 }), node('idle', { cpuFree: 3.5, memFreeMiB: 3500 })])
    assert.deepEqual(names(d), ['idle'])
  })

  it('does not beat a large resource advantage', () => {
    const d = select([node('busy', { sameService: 1 }), node('tiny', { cpuFree: 1, memFreeMiB: 300 })])
    assert.deepEqual(names(d), ['busy'])
  })
})

describe('scheduler: seeds', () => {
  const twins = Array.from({ length: 8 }, (_, k) => node(`twin${k}`))

  it('the same seed gives the same decision', () => {
    for (const policy of ['ROM', 'LDP'] as const) {
      const a = select(twins, { seed: 42, count: 3, policy })
      const b = select(twins, { seed: 42, count: 3, policy })
      assert.deepEqual(a, b)
    }
  })

  it('different seeds can break ties differently', () => {
    const firsts = new Set<string>()
    for (let seed = 0; seed < 20; seed++) firsts.add(select(twins, { seed }).chosen[0])
    assert.ok(firsts.size > 1, `every seed chose ${[...firsts].join()}`)
  })

  it('a seed never overrides a real difference', () => {
    const nodes = [...twins, node('best', { cpuFree: 8, memFreeMiB: 8192 })]
    for (let seed = 0; seed < 20; seed++) assert.deepEqual(names(select(nodes, { seed })), ['best'])
  })
})

describe('scheduler: selectRegions', () => {
  function region (name: string, over: Partial<RegionCandidate> = {}): RegionCandidate {
    return {
      region: name,
      leader: `leader-${name}`,
      nodes: 3,
      maxFree: { cpu: 4, memoryMiB: 4096, gpu: 0, diskMiB: 10240 },
      totalFree: { cpu: 8, memoryMiB: 8192 },
      runtimes: ['docker', 'process'],
      archs: ['amd64'],
      geo: null,
      coordinate: null,
      stale: false,
      ...over
    }
  }

  const cases: Array<{ name: string, spec: ServiceSpec, region: RegionCandidate, reason: RejectReason | null }> = [
    { name: 'runtime', spec: spec(), region: region('r', { runtimes: ['process'] }), reason: 'runtime' },
    { name: 'arch', spec: spec({ arch: ['arm64'] }), region: region('r'), reason: 'arch' },
    { name: 'arch any', spec: spec(), region: region('r', { archs: ['s390x'] }), reason: null },
    { name: 'cpu', spec: spec({ vcpus: 5 }), region: region('r'), reason: 'cpu' },
    { name: 'memory', spec: spec({ memory: 5000 }), region: region('r'), reason: 'memory' },
    { name: 'gpu', spec: spec({ vgpus: 1 }), region: region('r'), reason: 'gpu' },
    { name: 'disk', spec: spec({ storage: 20000 }), region: region('r'), reason: 'disk' },
    { name: 'direct cluster', spec: spec({ constraints: [{ type: 'direct', cluster: 'other' }] }), region: region('r'), reason: 'direct-cluster' },
    { name: 'direct nodes are left to the leader', spec: spec({ constraints: [{ type: 'direct', nodes: ['x'] }] }), region: region('r'), reason: null },
    {
      name: 'geo: too far even from the edge',
      spec: spec({ constraints: [{ type: 'geo', location: BERLIN, thresholdKm: 300 }] }),
      region: region('r', { geo: { centroid: PARIS, radiusKm: 500 } }),
      reason: 'geo'
    },
    {
      name: 'geo: the extent reaches',
      spec: spec({ constraints: [{ type: 'geo', location: BERLIN, thresholdKm: 400 }] }),
      region: region('r', { geo: { centroid: PARIS, radiusKm: 500 } }),
      reason: null
    },
    {
      name: 'geo: the area radius widens the threshold',
      spec: spec({ constraints: [{ type: 'geo', area: 'berlin', thresholdKm: 340 }] }),
      region: region('r', { geo: { centroid: PARIS, radiusKm: 500 } }),
      reason: null
    },
    { name: 'geo: a region without geo passes', spec: spec({ constraints: [{ type: 'geo', location: BERLIN, thresholdKm: 1 }] }), region: region('r'), reason: null },
    { name: 'unknown area', spec: spec({ constraints: [{ type: 'geo', area: 'atlantis', thresholdKm: 1 }] }), region: region('r'), reason: 'unknown-area' },
    { name: 'stale is not a rejection', spec: spec(), region: region('r', { stale: true }), reason: null }
  ]

  for (const c of cases) {
    it(`rejects by ${c.name}`, () => {
      const r = selectRegions({ spec: c.spec, regions: [c.region], areas: AREAS })
      if (c.reason === null) {
        assert.deepEqual(r.rejected, [])
        assert.deepEqual(r.ranked.map(x => x.region), ['r'])
      } else {
        assert.deepEqual(r.rejected, [{ region: 'r', reason: c.reason }])
        assert.deepEqual(r.ranked, [])
      }
    })
  }

  it('ranks by free capacity, stale regions last', () => {
    const r = selectRegions({
      spec: spec(),
      areas: AREAS,
      regions: [
        region('small', { totalFree: { cpu: 2, memoryMiB: 2048 } }),
        region('stale-big', { totalFree: { cpu: 100, memoryMiB: 100000 }, stale: true }),
        region('big', { totalFree: { cpu: 16, memoryMiB: 16384 } }),
        region('mixed', { totalFree: { cpu: 16, memoryMiB: 2048 } }),
        region('gone', { runtimes: [] }),
        region('stale-small', { totalFree: { cpu: 1, memoryMiB: 1024 }, stale: true })
      ]
    })
    assert.deepEqual(r.ranked.map(x => x.region), ['big', 'mixed', 'small', 'stale-big', 'stale-small'])
    assert.deepEqual(r.rejected, [{ region: 'gone', reason: 'runtime' }])
    assert.equal(r.ranked[3].leader, 'leader-stale-big')
  })

  it('prefers regions near the area of a latency constraint', () => {
    const latency: Constraint = { type: 'latency', area: 'berlin', thresholdMs: 10 }
    const r = selectRegions({
      spec: spec({ constraints: [latency] }),
      areas: AREAS,
      regions: [
        region('madrid', { totalFree: { cpu: 32, memoryMiB: 32768 }, geo: { centroid: MADRID, radiusKm: 100 } }),
        region('unknown', { totalFree: { cpu: 32, memoryMiB: 32768 } }),
        region('munich', { geo: { centroid: MUNICH, radiusKm: 100 } })
      ]
    })
    assert.deepEqual(r.ranked.map(x => x.region), ['munich', 'madrid', 'unknown'])
  })
})

describe('scheduler: explain', () => {
  it('says what was placed and why nodes were rejected', () => {
    const d: Decision = { chosen: ['a', 'b'], unplaced: 1, rejected: { runtime: 1, memory: 3 }, scores: [] }
    assert.equal(explainDecision(d, 3, spec()),
      'placed 2 of 3 instances; not placed: 1. Rejected nodes: 3 × insufficient memory, 1 × runtime missing (docker)')
    assert.equal(explainDecision(d, 3),
      'placed 2 of 3 instances; not placed: 1. Rejected nodes: 3 × insufficient memory, 1 × runtime missing')
  })

  it('explains a real decision', () => {
    const nodes = [node('a', { runtimes: ['process'] }), node('b', { memFreeMiB: 300 }), node('c', { memFreeMiB: 100 })]
    const d = select(nodes, { count: 2 })
    assert.equal(explainDecision(d, 2, spec()),
      'placed 1 of 2 instances; not placed: 1. Rejected nodes: 2 × insufficient memory, 1 × runtime missing (docker)')
  })

  it('is short when everything fits', () => {
    assert.equal(explainDecision({ chosen: ['a'], unplaced: 0, rejected: {}, scores: [] }, 1), 'placed 1 of 1 instance')
    assert.equal(explainDecision({ chosen: [], unplaced: 1, rejected: {}, scores: [] }, 1), 'placed 0 of 1 instance; not placed: 1. Rejected nodes: none')
  })

  it('has a text for every reason', () => {
    const reasons: RejectReason[] = ['excluded', 'runtime', 'arch', 'direct-cluster', 'direct-node', 'cpu', 'memory', 'gpu', 'disk',
      'geo', 'latency', 'connectivity', 'stale', 'unknown-area']
    const texts = reasons.map(r => reasonText(r))
    for (const [k, t] of texts.entries()) assert.ok(t.length > 0 && t !== reasons[k], `${reasons[k]}: ${t}`)
    assert.equal(new Set(texts).size, reasons.length)
    assert.equal(reasonText('arch', spec({ arch: ['arm64', 'amd64'] })), 'architecture not allowed (arm64, amd64)')
    assert.equal(reasonText('unknown-area', spec({ constraints: [{ type: 'geo', area: 'atlantis', thresholdKm: 1 }] })), 'unknown area (atlantis)')
  })

  it('explains a region ranking', () => {
    assert.equal(explainRanking({ ranked: [{ region: 'eu', leader: 'l', score: 2 }], rejected: [{ region: 'us', reason: 'memory' }] }),
      '1 region feasible (eu); rejected: 1 × insufficient memory')
  })
})

describe('scheduler: geometry', () => {
  it('agrees with node/ on great-circle distances', () => {
    for (const [a, b, km] of [[BERLIN, MUNICH, 504], [BERLIN, PARIS, 878], [BERLIN, MADRID, 1869], [PARIS, PARIS, 0]] as const) {
      assert.ok(Math.abs(haversineKm(a, b) - nodeHaversineKm(a, b)) < 1e-9)
      assert.ok(Math.abs(haversineKm(a, b) - km) < 1, `${km}: ${haversineKm(a, b)}`)
    }
  })

  it('agrees with node/ on Vivaldi distances, and the nearest of a set is the smallest of them', () => {
    const rand = mulberry32(7)
    const random = (): NetCoordinate => ({
      vec: Array.from({ length: 8 }, () => rand() * 100 - 50),
      error: rand(),
      adjustment: rand() * 4 - 3,
      height: rand() * 2
    })
    const set = Array.from({ length: 20 }, random)
    const packed = new CoordinateSet(set)
    for (let k = 0; k < 50; k++) {
      const c = random()
      for (const m of set) assert.ok(Math.abs(vivaldiMs(c, m) - nodeDistance(c, m)) < 1e-9)
      const nearest = Math.min(...set.map(m => vivaldiMs(c, m)))
      assert.ok(Math.abs(packed.nearestMs(c) - nearest) < 1e-9)
    }
    assert.equal(new CoordinateSet([]).nearestMs(set[0]), Infinity)
  })

  it('mulberry32 is a pure function of its seed', () => {
    const a = mulberry32(123)
    const b = mulberry32(123)
    const c = mulberry32(124)
    const xs = Array.from({ length: 5 }, () => a())
    assert.deepEqual(Array.from({ length: 5 }, () => b()), xs)
    assert.notDeepEqual(Array.from({ length: 5 }, () => c()), xs)
    for (const x of xs) assert.ok(x >= 0 && x < 1)
  })
})
