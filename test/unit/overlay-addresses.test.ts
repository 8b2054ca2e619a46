// Service and instance IP allocation in 10.30.0.0/16: pure, table-driven.
import assert from 'node:assert/strict'
import type { IpClaim, ServiceRecord } from '../../node/deploy/records.js'
import { validateRecord } from '../../node/deploy/records.js'
import {
  RANGE_SIZE, allocate, candidateIp, claimsOf, inServiceRange, intToIp, ipToInt, isAllocatable, plannedClaims
} from '../../overlay/addresses.js'
import { AddressRangeExhaustedError } from '../../overlay/errors.js'

const SVC = 'aaaaaaaaaaaaaaaaaaaaaaaa'
const OTHER = 'bbbbbbbbbbbbbbbbbbbbbbbb'
const BY = '12D3KooWGzh7sCdqMWqaEfHY3TR6hsZGfzL8uUyp3N6sD7sWZQpE'

function service (over: Partial<ServiceRecord> & { rrIp?: string, closestIp?: string } = {}): ServiceRecord {
  const { rrIp, closestIp, ...rest } = over
  return {
    id: SVC,
    app: 'cccccccccccccccccccccccc',
    name: 'web',
    spec: {
      name: 'web',
      namespace: 'default',
      virtualization: 'process',
      cmd: ['node', 'server.js'],
      environment: [],
      memory: 0,
      vcpus: 0,
      vgpus: 0,
      storage: 0,
      replicas: 2,
      restart: 'always',
      oneShot: false,
      arch: [],
      ports: [{ container: 80, protocol: 'tcp' }],
      addresses: { ...(rrIp === undefined ? {} : { rrIp }), ...(closestIp === undefined ? {} : { closestIp }) },
      constraints: [],
      connectivity: []
    },
    instances: [0, 1],
    deployed: true,
    createdAt: 1,
    ...rest
  }
}

function claim (ip: string, svc: string, kind: IpClaim['kind'], n?: number, at = 1): IpClaim {
  return { ip, svc, kind, ...(n === undefined ? {} : { n }), by: BY, at }
}

