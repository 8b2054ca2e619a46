// The service proxy on three real libp2p peers in one process. Each peer runs an Overlay in unprivileged mode with
// its own loopback prefix (A 127.31, B 127.32, C 127.33) over one shared MemoryStateMap, as if the state were
// replicated. The "instances" are real local servers; the test writes their svc/, sip/, place/ and inst/ records.
import '../../node/polyfill.js'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { createServer as createHttpServer, request as httpRequest, type Server as HttpServer } from 'node:http'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { createSocket, type Socket as DgramSocket } from 'node:dgram'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { MemoryDatastore } from 'datastore-core'
import { createHost, type GroveLibp2p } from '../../node/libp2p.js'
import { systemClock } from '../../node/clock.js'
import { MemoryStateMap } from '../../node/deploy/state-map.js'
import { keys, validateRecord, type InstanceRecord, type IpClaim, type PlacementRecord, type ServiceRecord } from '../../node/deploy/records.js'
import { OVERLAY_TCP_PROTOCOL } from '../../node/protocols.js'
import { Overlay, claimsOf, openTcp, plannedClaims, OverlayRefusedError, type OverlayEndpoint } from '../../overlay/index.js'
import { encodeControl } from '../../overlay/wire.js'
import { eventually, sleep } from '../../testnet/daemons.js'

const PREFIXES = ['127.31', '127.32', '127.33']
const APP = 'abcabcabcabcabcabcabcabc'

interface Svc { id: string, rr: string, closest: string, instance: (n: number) => string }

