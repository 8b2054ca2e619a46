// The one suite every Runtime passes: memory and process in test/unit/runtime.test.ts, docker against a real engine
// in test/docker/docker.test.ts. It speaks only the Runtime interface; what differs per runtime (how to run a tiny
// HTTP server, how to fail) comes from the harness.
//
// The server a harness provides must:
//   - listen on the instance's port (`port` inside a container; $PORT for a process);
//   - answer every GET with "<$GREETING or hello> <$GROVE_SERVICE>/<$GROVE_INSTANCE>" (a trailing newline is fine);
//   - print a line containing "serving" once it listens, and one containing the request path for each request.
// The failing command must print something and exit with code 3.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import { RuntimeError } from '../../node/runtime/index.js'
import type { InstanceSpec, Runtime, RuntimeInstance } from '../../node/runtime/index.js'

export interface RuntimeHarness {
  runtime: Runtime
  /** Another runtime on the same state (engine, data directory): what a restarted daemon makes. */
  remake: () => Promise<Runtime>
  /** Closes the runtimes and removes what the harness made (temporary directories). */
  cleanup: () => Promise<void>
  serverSpec: (port: number) => Pick<InstanceSpec, 'image' | 'cmd'>
  failingSpec: Pick<InstanceSpec, 'image' | 'cmd'>
}

/** Polls until check stops throwing, or rethrows its last error after timeoutMs. */
export async function eventually<T> (check: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    try {
      return await check()
    } catch (err) {
      if (Date.now() > until) throw err
      await new Promise(resolve => setTimeout(resolve, intervalMs))
    }
  }
}

/** One GET, with a short timeout so a dead endpoint fails fast. */
export async function httpGet (host: string, port: number, path = '/'): Promise<string> {
  return await new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, timeout: 2000, agent: false }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { resolve(body) })
      res.on('error', reject)
    })
    req.on('timeout', () => { req.destroy(new Error(`GET ${host}:${port}${path} timed out`)) })
    req.on('error', reject)
  })
}

export async function collect (lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = []
  for await (const line of lines) out.push(line)
  return out
}

export function randomPeer (): string {
  return `12D3KooWtest${randomBytes(8).toString('hex')}`
}

const SERVER_PORT = 8080