describe('overlay addresses', function () {
  describe('ipToInt / intToIp / ranges', function () {
    const cases: Array<[string, number | undefined]> = [
      ['10.30.0.0', 0x0a1e0000],
      ['10.30.255.255', 0x0a1effff],
      ['0.0.0.0', 0],
      ['255.255.255.255', 0xffffffff],
      ['10.30.1', undefined],
      ['10.30.1.256', undefined],
      ['10.30.01.1', undefined],
      ['a.b.c.d', undefined],
      ['', undefined]
    ]
    for (const [ip, n] of cases) {
      it(`ipToInt(${JSON.stringify(ip)}) = ${String(n)}`, function () {
        assert.equal(ipToInt(ip), n)
        if (n !== undefined) assert.equal(intToIp(n), ip)
      })
    }

    const range: Array<[string, boolean, boolean]> = [
      // ip, inServiceRange, isAllocatable
      ['10.30.0.1', true, true],
      ['10.30.255.254', true, true],
      ['10.30.0.0', true, false],
      ['10.30.7.255', true, false],
      ['10.31.0.1', false, false],
      ['10.29.255.254', false, false],
      ['127.0.0.1', false, false],
      ['nonsense', false, false]
    ]
    for (const [ip, inside, usable] of range) {
      it(`${ip}: in range ${String(inside)}, allocatable ${String(usable)}`, function () {
        assert.equal(inServiceRange(ip), inside)
        assert.equal(isAllocatable(ip), usable)
      })
    }
  })

  describe('candidateIp', function () {
    it('is deterministic, and different seeds or attempts spread out', function () {
      assert.equal(candidateIp('svc/rr', 0), candidateIp('svc/rr', 0))
      const seen = new Set<string>()
      for (let a = 0; a < 200; a++) seen.add(candidateIp('svc/rr', a))
      assert.ok(seen.size > 195, `200 attempts gave only ${seen.size} distinct candidates`)
      assert.notEqual(candidateIp('svc/rr', 0), candidateIp('svc/closest', 0))
    })

    it('never gives a .0 or .255 last octet, always inside 10.30.0.0/16', function () {
      for (let a = 0; a < 5000; a++) {
        const ip = candidateIp(`seed-${a % 7}`, a)
        assert.ok(isAllocatable(ip), `${ip} is not allocatable`)
      }
    })
  })

  describe('allocate', function () {
    it('takes the first free candidate', function () {
      const first = candidateIp('s', 0)
      const second = candidateIp('s', 1)
      assert.equal(allocate(new Set(), 's'), first)
      assert.equal(allocate(new Set([first]), 's'), second)
    })

    it('finds the last free address of a full range, and throws when none is left', function () {
      const all = new Set<string>()
      for (let a = 0; a < 256; a++) for (let b = 1; b <= 254; b++) all.add(`10.30.${a}.${b}`)
      assert.equal(all.size, RANGE_SIZE)
      all.delete('10.30.77.77')
      assert.equal(allocate(all, 'any'), '10.30.77.77')
      all.add('10.30.77.77')
      assert.throws(() => allocate(all, 'any'), (err: Error) => err.name === AddressRangeExhaustedError.NAME)
    })
  })

  describe('claimsOf', function () {
    const cases: Array<{ name: string, claims: IpClaim[], want: { rr?: string, closest?: string, instances: Array<[number, string]> } }> = [
      { name: 'nothing claimed', claims: [], want: { instances: [] } },
      {
        name: 'one of each, other services ignored',
        claims: [claim('10.30.0.1', SVC, 'rr'), claim('10.30.0.2', SVC, 'closest'), claim('10.30.0.3', SVC, 'instance', 0), claim('10.30.0.9', OTHER, 'rr')],
        want: { rr: '10.30.0.1', closest: '10.30.0.2', instances: [[0, '10.30.0.3']] }
      },
      {
        name: 'a role claimed twice resolves to the oldest claim, then the lowest address',
        claims: [claim('10.30.0.5', SVC, 'rr', undefined, 5), claim('10.30.0.4', SVC, 'rr', undefined, 9), claim('10.30.0.7', SVC, 'instance', 1, 3), claim('10.30.0.6', SVC, 'instance', 1, 3)],
        want: { rr: '10.30.0.5', instances: [[1, '10.30.0.6']] }
      }
    ]
    for (const c of cases) {
      it(c.name, function () {
        const got = claimsOf(SVC, c.claims)
        assert.equal(got.rr, c.want.rr)
        assert.equal(got.closest, c.want.closest)
        assert.deepEqual([...got.instances].sort((a, b) => a[0] - b[0]), c.want.instances)
      })
    }
  })

  describe('plannedClaims', function () {
    const opts = { by: BY, at: 42 }

    it('plans rr, closest and one instance IP per instance number, all valid records and all distinct', function () {
      const { claims, problems } = plannedClaims(service({ instances: [0, 1, 2] }), [], opts)
      assert.deepEqual(problems, [])
      assert.deepEqual(claims.map(c => [c.kind, c.n]), [['rr', undefined], ['closest', undefined], ['instance', 0], ['instance', 1], ['instance', 2]])
      assert.equal(new Set(claims.map(c => c.ip)).size, 5)
      for (const c of claims) {
        assert.equal(validateRecord(`sip/${c.ip}`, c), undefined)
        assert.equal(c.svc, SVC)
        assert.equal(c.by, BY)
        assert.equal(c.at, 42)
      }
      assert.equal(claims[0].ip, allocate(new Set(), `${SVC}/rr`))
    })

    it('two peers planning the same service over the same claims compute the same IPs', function () {
      const existing = [claim('10.30.9.9', OTHER, 'rr')]
      const a = plannedClaims(service(), existing, { by: BY, at: 1 })
      const b = plannedClaims(service(), existing, { by: 'someone-else', at: 2 })
      assert.deepEqual(a.claims.map(c => [c.kind, c.n, c.ip]), b.claims.map(c => [c.kind, c.n, c.ip]))
    })

    it('plans nothing for a service that has all its claims', function () {
      const first = plannedClaims(service(), [], opts).claims
      assert.deepEqual(plannedClaims(service(), first, opts), { claims: [], problems: [] })
    })

    it('plans only the instance IPs of new instance numbers', function () {
      const first = plannedClaims(service(), [], opts).claims
      const more = plannedClaims(service({ instances: [0, 1, 5] }), first, opts)
      assert.deepEqual(more.claims.map(c => [c.kind, c.n]), [['instance', 5]])
    })

    const sla: Array<{ name: string, rrIp?: string, closestIp?: string, existing: IpClaim[], rr?: string, closest?: string, problems: RegExp[] }> = [
      { name: 'free SLA addresses are used', rrIp: '10.30.1.1', closestIp: '10.30.1.2', existing: [], rr: '10.30.1.1', closest: '10.30.1.2', problems: [] },
      { name: 'a taken rrIp is a problem naming it and its holder', rrIp: '10.30.1.1', existing: [claim('10.30.1.1', OTHER, 'instance', 3)], problems: [/spec\.addresses\.rrIp 10\.30\.1\.1 is taken by service b{24} \(instance 3\)/] },
      { name: 'an rrIp outside the range is a problem', rrIp: '192.168.0.1', existing: [], problems: [/rrIp 192\.168\.0\.1 is not an address of 10\.30\.0\.0\/16/] },
      { name: 'a .255 address is a problem', closestIp: '10.30.4.255', existing: [], problems: [/closestIp 10\.30\.4\.255/] },
      { name: 'rrIp and closestIp the same: the second is a problem', rrIp: '10.30.2.2', closestIp: '10.30.2.2', existing: [], rr: '10.30.2.2', problems: [/closestIp 10\.30\.2\.2 is already used by this service/] }
    ]
    for (const c of sla) {
      it(c.name, function () {
        const { claims, problems } = plannedClaims(service({ rrIp: c.rrIp, closestIp: c.closestIp }), c.existing, opts)
        assert.equal(problems.length, c.problems.length, problems.join('; '))
        c.problems.forEach((re, i) => { assert.match(problems[i], re) })
        const rr = claims.find(x => x.kind === 'rr')
        const closest = claims.find(x => x.kind === 'closest')
        assert.ok(rr !== undefined && closest !== undefined, 'rr and closest IPs are always planned')
        if (c.rr !== undefined) assert.equal(rr.ip, c.rr)
        if (c.closest !== undefined) assert.equal(closest.ip, c.closest)
        const taken = new Set(c.existing.map(x => x.ip))
        for (const x of claims) assert.ok(!taken.has(x.ip), `${x.ip} was already taken`)
        assert.equal(new Set(claims.map(x => x.ip)).size, claims.length)
      })
    }

    it('never reuses a taken IP: the loser of an LWW collision re-plans onto a fresh address', function () {
      const mine = plannedClaims(service(), [], opts).claims
      const rrIp = mine.find(c => c.kind === 'rr')!.ip
      // Another service won sip/<rrIp>: our rr claim is gone, theirs is in the map.
      const after = [...mine.filter(c => c.ip !== rrIp), claim(rrIp, OTHER, 'rr')]
      const again = plannedClaims(service(), after, opts)
      assert.deepEqual(again.claims.map(c => c.kind), ['rr'])
      assert.notEqual(again.claims[0].ip, rrIp)
      assert.equal(again.claims[0].ip, candidateIp(`${SVC}/rr`, 1))
    })
  })
})
