// The overlay in privileged mode: service IPs become /32 addresses on the loopback interface. One peer, one
// MemoryStateMap, a real local server as the instance. The first suite injects an address manager and checks what the
// overlay asks of it; the second uses the real `ip addr` manager and needs root (CAP_NET_ADMIN), else it is skipped.
import '../../node/polyfill.js'
import assert from 'node:assert/strict'
import { connect, createServer, type Server } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { MemoryDatastore } from 'datastore-core'
import { createHost, type GroveLibp2p } from '../../node/libp2p.js'
import { systemClock } from '../../node/clock.js'
import { MemoryStateMap } from '../../node/deploy/state-map.js'
import { keys, validateRecord, type InstanceRecord, type ServiceRecord } from '../../node/deploy/records.js'
import { Overlay, claimsOf, ipCommandAddresses, plannedClaims, type AddressManager } from '../../overlay/index.js'
import { eventually } from '../../testnet/daemons.js'

const SVC = 'dddddddddddddddddddddddd'

async function deployLocal (state: MemoryStateMap, self: string, port: number, hostPort: number): Promise<{ rr: string, all: string[] }> {
  const svc: ServiceRecord = {
    id: SVC, app: 'eeeeeeeeeeeeeeeeeeeeeeee', name: 'priv',
    spec: {
      name: 'priv', namespace: 'test', virtualization: 'process', cmd: [], environment: [], memory: 0, vcpus: 0, vgpus: 0, storage: 0,
      replicas: 1, restart: 'always', oneShot: false, arch: [], ports: [{ container: port, protocol: 'tcp' }], addresses: {}, constraints: [], connectivity: []
    },
    instances: [0],
    deployed: true,
    createdAt: 1
  }
  const inst: InstanceRecord = {
    svc: SVC, n: 0, status: 'RUNNING', peerId: self, region: 'r1', reason: null, startedAt: 1, restarts: 0, replace: false, updatedAt: 1,
    endpoints: [{ containerPort: port, protocol: 'tcp', host: '127.0.0.1', port: hostPort }]
  }
  const { claims } = plannedClaims(svc, [], { by: self, at: 1 })
  const writes: Array<[string, unknown]> = [[keys.svc(SVC), svc], ...claims.map(c => [keys.sip(c.ip), c] as [string, unknown]), [keys.inst(SVC, 0), inst]]
  for (const [k, v] of writes) {
    assert.equal(validateRecord(k, v), undefined)
    await state.put(k, v)
  }
  return { rr: claimsOf(SVC, claims).rr!, all: claims.map(c => c.ip).sort() }
}

describe('overlay in privileged mode', function () {
  this.timeout(60_000)
  let host: GroveLibp2p
  let server: Server
  let serverPort: number

  before(async function () {
    host = await createHost({ privateKey: await generateKeyPair('Ed25519'), datastore: new MemoryDatastore(), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], gossipHeartbeatMs: 1_000, dialTimeoutMs: 5_000 })
    await host.start()
    server = createServer((s) => { s.on('error', () => {}); s.end('priv-0\n') })
    await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
    serverPort = (server.address() as { port: number }).port
  })

  after(async function () {
    server.close()
    await host.stop()
  })

  it('with an injected address manager: removes stale addresses, adds one per service IP, removes them on stop, reports listen errors', async function () {
    const calls: string[] = []
    const fake: AddressManager = {
      add: async (ip) => { calls.push(`add ${ip}`) },
      remove: async (ip) => { calls.push(`remove ${ip}`) },
      list: async () => ['127.0.0.1', '10.30.9.9', '192.168.1.5']
    }
    const state = new MemoryStateMap()
    const overlay = new Overlay({ libp2p: host, state, self: host.peerId.toString(), clock: systemClock, mode: 'privileged', loopbackPrefix: '127.40', rttMs: () => undefined, addresses: fake })
    await overlay.start()
    assert.deepEqual(calls, ['remove 10.30.9.9'], 'only the stale overlay address is removed')
    const { all } = await deployLocal(state, host.peerId.toString(), 17200, serverPort)
    await eventually(() => overlay.endpoints().length === 3, 2_000, 'three endpoints', 20)
    const eps = overlay.endpoints()
    for (const e of eps) {
      assert.equal(e.local.host, e.ip, 'privileged mode listens on the service IP itself')
      // The fake manager never put the address on an interface, so the kernel refuses the bind, and the API says so.
      assert.equal(e.listening, false)
      assert.match(e.error ?? '', /EADDRNOTAVAIL/)
    }
    assert.deepEqual(calls.filter(c => c.startsWith('add')).map(c => c.slice(4)).sort(), all)
    calls.length = 0
    await overlay.stop()
    assert.deepEqual(calls.map(c => c.slice(7)).sort(), all, 'stop removes what start added')
    assert.ok(calls.every(c => c.startsWith('remove ')))
  })

  describe('with `ip addr` on lo', function () {
    const ip = ipCommandAddresses('lo')

    before(async function () {
      if (process.getuid?.() !== 0) this.skip()
      try {
        await ip.list()
      } catch {
        this.skip()
      }
    })

    it('puts the service IPs on lo, serves them, and takes them off at stop', async function () {
      const STALE = '10.30.254.253'
      await ip.add(STALE)
      const state = new MemoryStateMap()
      const overlay = new Overlay({ libp2p: host, state, self: host.peerId.toString(), clock: systemClock, mode: 'privileged', loopbackPrefix: '127.40', rttMs: () => undefined })
      try {
        await overlay.start()
        assert.ok(!(await ip.list()).includes(STALE), 'start removed the stale address')
        const { rr, all } = await deployLocal(state, host.peerId.toString(), 17200, serverPort)
        await eventually(() => overlay.endpoints().length === 3 && overlay.endpoints().every(e => e.listening), 5_000, 'listening on the service IPs', 20)
        const onLo = await ip.list()
        for (const a of all) assert.ok(onLo.includes(a), `${a} is on lo`)
        const greeting = await new Promise<string>((resolve, reject) => {
          const s = connect({ host: rr, port: 17200 })
          let buf = ''
          s.on('data', (c: Buffer) => { buf += c.toString() })
          s.on('end', () => { resolve(buf) })
          s.on('error', reject)
        })
        assert.equal(greeting, 'priv-0\n')
        assert.equal(overlay.pathCounts()[host.peerId.toString()]?.local, 1)
      } finally {
        await overlay.stop()
      }
      const left = (await ip.list()).filter(a => a.startsWith('10.30.'))
      assert.deepEqual(left, [], 'stop took every overlay address off lo')
    })
  })
})
