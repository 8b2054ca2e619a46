// The semantic overlay on a real testnet of daemon processes: service IPs, policies, instance loss, UDP, the relay
// tunnel and the refusal to act as an open proxy.
import { strict as assert } from 'node:assert'
import { createSocket } from 'node:dgram'
import { get as httpGet } from 'node:http'
import { mkdtemp, rm, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import '../../node/polyfill.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { MemoryDatastore } from 'datastore-core'
import { multiaddr } from '@multiformats/multiaddr'
import { createHost } from '../../node/libp2p.js'
import { openTcp } from '../../overlay/index.js'
import { apiGet, eventually, freePort, startDaemon, stopDaemon, type RunningDaemon } from '../../testnet/daemons.js'
import type { TestnetFile, TestnetPeer } from '../../testnet/index.js'
import { grove } from '../helpers/cli.js'
import { stopLeftInstances } from '../../testnet/index.js'

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'overlay-apps.json')


/** One request on a new connection (fetch would keep connections alive, and round-robin spreads connections). */
async function get (url: string, timeoutMs = 5000): Promise<string> {
  return await new Promise((resolve, reject) => {
    const req = httpGet(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve(Buffer.concat(chunks).toString()) })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error(`timed out after ${timeoutMs} ms`)) })
    req.on('error', reject)
  })
}

interface Instance { n: number, status: string, peerId: string | null, instanceIp: string | null }
interface Service { id: string, name: string, serviceIps: { rr: string | null, closest: string | null }, instances: Instance[] }

