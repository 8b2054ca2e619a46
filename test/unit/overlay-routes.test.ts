// The overlay's route table and policies: pure, table-driven.
import assert from 'node:assert/strict'
import type { InstanceRecord, InstanceState, IpClaim, ServiceRecord } from '../../node/deploy/records.js'
import { Picker, buildRoutes, endpointFor, resolveLocal, type Route } from '../../overlay/routes.js'

const S1 = '111111111111111111111111'
const S2 = '222222222222222222222222'
const A = 'peerA'
const B = 'peerB'
const C = 'peerC'

function service (id: string, over: Partial<ServiceRecord> = {}): ServiceRecord {
  return {
    id,
    app: 'cccccccccccccccccccccccc',
    name: `svc-${id.slice(0, 2)}`,
    spec: {
      name: 'x', namespace: 'default', virtualization: 'process', cmd: [], environment: [], memory: 0, vcpus: 0, vgpus: 0,
      storage: 0, replicas: 1, restart: 'always', oneShot: false, arch: [],
      ports: [{ container: 80, protocol: 'tcp' }, { container: 53, protocol: 'udp' }, { container: 80, protocol: 'tcp' }],
      addresses: {}, constraints: [], connectivity: []
    },
    instances: [0, 1, 2],
    deployed: true,
    createdAt: 1,
    ...over
  }
}

function inst (svc: string, n: number, peerId: string | null, status: InstanceState = 'RUNNING', port = 8000 + n): InstanceRecord {
  return {
    svc, n, status, peerId, region: 'r1', reason: null, startedAt: 1, restarts: 0, replace: false, updatedAt: 1,
    endpoints: [{ containerPort: 80, protocol: 'tcp', host: '127.0.0.1', port }, { containerPort: 53, protocol: 'udp', host: '127.0.0.1', port: port + 100 }]
  }
}

function claim (ip: string, svc: string, kind: IpClaim['kind'], n?: number): IpClaim {
  return { ip, svc, kind, ...(n === undefined ? {} : { n }), by: A, at: 1 }
}

const claims: IpClaim[] = [
  claim('10.30.0.1', S1, 'rr'), claim('10.30.0.2', S1, 'closest'),
  claim('10.30.1.0', S1, 'instance', 0), claim('10.30.1.1', S1, 'instance', 1), claim('10.30.1.2', S1, 'instance', 2),
  claim('10.30.0.9', S2, 'rr')
]