describe('overlay service proxy on three peers (one process)', function () {
  this.timeout(120_000)

  const hosts: GroveLibp2p[] = []
  const overlays: Overlay[] = []
  const state = new MemoryStateMap()
  const closers: Array<() => void> = []
  /** Peer C's view of round-trip times: B is near, A is far. */
  const rtt = new Map<string, number>()
  const id = (i: number): string => hosts[i].peerId.toString()
  let svcSeq = 0

  /** Writes a record after checking it against the schema the replicated state would enforce. */
  async function put (key: string, value: unknown): Promise<void> {
    assert.equal(validateRecord(key, value), undefined)
    await state.put(key, value)
  }

  /**
   * Deploys a service: its record, its IP claims (planned by the real allocator) and, for each instance, a placement
   * and a RUNNING record whose endpoint is a real local server.
   */
  async function deploy (name: string, port: number, protocol: 'tcp' | 'udp', instances: Array<{ peer: number, hostPort: number }>): Promise<Svc> {
    const sid = (++svcSeq).toString(16).padStart(24, '0')
    const record: ServiceRecord = {
      id: sid,
      app: APP,
      name,
      spec: {
        name, namespace: 'test', virtualization: 'process', cmd: ['server'], environment: [], memory: 0, vcpus: 0, vgpus: 0,
        storage: 0, replicas: instances.length, restart: 'always', oneShot: false, arch: [],
        ports: [{ container: port, protocol }], addresses: {}, constraints: [], connectivity: []
      },
      instances: instances.map((_, n) => n),
      deployed: true,
      createdAt: Date.now()
    }
    await put(keys.svc(sid), record)
    const existing = state.entries<IpClaim>('sip/').map(([, v]) => v)
    const { claims, problems } = plannedClaims(record, existing, { by: id(0), at: Date.now() })
    assert.deepEqual(problems, [])
    for (const c of claims) await put(keys.sip(c.ip), c)
    for (const [n, inst] of instances.entries()) {
      const placement: PlacementRecord = { svc: sid, n, peerId: id(inst.peer), region: 'r1', term: 1, epoch: 0 }
      await put(keys.place(sid, n), placement)
      await put(keys.inst(sid, n), instanceRecord(sid, n, inst.peer, 'RUNNING', [{ containerPort: port, protocol, host: '127.0.0.1', port: inst.hostPort }]))
    }
    const held = claimsOf(sid, state.entries<IpClaim>('sip/').map(([, v]) => v))
    const svc = { id: sid, rr: held.rr!, closest: held.closest!, instance: (n: number) => held.instances.get(n)! }
    // Every peer listens on every address of the service.
    await eventually(() => overlays.every(o => {
      const eps = o.endpoints().filter(e => e.svc === sid)
      return eps.length === 2 + instances.length && eps.every(e => e.listening)
    }), 5_000, `every proxy listening for ${name}`, 20)
    return svc
  }

  function instanceRecord (svc: string, n: number, peer: number, status: InstanceRecord['status'], endpoints: InstanceRecord['endpoints']): InstanceRecord {
    return {
      svc, n, status, peerId: id(peer), peerName: `peer-${peer}`, region: 'r1', reason: status === 'RUNNING' ? null : 'test', startedAt: Date.now(),
      restarts: 0, endpoints, replace: false, updatedAt: Date.now()
    }
  }

  /** Where peer `i`'s proxy listens for `ip:port`. */
  function endpointOf (i: number, ip: string, port: number, protocol: 'tcp' | 'udp' = 'tcp'): OverlayEndpoint['local'] {
    const ep = overlays[i].endpoints().find(e => e.ip === ip && e.port === port && e.protocol === protocol)
    assert.ok(ep !== undefined, `peer ${i} serves ${ip}:${port}/${protocol}`)
    assert.ok(ep.local.host.startsWith(`${PREFIXES[i]}.`), `${ep.local.host} is in ${PREFIXES[i]}/16`)
    return ep.local
  }

  // ---- instances ----

  async function listen (server: Server | HttpServer): Promise<number> {
    await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
    closers.push(() => { server.close() })
    return (server.address() as { port: number }).port
  }

  /** An HTTP server answering its name, counting requests. */
  async function httpInstance (name: string, hits: Map<string, number>): Promise<number> {
    const server = createHttpServer((_req, res) => {
      hits.set(name, (hits.get(name) ?? 0) + 1)
      res.end(name)
    })
    return await listen(server)
  }

  async function get (host: string, port: number): Promise<string> {
    return await new Promise((resolve, reject) => {
      const req = httpRequest({ host, port, path: '/', agent: false }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => { body += c })
        res.on('end', () => { resolve(body) })
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end()
    })
  }

  /** A TCP server that greets with its name and then echoes. */
  async function greetingEcho (name: string): Promise<number> {
    const server = createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => {})
      s.write(`${name}\n`)
      s.pipe(s)
    })
    return await listen(server)
  }

  async function dialTcp (host: string, port: number): Promise<Socket> {
    return await new Promise((resolve, reject) => {
      const s = connect({ host, port }, () => { s.off('error', reject); resolve(s) })
      s.once('error', reject)
    })
  }

  /** Reads one line from a socket. */
  async function line (s: Socket): Promise<string> {
    return await new Promise((resolve, reject) => {
      let buf = ''
      const onData = (c: Buffer): void => {
        buf += c.toString()
        const i = buf.indexOf('\n')
        if (i < 0) return
        s.off('data', onData)
        s.off('close', onClose)
        resolve(buf.slice(0, i))
      }
      const onClose = (): void => { reject(new Error(`closed before a line (got ${JSON.stringify(buf)})`)) }
      s.on('data', onData)
      s.once('close', onClose)
    })
  }

  before(async function () {
    for (let i = 0; i < 3; i++) {
      const host = await createHost({
        privateKey: await generateKeyPair('Ed25519'),
        datastore: new MemoryDatastore(),
        listen: ['/ip4/127.0.0.1/tcp/0'],
        bootstrap: [],
        gossipHeartbeatMs: 1_000,
        dialTimeoutMs: 5_000
      })
      await host.start()
      hosts.push(host)
    }
    await hosts[0].dial(hosts[1].getMultiaddrs()[0])
    await hosts[0].dial(hosts[2].getMultiaddrs()[0])
    await hosts[1].dial(hosts[2].getMultiaddrs()[0])
    rtt.set(id(0), 40)
    rtt.set(id(1), 5)
    for (let i = 0; i < 3; i++) {
      const overlay = new Overlay({
        libp2p: hosts[i],
        state,
        self: id(i),
        clock: systemClock,
        mode: 'unprivileged',
        loopbackPrefix: PREFIXES[i],
        rttMs: (peer) => rtt.get(peer),
        udpIdleMs: 1_000
      })
      await overlay.start()
      await overlay.start() // idempotent
      overlays.push(overlay)
    }
  })

  after(async function () {
    for (const o of overlays) {
      await o.stop()
      await o.stop() // idempotent
    }
    for (const close of closers) close()
    for (const h of hosts) await h.stop()
  })

  describe('HTTP service on A and B', function () {
    const hits = new Map<string, number>()
    let web: Svc

    before(async function () {
      const ports = [await httpInstance('web-0', hits), await httpInstance('web-1', hits), await httpInstance('web-2', hits)]
      web = await deploy('web', 18080, 'tcp', [{ peer: 0, hostPort: ports[0] }, { peer: 1, hostPort: ports[1] }, { peer: 1, hostPort: ports[2] }])
    })

    it('round-robin through peer C spreads 30 requests evenly over the 3 instances on A and B', async function () {
      hits.clear()
      const { host, port } = endpointOf(2, web.rr, 18080)
      const answers = new Map<string, number>()
      for (let i = 0; i < 30; i++) {
        const body = await get(host, port)
        answers.set(body, (answers.get(body) ?? 0) + 1)
      }
      assert.deepEqual(Object.fromEntries([...answers].sort()), { 'web-0': 10, 'web-1': 10, 'web-2': 10 })
      assert.deepEqual(Object.fromEntries([...hits].sort()), { 'web-0': 10, 'web-1': 10, 'web-2': 10 })
      // C hosts nothing: every flow went over a direct libp2p connection to A or B.
      const counts = overlays[2].pathCounts()
      assert.equal(counts[id(0)]?.direct, 10)
      assert.equal(counts[id(1)]?.direct, 20)
      assert.equal(counts[id(2)], undefined)
    })

    it('closest prefers the local instance, then the peer with the lowest RTT', async function () {
      const onA = endpointOf(0, web.closest, 18080)
      const onC = endpointOf(2, web.closest, 18080)
      for (let i = 0; i < 5; i++) {
        assert.equal(await get(onA.host, onA.port), 'web-0', 'A has web-0 locally')
        // C has none; B (5 ms) is closer than A (40 ms); of B's two instances the lower number wins.
        assert.equal(await get(onC.host, onC.port), 'web-1')
      }
      assert.ok((overlays[0].pathCounts()[id(0)]?.local ?? 0) >= 5, 'A served its own instance locally')
    })

    it('an instance IP reaches exactly its instance, from every peer', async function () {
      for (let peer = 0; peer < 3; peer++) {
        for (const n of [0, 1, 2]) {
          const { host, port } = endpointOf(peer, web.instance(n), 18080)
          assert.equal(await get(host, port), `web-${n}`, `peer ${peer} → instance ${n}`)
        }
      }
    })

    it('lists open flows with their path, peer and byte counts', async function () {
      const { host, port } = endpointOf(2, web.instance(1), 18080)
      const s = await dialTcp(host, port)
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
      await new Promise(resolve => s.once('data', resolve))
      const out = overlays[2].flows().find(f => f.direction === 'outbound' && f.ip === web.instance(1))
      assert.ok(out !== undefined, 'C lists the flow')
      assert.equal(out.peerId, id(1))
      assert.equal(out.path, 'direct')
      assert.equal(out.svc, web.id)
      assert.equal(out.n, 1)
      assert.ok(out.bytesOut > 20 && out.bytesIn > 20, `bytes counted (${out.bytesOut} out, ${out.bytesIn} in)`)
      const inbound = overlays[1].flows().find(f => f.direction === 'inbound' && f.ip === web.instance(1))
      assert.ok(inbound !== undefined, 'B lists the flow it serves')
      assert.equal(inbound.peerId, id(2))
      assert.equal(inbound.path, 'direct')
      s.destroy()
      await eventually(() => !overlays[2].flows().some(f => f.id === out.id) && !overlays[1].flows().some(f => f.id === inbound.id), 2_000, 'the flow to leave both lists', 20)
    })

    it('a stream naming an instance the peer does not host is refused: not an open proxy', async function () {
      const before = new Map(hits)
      const signal = AbortSignal.timeout(5_000)
      // web-1 lives on B, not A.
      await assert.rejects(openTcp(hosts[2], id(0), web.instance(1), 18080, signal), (err: Error) => err.name === OverlayRefusedError.NAME && /no RUNNING instance/.test(err.message))
      // An address outside the overlay, even one with a live server behind it.
      const webPort = state.get<InstanceRecord>(keys.inst(web.id, 0))!.endpoints[0].port
      await assert.rejects(openTcp(hosts[2], id(0), '127.0.0.1', webPort, signal), (err: Error) => err.name === OverlayRefusedError.NAME)
      // A port the instance does not expose.
      await assert.rejects(openTcp(hosts[2], id(0), web.instance(0), 22, signal), (err: Error) => err.name === OverlayRefusedError.NAME)
      assert.deepEqual(hits, before, 'no request reached an instance')
      // The positive control: B does host web-1.
      const ok = await openTcp(hosts[2], id(1), web.instance(1), 18080, signal)
      assert.equal(ok.path, 'direct')
      ok.stream.abort(new Error('done'))
    })

    it('a malformed header gets the stream reset', async function () {
      const stream = await hosts[2].dialProtocol(hosts[0].peerId, OVERLAY_TCP_PROTOCOL)
      const closed = new Promise<Error | undefined>(resolve => { stream.addEventListener('close', (evt) => { resolve(evt.error) }) })
      stream.addEventListener('message', () => {})
      stream.send(encodeControl({ v: 2, ip: 'x', port: 0 } as never))
      const err = await closed
      assert.ok(err !== undefined, 'the stream was reset, not answered')
    })
  })

  describe('TCP data path', function () {
    it('a 20 MB upload echoes back intact through a remote instance, with a slow reader', async function () {
      const server = createServer({ allowHalfOpen: true }, (s) => { s.on('error', () => {}); s.pipe(s) })
      const echo = await deploy('echo', 17001, 'tcp', [{ peer: 1, hostPort: await listen(server) }])
      const { host, port } = endpointOf(2, echo.rr, 17001)
      const data = randomBytes(20 * 1024 * 1024)
      const s = await dialTcp(host, port)
      const received: Buffer[] = []
      let got = 0
      s.on('data', (c: Buffer) => { received.push(c); got += c.byteLength })
      // Stop reading for a while: the echo server's writes back up, and the overlay must hold, not drop or reset.
      s.pause()
      setTimeout(() => { s.resume() }, 500)
      for (let off = 0; off < data.byteLength; off += 256 * 1024) s.write(data.subarray(off, off + 256 * 1024))
      s.end()
      await new Promise<void>((resolve, reject) => { s.on('end', resolve); s.on('error', reject) })
      assert.equal(got, data.byteLength)
      assert.equal(createHash('sha256').update(Buffer.concat(received)).digest('hex'), createHash('sha256').update(data).digest('hex'))
    })

    it('carries 300 concurrent flows to one hosting peer (stream limits raised)', async function () {
      const many = await deploy('many', 17005, 'tcp', [{ peer: 1, hostPort: await greetingEcho('many-0') }])
      const { host, port } = endpointOf(2, many.rr, 17005)
      const sockets = await Promise.all(Array.from({ length: 300 }, async () => await dialTcp(host, port)))
      const greetings = await Promise.all(sockets.map(async s => await line(s)))
      assert.ok(greetings.every(g => g === 'many-0'))
      assert.equal(overlays[2].flows().filter(f => f.ip === many.rr && f.direction === 'outbound').length, 300)
      assert.equal(overlays[1].flows().filter(f => f.direction === 'inbound' && f.peerId === id(2) && f.port === 17005).length, 300)
      // Every flow still works with all of them open.
      const echoes = await Promise.all(sockets.map(async (s, i) => { s.write(`${i}\n`); return await line(s) }))
      assert.deepEqual(echoes, sockets.map((_, i) => String(i)))
      for (const s of sockets) s.end()
      await eventually(() => overlays[2].flows().every(f => f.ip !== many.rr), 5_000, 'the flows to end', 20)
    })

    /** Reads everything until the client's FIN, then answers with the byte count and digest. */
    async function sinkThenReply (name: string): Promise<number> {
      const server = createServer({ allowHalfOpen: true }, (s) => {
        s.on('error', () => {})
        const hash = createHash('sha256')
        let n = 0
        s.on('data', (c: Buffer) => { n += c.byteLength; hash.update(c) })
        s.on('end', () => { s.end(`${name} ${n} ${hash.digest('hex')}`) })
      })
      return await listen(server)
    }

    async function halfClose (host: string, port: number, body: Buffer): Promise<string> {
      const s = await dialTcp(host, port)
      let reply = ''
      s.on('data', (c: Buffer) => { reply += c.toString() })
      s.end(body)
      await new Promise<void>((resolve, reject) => { s.on('end', resolve); s.on('error', reject) })
      return reply
    }

    it('half-close: the client ends its write side and still reads the answer, remote and local', async function () {
      const sink = await deploy('sink', 17002, 'tcp', [{ peer: 0, hostPort: await sinkThenReply('sink-0') }])
      const body = randomBytes(1024 * 1024)
      const digest = createHash('sha256').update(body).digest('hex')
      const remote = endpointOf(2, sink.rr, 17002)
      assert.equal(await halfClose(remote.host, remote.port, body), `sink-0 ${body.byteLength} ${digest}`)
      const local = endpointOf(0, sink.rr, 17002)
      assert.equal(await halfClose(local.host, local.port, body), `sink-0 ${body.byteLength} ${digest}`)
      assert.ok((overlays[0].pathCounts()[id(0)]?.local ?? 0) >= 1)
      // A short request and its end arrive together, before the flow is piped (they ride as early data).
      const short = randomBytes(100)
      const shortDigest = createHash('sha256').update(short).digest('hex')
      for (const ep of [remote, local]) {
        for (let i = 0; i < 5; i++) assert.equal(await halfClose(ep.host, ep.port, short), `sink-0 100 ${shortDigest}`)
      }
    })

    it('half-close the other way: the instance ends first and still receives everything the client sends', async function () {
      let resolveDone!: (n: number) => void
      const done = new Promise<number>(resolve => { resolveDone = resolve })
      const server = createServer({ allowHalfOpen: true }, (s) => {
        let received = 0
        s.on('error', () => {})
        s.end('bye\n')
        s.on('data', (c: Buffer) => { received += c.byteLength })
        s.on('end', () => { resolveDone(received) })
      })
      const early = await deploy('early', 17006, 'tcp', [{ peer: 0, hostPort: await listen(server) }])
      const { host, port } = endpointOf(2, early.rr, 17006)
      const s = connect({ host, port, allowHalfOpen: true })
      let greeting = ''
      s.on('data', (c: Buffer) => { greeting += c.toString() })
      // The instance has ended its side; ours is still open, and everything sent now must arrive.
      s.on('end', () => { s.end(randomBytes(3 * 1024 * 1024)) })
      assert.equal(await done, 3 * 1024 * 1024)
      assert.equal(greeting, 'bye\n')
    })

    it('an instance marked FAILED gets no new connections within 1 s, and its open flows are closed', async function () {
      const hold = await deploy('hold', 17003, 'tcp', [{ peer: 0, hostPort: await greetingEcho('hold-0') }, { peer: 1, hostPort: await greetingEcho('hold-1') }])
      const { host, port } = endpointOf(2, hold.rr, 17003)
      const conns: Array<{ s: Socket, name: string, closed: boolean }> = []
      for (let i = 0; i < 6; i++) {
        const s = await dialTcp(host, port)
        const c = { s, name: await line(s), closed: false }
        s.on('error', () => {})
        s.on('close', () => { c.closed = true })
        conns.push(c)
      }
      assert.deepEqual(conns.map(c => c.name).sort(), ['hold-0', 'hold-0', 'hold-0', 'hold-1', 'hold-1', 'hold-1'])
      assert.equal(overlays[1].flows().filter(f => f.direction === 'inbound' && f.ip === hold.instance(1)).length, 3, 'B serves the three flows to hold-1')

      const failedAt = Date.now()
      const rec = state.get<InstanceRecord>(keys.inst(hold.id, 1))!
      await put(keys.inst(hold.id, 1), { ...rec, status: 'FAILED', reason: 'exit code 1', updatedAt: Date.now() })

      await eventually(() => conns.filter(c => c.name === 'hold-1').every(c => c.closed), 1_000, 'the flows to hold-1 to close', 10)
      const closedAfter = Date.now() - failedAt
      assert.ok(closedAfter < 1_000, `closed after ${closedAfter} ms`)
      // The flows to the live instance are untouched and still carry data.
      for (const c of conns.filter(c => c.name === 'hold-0')) {
        assert.equal(c.closed, false)
        c.s.write('still here\n')
        assert.equal(await line(c.s), 'still here')
      }
      // New connections, still within the second, all go to hold-0. (The hold-1 server itself is still running:
      // only the state says it failed.)
      for (let i = 0; i < 6; i++) {
        const s = await dialTcp(host, port)
        assert.equal(await line(s), 'hold-0')
        s.destroy()
      }
      assert.ok(Date.now() - failedAt < 1_500, `rerouted in ${Date.now() - failedAt} ms`)
      assert.equal(overlays[1].flows().filter(f => f.ip === hold.instance(1)).length, 0, 'B closed its side too')
      // The instance IP of the failed instance now has no backend: a connection is reset, not left hanging.
      const dead = endpointOf(2, hold.instance(1), 17003)
      const outcome = await new Promise<string>(resolve => {
        const s = connect({ host: dead.host, port: dead.port })
        let err = 'closed'
        s.on('error', (e: NodeJS.ErrnoException) => { err = e.code ?? e.message })
        s.on('close', () => { resolve(err) })
      })
      assert.equal(outcome, 'ECONNRESET')
      for (const c of conns) c.s.destroy()
    })

    it('a connection to an instance that does not listen yet waits for it, remote and local, instead of a reset', async function () {
      // Reserve two ports, then free them: the instances start listening on them only after the clients connect.
      const reserve = async (): Promise<{ port: number, start: () => Promise<void> }> => {
        const probe = createServer()
        const port = await listen(probe)
        await new Promise<void>(resolve => { probe.close(() => { resolve() }) })
        const server = createServer((s) => { s.on('error', () => {}); s.end('late\n') })
        return { port, start: async () => { await new Promise<void>(resolve => { server.listen(port, '127.0.0.1', resolve) }); closers.push(() => { server.close() }) } }
      }
      const [remote, local] = [await reserve(), await reserve()]
      const late = await deploy('late', 17004, 'tcp', [{ peer: 1, hostPort: remote.port }, { peer: 2, hostPort: local.port }])
      const started = Date.now()
      const clients = [dialTcp(endpointOf(0, late.instance(0), 17004).host, endpointOf(0, late.instance(0), 17004).port),
        dialTcp(endpointOf(2, late.instance(1), 17004).host, endpointOf(2, late.instance(1), 17004).port)]
      const sockets = await Promise.all(clients)
      await new Promise(resolve => setTimeout(resolve, 400))
      await remote.start()
      await local.start()
      for (const s of sockets) {
        s.on('error', () => {})
        assert.equal(await line(s), 'late')
        s.destroy()
      }
      assert.ok(Date.now() - started < 4_000, `answered after ${Date.now() - started} ms`)
    })
  })

  describe('UDP', function () {
    let dns: Svc
    let udpServer: DgramSocket

    before(async function () {
      udpServer = createSocket('udp4')
      udpServer.on('message', (msg, rinfo) => { udpServer.send(Buffer.concat([Buffer.from('udp-0:'), msg]), rinfo.port, rinfo.address) })
      await new Promise<void>(resolve => { udpServer.bind(0, '127.0.0.1', resolve) })
      closers.push(() => { udpServer.close() })
      dns = await deploy('dns', 15353, 'udp', [{ peer: 1, hostPort: udpServer.address().port }])
    })

    async function exchange (client: DgramSocket, host: string, port: number, msg: string): Promise<string> {
      return await new Promise((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`no UDP answer to ${msg}`)) }, 3_000)
        client.once('message', (m) => { clearTimeout(timer); resolve(m.toString()) })
        client.send(msg, port, host)
      })
    }

    it('echoes datagrams through the service IP, remote (C) and local (B), then the flows go idle', async function () {
      for (const [peer, path] of [[2, 'direct'], [1, 'local']] as const) {
        const { host, port } = endpointOf(peer, dns.rr, 15353, 'udp')
        const client = createSocket('udp4')
        await new Promise<void>(resolve => { client.bind(0, '127.0.0.1', resolve) })
        for (let i = 0; i < 5; i++) assert.equal(await exchange(client, host, port, `ping-${i}`), `udp-0:ping-${i}`)
        const big = 'x'.repeat(60_000)
        assert.equal(await exchange(client, host, port, big), `udp-0:${big}`)
        const flows = overlays[peer].flows().filter(f => f.protocol === 'udp' && f.direction === 'outbound')
        assert.equal(flows.length, 1, 'one flow per client address')
        assert.equal(flows[0].path, path)
        assert.equal(flows[0].peerId, id(1))
        assert.equal(flows[0].bytesOut, 5 * 6 + 60_000)
        client.close()
        // udpIdleMs is 1 s here.
        await eventually(() => overlays[peer].flows().every(f => f.protocol !== 'udp'), 3_000, 'the idle UDP flow to end', 50)
      }
      await eventually(() => overlays[1].flows().every(f => f.protocol !== 'udp'), 3_000, 'B to drop the inbound UDP flow', 50)
    })
  })

  describe('lifecycle', function () {
    it('endpoints map every service IP into the peer\'s loopback prefix', function () {
      for (let i = 0; i < 3; i++) {
        for (const e of overlays[i].endpoints()) {
          const [, , c, d] = e.ip.split('.')
          assert.equal(e.local.host, `${PREFIXES[i]}.${c}.${d}`)
          assert.equal(e.local.port, e.port)
        }
      }
    })

    it('an instance that moves to another peer keeps its instance IP, and its old flows are closed', async function () {
      const mover = await deploy('mover', 17007, 'tcp', [{ peer: 1, hostPort: await greetingEcho('mover-on-B') }])
      const ip = mover.instance(0)
      const { host, port } = endpointOf(2, ip, 17007)
      const old = await dialTcp(host, port)
      assert.equal(await line(old), 'mover-on-B')
      const oldClosed = new Promise<void>(resolve => { old.on('close', () => { resolve() }); old.on('error', () => {}) })
      const rec = state.get<InstanceRecord>(keys.inst(mover.id, 0))!
      await put(keys.place(mover.id, 0), { svc: mover.id, n: 0, peerId: id(0), region: 'r1', term: 1, epoch: 1 })
      await put(keys.inst(mover.id, 0), { ...rec, peerId: id(0), peerName: 'peer-0', endpoints: [{ ...rec.endpoints[0], port: await greetingEcho('mover-on-A') }], updatedAt: Date.now() })
      await oldClosed
      const s = await dialTcp(host, port)
      assert.equal(await line(s), 'mover-on-A')
      assert.equal(overlays[2].flows().find(f => f.ip === ip)?.peerId, id(0))
      s.destroy()
    })

    it('a service that goes away closes its listeners', async function () {
      const port = await greetingEcho('gone-0')
      const gone = await deploy('gone', 17004, 'tcp', [{ peer: 0, hostPort: port }])
      const { host } = endpointOf(2, gone.rr, 17004)
      const s = await dialTcp(host, 17004)
      assert.equal(await line(s), 'gone-0')
      s.on('error', () => {})
      const closed = new Promise<void>(resolve => { s.on('close', () => { resolve() }) })
      await state.del(keys.svc(gone.id))
      await closed
      await eventually(() => overlays.every(o => o.endpoints().every(e => e.svc !== gone.id)), 2_000, 'the endpoints to go', 20)
      await assert.rejects(dialTcp(host, 17004), /ECONNREFUSED/)
      await sleep(10)
    })
  })
})