describe('the semantic overlay on real daemons (through the CLI)', function () {
  this.timeout(300_000)
  let dir: string
  let t: TestnetFile
  const extra: RunningDaemon[] = []
  const reload = async (): Promise<void> => { t = JSON.parse(await readFile(join(dir, 'testnet.json'), 'utf8')) as TestnetFile }
  const web = async (via: { api: string, token: string } = t.peers[0]): Promise<Service> => await apiGet<Service>(via, '/api/v1/services/net.web')
  const connect = async (p: TestnetPeer | RunningDaemon, ...args: string[]): Promise<string> => {
    const dataDir = 'dataDir' in p ? p.dataDir : p.spec.dataDir
    return await eventually(async () => {
      const r = await grove('connect', ...args, '--data-dir', dataDir)
      return r.code === 0 ? r.stdout.trim() : undefined
    }, 20_000, `grove connect ${args.join(' ')}`)
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'grove-overlay-'))
    const base = 10_000 + Math.floor(Math.random() * 20_000)
    const up = await grove('testnet', 'up', '--dir', dir, '--base-port', String(base), '--runtime', 'process')
    assert.equal(up.code, 0, up.stderr)
    await reload()
    const d = await grove('deploy', FIXTURE, '--wait', '--data-dir', t.peers[0].dataDir)
    assert.equal(d.code, 0, d.stdout + d.stderr)
  })

  after(async () => {
    for (const d of extra) {
      await stopDaemon(d, 5000)
      await stopLeftInstances(d.spec.dataDir, d.peerId)
    }
    await grove('testnet', 'down', '--dir', dir)
    await rm(dir, { recursive: true, force: true })
  })

  it('gives every service a round-robin and a closest IP, and every instance its own', async () => {
    const s = await web()
    assert.match(s.serviceIps.rr ?? '', /^10\.30\.\d+\.\d+$/)
    assert.match(s.serviceIps.closest ?? '', /^10\.30\.\d+\.\d+$/)
    const ips = [s.serviceIps.rr, s.serviceIps.closest, ...s.instances.map(i => i.instanceIp)]
    assert.equal(new Set(ips).size, ips.length, 'no duplicates')
    const out = await grove('services', '--data-dir', t.peers[1].dataDir)
    assert.ok(out.stdout.includes(s.serviceIps.rr!))
  })

  it('spreads 30 requests to the rr IP over all 3 instances, from a peer that hosts none', async () => {
    const s = await web()
    const hosts = new Set(s.instances.map(i => i.peerId))
    const client = t.peers.find(p => !hosts.has(p.peerId))!
    // The client's own view of the state routes the traffic: wait until it knows all three running.
    await eventually(async () => (await web(client)).instances.filter(i => i.status === 'RUNNING').length === 3, 20_000, 'the client sees 3 running')
    const ep = await connect(client, 'net.web')
    const seen = new Map<string, number>()
    for (let i = 0; i < 30; i++) {
      const body = await get(`http://${ep}/`)
      seen.set(body, (seen.get(body) ?? 0) + 1)
    }
    assert.deepEqual([...seen.keys()].sort(), ['hello from web/0\n', 'hello from web/1\n', 'hello from web/2\n'])
    for (const n of seen.values()) assert.ok(n >= 5, `round-robin spread: ${JSON.stringify([...seen])}`)
  })

  it('reaches the local instance through the closest IP, and exactly instance N through its instance IP', async () => {
    const s = await web()
    const i0 = s.instances.find(i => i.n === 0)!
    const host = t.peers.find(p => p.peerId === i0.peerId)!
    const closest = await connect(host, 'net.web', '--policy', 'closest')
    for (let i = 0; i < 5; i++) assert.equal(await get(`http://${closest}/`), 'hello from web/0\n')
    const other = t.peers.find(p => p.peerId !== i0.peerId)!
    for (const n of [0, 1, 2]) {
      const ep = await connect(other, 'net.web', '--policy', `instance:${n}`)
      assert.equal(await get(`http://${ep}/`), `hello from web/${n}\n`)
    }
  })

  it('echoes UDP datagrams through a service IP', async () => {
    const ep = await connect(t.peers[3], 'net.echo', '--port', '9000')
    const [host, port] = ep.split(':')
    const socket = createSocket('udp4')
    try {
      const answer = await eventually(async () => await new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(() => { resolve(undefined) }, 1000)
        socket.once('message', (m) => { clearTimeout(timer); resolve(m.toString()) })
        socket.send(Buffer.from('ping'), Number(port), host)
      }), 15_000, 'a UDP echo')
      assert.equal(answer, 'echo 0: ping')
    } finally {
      socket.close()
    }
  })

  it('refuses a stream naming an instance the hosting peer does not run (no open proxy)', async () => {
    const target = t.peers[1]
    const key = await readFile(join(target.dataDir, 'swarm.key'))
    const node = await createHost({ privateKey: await generateKeyPair('Ed25519'), datastore: new MemoryDatastore(), listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], gossipHeartbeatMs: 1000, dialTimeoutMs: 5000, swarmKey: key })
    await node.start()
    try {
      await node.dial(multiaddr(target.multiaddrs[0]))
      const s = await web()
      const notHere = s.instances.find(i => i.peerId !== target.peerId)!
      await assert.rejects(openTcp(node, target.peerId, notHere.instanceIp!, 8080, AbortSignal.timeout(10_000)))
      await assert.rejects(openTcp(node, target.peerId, '10.30.1.1', 22, AbortSignal.timeout(10_000)))
    } finally {
      await node.stop()
    }
  })

  it('moves new connections to live instances about a second after a hosting peer dies', async () => {
    const s = await web()
    const hosts = new Set(s.instances.map(i => i.peerId))
    const client = t.peers.find(p => !hosts.has(p.peerId))!
    const victim = t.peers.find(p => p.peerId === s.instances[1].peerId)!
    const ep = await connect(client, 'net.web')
    assert.equal((await grove('testnet', 'kill', victim.name, '--dir', dir)).code, 0)
    const killedAt = Date.now()
    // Soon every new request succeeds, and keeps succeeding.
    await eventually(async () => {
      for (let i = 0; i < 6; i++) {
        const body = await get(`http://${ep}/`, 2000)
        if (!body.startsWith('hello from web/')) return false
      }
      return true
    }, 20_000, 'requests succeeding again', 100)
    const recovered = Date.now() - killedAt
    assert.ok(recovered < 15_000, `took ${recovered} ms`)
    assert.equal((await grove('testnet', 'restart', victim.name, '--dir', dir)).code, 0)
    await reload()
  })

  it('serves an instance on a peer that listens only on a relay address, over 10 MB, and reports each flow\'s path', async () => {
    const ticket = (await grove('region', 'ticket', '--data-dir', t.peers[0].dataDir)).stdout.trim()
    // Nobody can dial it: it listens only on a relay address. And it dials nobody but its relay (GROVE_DIAL_ONLY,
    // a firewall that lets it out to one peer), so the others can only reach it through that relay.
    const relay = t.peers[0]
    const hidden = await startDaemon({
      name: 'hidden', dataDir: join(dir, 'hidden'), p2pPort: 0, listen: ['/p2p-circuit'], apiPort: await freePort(), profile: 'local',
      extraArgs: ['--ticket', ticket, '--runtimes', 'process', '--overlay-loopback', '127.90'],
      env: { GROVE_DIAL_ONLY: relay.peerId }
    })
    extra.push(hidden)
    // It reserves a slot on a relay it meets through the ticket's bootstrap peer; then that is its only address.
    const addrs = await eventually(async () => {
      const a = (await apiGet<{ addrs: string[] }>(hidden, '/api/v1/status')).addrs
      return a.length > 0 ? a : undefined
    }, 20_000, 'a relay reservation')
    assert.ok(addrs.every(a => a.includes('/p2p-circuit')), `relay-only addresses: ${addrs.join(' ')}`)
    // Place web/3 on the hidden peer: scale to 4 with the hidden peer the only one allowed for it is not possible
    // through the SLA, so deploy a second app pinned to it by name.
    const sla = JSON.parse(await readFile(FIXTURE, 'utf8')) as { applications: Array<{ application_name: string, microservices: Array<Record<string, unknown>> }> }
    sla.applications[0].application_name = 'hid'
    sla.applications[0].microservices = [{ ...sla.applications[0].microservices[0], replicas: 1, constraints: [{ type: 'direct', node: 'hidden' }] }]
    const file = join(dir, 'hid.json')
    await (await import('node:fs/promises')).writeFile(file, JSON.stringify(sla))
    const d = await grove('deploy', file, '--wait', '--data-dir', t.peers[0].dataDir)
    assert.equal(d.code, 0, d.stdout + d.stderr)
    const svc = await apiGet<Service>(t.peers[0], '/api/v1/services/hid.web')
    assert.equal(svc.instances[0].peerId, hidden.peerId)
    const client = t.peers[2]
    const ep = await connect(client, 'hid.web', '--policy', 'instance:0')
    for (let i = 0; i < 3; i++) assert.equal(await get(`http://${ep}/`), 'hello from web/0\n')
    const body = await (await fetch(`http://${ep}/big`, { signal: AbortSignal.timeout(60_000) })).arrayBuffer()
    assert.equal(body.byteLength, 12 * 1024 * 1024)
    const flows = await apiGet<{ paths: Record<string, { relay: number, direct: number }> }>(client, '/api/v1/overlay/flows')
    const p = flows.paths[hidden.peerId]
    assert.ok(p !== undefined && p.relay >= 4 && p.direct === 0, `every flow to the hidden peer is relayed: ${JSON.stringify(flows.paths)}`)
  })
})