export function runtimeSuite (name: string, make: () => Promise<RuntimeHarness>): void {
  describe(`Runtime suite: ${name}`, function () {
    let h: RuntimeHarness
    let peer: string
    let otherPeer: string
    let remade: Runtime[]

    beforeEach(async function () {
      h = await make()
      peer = randomPeer()
      otherPeer = randomPeer()
      remade = []
    })

    afterEach(async function () {
      // Through a fresh runtime (the test may have closed h.runtime), and whatever fails, the harness cleans up:
      // a failed test must not leave servers running.
      const errors: unknown[] = []
      const r = await h.remake()
      for (const p of [peer, otherPeer]) {
        for (const i of await r.list(p).catch(err => { errors.push(err); return [] })) {
          await r.stop(i.id, { timeoutMs: 1000 }).catch(err => { errors.push(err) })
        }
      }
      for (const x of [r, ...remade]) await x.close()
      await h.cleanup()
      if (errors.length > 0) throw errors[0]
    })

    async function remake (): Promise<Runtime> {
      const r = await h.remake()
      remade.push(r)
      return r
    }

    function spec (service: string, over: Partial<InstanceSpec> = {}): InstanceSpec {
      return { service, instance: 1, peer, cmd: [], env: [], memoryMiB: 0, vcpus: 0, ports: [], ...over }
    }

    function serverSpec (service: string, over: Partial<InstanceSpec> = {}): InstanceSpec {
      const instance = over.instance ?? 1
      return spec(service, {
        ...h.serverSpec(SERVER_PORT),
        ports: [{ container: SERVER_PORT, protocol: 'tcp' }],
        ...over,
        env: [`GROVE_SERVICE=${service}`, `GROVE_INSTANCE=${instance}`, ...(over.env ?? [])]
      })
    }

    async function answer (inst: RuntimeInstance, path = '/'): Promise<string> {
      const e = inst.endpoints[0]
      return (await eventually(async () => await httpGet(e.host, e.port, path))).trim()
    }

    async function unreachable (inst: RuntimeInstance): Promise<void> {
      const e = inst.endpoints[0]
      await eventually(async () => {
        await assert.rejects(httpGet(e.host, e.port))
      })
    }

    it('is available', async function () {
      assert.equal(await h.runtime.available(), true)
    })

    it('starts an instance that serves on its endpoint', async function () {
      const inst = await h.runtime.start(serverSpec('web'))
      assert.equal(inst.state, 'running')
      assert.equal(inst.service, 'web')
      assert.equal(inst.instance, 1)
      assert.equal(inst.peer, peer)
      assert.ok(inst.id.length > 0)
      assert.ok(inst.startedAt > Date.now() - 60_000 && inst.startedAt <= Date.now() + 1000, `startedAt ${inst.startedAt}`)
      assert.equal(inst.endpoints.length, 1)
      const [e] = inst.endpoints
      assert.equal(e.containerPort, SERVER_PORT)
      assert.equal(e.protocol, 'tcp')
      assert.equal(e.host, '127.0.0.1')
      assert.ok(e.port > 0 && e.port < 65536)
      assert.equal(await answer(inst), 'hello web/1')
    })

    it('passes the environment to the instance', async function () {
      const inst = await h.runtime.start(serverSpec('env', { instance: 2, env: ['GREETING=bonjour'] }))
      assert.equal(await answer(inst), 'bonjour env/2')
    })

    it('lists a started instance with its service, instance and peer', async function () {
      const started = await h.runtime.start(serverSpec('listed', { instance: 4 }))
      const listed = await h.runtime.list(peer)
      assert.equal(listed.length, 1)
      const [l] = listed
      assert.equal(l.id, started.id)
      assert.equal(l.service, 'listed')
      assert.equal(l.instance, 4)
      assert.equal(l.peer, peer)
      assert.equal(l.state, 'running')
      assert.equal(l.exitCode, undefined)
      assert.deepEqual(l.endpoints, started.endpoints)
      assert.ok(Math.abs(l.startedAt - started.startedAt) < 2000)
    })

    it('does not list the instances of another peer', async function () {
      const mine = await h.runtime.start(serverSpec('mine'))
      const theirs = await h.runtime.start(serverSpec('theirs', { peer: otherPeer }))
      assert.deepEqual((await h.runtime.list(peer)).map(i => i.id), [mine.id])
      assert.deepEqual((await h.runtime.list(otherPeer)).map(i => i.id), [theirs.id])
      assert.deepEqual(await h.runtime.list(randomPeer()), [])
    })

    it('reads the logs: all, the tail, and following', async function () {
      const inst = await h.runtime.start(serverSpec('logs'))
      await answer(inst, '/first')
      const all = await eventually(async () => {
        const lines = await collect(h.runtime.logs(inst.id))
        assert.ok(lines.some(l => l.includes('serving')), `no "serving" line in ${JSON.stringify(lines)}`)
        assert.ok(lines.some(l => l.includes('/first')), `no "/first" line in ${JSON.stringify(lines)}`)
        return lines
      })
      assert.deepEqual(await collect(h.runtime.logs(inst.id, { tail: 1 })), all.slice(-1))

      const controller = new AbortController()
      const followed: string[] = []
      const following = (async () => {
        for await (const line of h.runtime.logs(inst.id, { follow: true, signal: controller.signal })) followed.push(line)
      })()
      await answer(inst, '/followed')
      await eventually(() => { assert.ok(followed.some(l => l.includes('/followed')), JSON.stringify(followed)) })
      controller.abort()
      await following
    })

    it('ends a followed log when the instance is stopped', async function () {
      const inst = await h.runtime.start(serverSpec('follow-stop'))
      await answer(inst)
      const following = collect(h.runtime.logs(inst.id, { follow: true }))
      await h.runtime.stop(inst.id, { timeoutMs: 2000 })
      const lines = await following
      assert.ok(lines.some(l => l.includes('serving')), JSON.stringify(lines))
    })

    it('reports the exit code of a failing command, and lists it as exited', async function () {
      const exits: Array<[string, number]> = []
      h.runtime.onExit((id, code) => { exits.push([id, code]) })
      const inst = await h.runtime.start(spec('failing', { ...h.failingSpec }))
      await eventually(() => { assert.deepEqual(exits.filter(([id]) => id === inst.id), [[inst.id, 3]]) })
      const [listed] = await h.runtime.list(peer)
      assert.equal(listed.id, inst.id)
      assert.equal(listed.state, 'exited')
      assert.equal(listed.exitCode, 3)
      assert.equal(await h.runtime.stats(inst.id), undefined)
      await h.runtime.stop(inst.id)
      assert.deepEqual(await h.runtime.list(peer), [])
    })

    it('stops an instance, removes it, and reports no exit for it; stop is idempotent', async function () {
      const exits: string[] = []
      h.runtime.onExit(id => { exits.push(id) })
      const inst = await h.runtime.start(serverSpec('stopped'))
      await answer(inst)
      await h.runtime.stop(inst.id, { timeoutMs: 2000 })
      assert.deepEqual(await h.runtime.list(peer), [])
      await unreachable(inst)
      await h.runtime.stop(inst.id)
      await h.runtime.stop(inst.id, { timeoutMs: 0 })
      // Exit reports are asynchronous (an event stream, a poll): give a late one the time to show up.
      await new Promise(resolve => setTimeout(resolve, 1200))
      assert.deepEqual(exits, [])
    })

    it('reports stats of a running instance only', async function () {
      const inst = await h.runtime.start(serverSpec('stats'))
      await answer(inst)
      const stats = await h.runtime.stats(inst.id)
      assert.ok(stats !== undefined)
      assert.ok(stats.cpuPercent >= 0 && Number.isFinite(stats.cpuPercent), `cpuPercent ${stats.cpuPercent}`)
      assert.ok(stats.memoryBytes >= 0 && Number.isFinite(stats.memoryBytes), `memoryBytes ${stats.memoryBytes}`)
      await h.runtime.stop(inst.id)
      assert.equal(await h.runtime.stats(inst.id), undefined)
    })

    it('adopts running instances after a restart: lists, reads logs, and stops them', async function () {
      const inst = await h.runtime.start(serverSpec('adopted'))
      assert.equal(await answer(inst), 'hello adopted/1')
      await h.runtime.close()

      const after = await remake()
      const [listed] = await after.list(peer)
      assert.equal(listed?.id, inst.id)
      assert.equal(listed.state, 'running')
      assert.deepEqual(listed.endpoints, inst.endpoints)
      assert.equal(await answer(listed), 'hello adopted/1')
      await eventually(async () => {
        const lines = await collect(after.logs(inst.id))
        assert.ok(lines.some(l => l.includes('serving')), JSON.stringify(lines))
      })
      await after.stop(inst.id, { timeoutMs: 2000 })
      assert.deepEqual(await after.list(peer), [])
      await unreachable(inst)
    })

    it('rejects a start whose signal has already aborted', async function () {
      const controller = new AbortController()
      controller.abort(new Error('not now'))
      await assert.rejects(h.runtime.start(serverSpec('aborted'), controller.signal))
      assert.deepEqual(await h.runtime.list(peer), [])
    })

    it('throws RuntimeError for the logs of an unknown instance', async function () {
      const inst = await h.runtime.start(serverSpec('gone'))
      await h.runtime.stop(inst.id)
      await assert.rejects(collect(h.runtime.logs(inst.id)), (err: Error) => err instanceof RuntimeError)
    })
  })
}