describe('overlay routes', function () {
  describe('buildRoutes', function () {
    const cases: Array<{ name: string, services: ServiceRecord[], instances: InstanceRecord[], expect: Record<string, { kind: string, backends: Array<[number, string]>, n?: number } | undefined> }> = [
      {
        name: 'only RUNNING instances with a peer are backends; instance routes hold only their instance',
        services: [service(S1)],
        instances: [inst(S1, 0, A), inst(S1, 1, B, 'FAILED'), inst(S1, 2, B), inst(S1, 3, null)],
        expect: {
          '10.30.0.1': { kind: 'rr', backends: [[0, A], [2, B]] },
          '10.30.0.2': { kind: 'closest', backends: [[0, A], [2, B]] },
          '10.30.1.0': { kind: 'instance', n: 0, backends: [[0, A]] },
          '10.30.1.1': { kind: 'instance', n: 1, backends: [] },
          '10.30.1.2': { kind: 'instance', n: 2, backends: [[2, B]] },
          '10.30.0.9': undefined
        }
      },
      {
        name: 'an undeployed service has no routes',
        services: [service(S1, { deployed: false })],
        instances: [inst(S1, 0, A)],
        expect: { '10.30.0.1': undefined, '10.30.1.0': undefined }
      },
      {
        name: 'instances of another service do not leak in',
        services: [service(S1), service(S2)],
        instances: [inst(S2, 0, C), inst(S1, 1, B)],
        expect: { '10.30.0.1': { kind: 'rr', backends: [[1, B]] }, '10.30.0.9': { kind: 'rr', backends: [[0, C]] } }
      }
    ]
    for (const c of cases) {
      it(c.name, function () {
        const routes = buildRoutes({ services: c.services, claims, instances: c.instances })
        for (const [ip, want] of Object.entries(c.expect)) {
          const r = routes.get(ip)
          if (want === undefined) {
            assert.equal(r, undefined, `${ip} should have no route`)
            continue
          }
          assert.ok(r !== undefined, `${ip} should have a route`)
          assert.equal(r.kind, want.kind)
          assert.equal(r.n, want.n)
          assert.deepEqual(r.backends.map(b => [b.n, b.peerId]), want.backends)
        }
      })
    }

    it('lists each container port once, and gives backends their instance IPs', function () {
      const routes = buildRoutes({ services: [service(S1)], claims, instances: [inst(S1, 2, B)] })
      const rr = routes.get('10.30.0.1')!
      assert.deepEqual(rr.ports, [{ port: 53, protocol: 'udp' }, { port: 80, protocol: 'tcp' }])
      assert.equal(rr.backends[0].ip, '10.30.1.2')
    })
  })

  describe('Picker', function () {
    const backend = (n: number, peerId: string): Route['backends'][number] => ({ svc: S1, n, peerId, endpoints: [] })
    const route = (kind: Route['kind'], backends: Route['backends'], n?: number): Route => ({ ip: `10.30.0.${kind.length}`, svc: S1, kind, ...(n === undefined ? {} : { n }), ports: [], backends })
    const rtts: Record<string, number> = { peerB: 30, peerC: 5 }
    const ctx = (self: string, table: Record<string, number> = rtts): { self: string, rttMs: (p: string) => number | undefined } => ({ self, rttMs: (p) => table[p] })

    it('round-robin rotates over every backend, per route', function () {
      const picker = new Picker()
      const r = route('rr', [backend(0, A), backend(1, B), backend(2, C)])
      const other = { ...r, ip: '10.30.7.7' }
      const got = Array.from({ length: 6 }, () => picker.pick(r, ctx(A))?.n)
      assert.deepEqual(got, [0, 1, 2, 0, 1, 2])
      assert.equal(picker.pick(other, ctx(A))?.n, 0, 'a second route has its own counter')
    })

    const closest: Array<{ name: string, self: string, backends: Array<[number, string]>, rtt?: Record<string, number>, want: Array<[number, string]> }> = [
      { name: 'a local instance comes first', self: B, backends: [[0, A], [1, B], [2, C]], want: [[1, B], [2, C], [0, A]] },
      { name: 'then the lowest RTT', self: 'peerZ', backends: [[0, B], [1, C]], want: [[1, C], [0, B]] },
      { name: 'unknown RTT goes last', self: 'peerZ', backends: [[0, A], [1, B]], want: [[1, B], [0, A]] },
      { name: 'ties by peer ID, then instance number', self: 'peerZ', backends: [[3, C], [1, B], [2, A], [0, A]], rtt: { peerA: 5, peerB: 5, peerC: 5 }, want: [[0, A], [2, A], [1, B], [3, C]] },
      { name: 'all unknown: by peer ID', self: 'peerZ', backends: [[0, C], [1, A]], rtt: {}, want: [[1, A], [0, C]] }
    ]
    for (const c of closest) {
      it(`closest: ${c.name}`, function () {
        const picker = new Picker()
        const r = route('closest', c.backends.map(([n, p]) => backend(n, p)))
        assert.deepEqual(picker.order(r, ctx(c.self, c.rtt)).map(b => [b.n, b.peerId]), c.want)
        assert.deepEqual(picker.pick(r, ctx(c.self, c.rtt)), backend(...c.want[0]))
      })
    }

    it('instance: exactly that instance, or none', function () {
      const picker = new Picker()
      assert.equal(picker.pick(route('instance', [backend(4, C)], 4), ctx(A))?.n, 4)
      assert.equal(picker.pick(route('instance', [], 4), ctx(A)), undefined)
      assert.equal(picker.pick(route('rr', []), ctx(A)), undefined)
    })
  })

  describe('resolveLocal', function () {
    const routes = buildRoutes({ services: [service(S1)], claims, instances: [inst(S1, 0, A), inst(S1, 1, B), inst(S1, 2, B, 'FAILED')] })
    const cases: Array<[string, string, string, number, 'tcp' | 'udp', { host: string, port: number } | undefined]> = [
      ['an instance IP of a RUNNING local instance', B, '10.30.1.1', 80, 'tcp', { host: '127.0.0.1', port: 8001 }],
      ['the same instance by UDP', B, '10.30.1.1', 53, 'udp', { host: '127.0.0.1', port: 8101 }],
      ['a service IP with a local instance', B, '10.30.0.1', 80, 'tcp', { host: '127.0.0.1', port: 8001 }],
      ['an instance hosted on another peer', A, '10.30.1.1', 80, 'tcp', undefined],
      ['a FAILED instance', B, '10.30.1.2', 80, 'tcp', undefined],
      ['a port the instance does not expose', B, '10.30.1.1', 81, 'tcp', undefined],
      ['the wrong protocol', B, '10.30.1.1', 80, 'udp', undefined],
      ['an address with no claim', B, '10.30.99.1', 80, 'tcp', undefined],
      ['an address outside the overlay', B, '127.0.0.1', 22, 'tcp', undefined]
    ]
    for (const [name, self, ip, port, proto, want] of cases) {
      it(name, function () {
        assert.deepEqual(resolveLocal(routes, self, ip, port, proto), want)
      })
    }

    it('endpointFor ignores endpoints without a host port', function () {
      assert.equal(endpointFor({ endpoints: [{ containerPort: 80, protocol: 'tcp', host: '127.0.0.1', port: 0 }] }, 80, 'tcp'), undefined)
    })
  })
})
