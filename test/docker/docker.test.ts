// The Docker runtime against a real engine: the shared runtime suite, then what only Docker has (limits, published
// ports, pulls, the event stream). Needs an engine and the grove/busybox:test image: `bash test/docker/setup.sh`.
//
// Gated by GROVE_DOCKER_TESTS=1 so that `npm test` passes on machines without Docker; CI sets it. With the variable
// set, an unreachable engine or a missing image FAILS the run (with the command that fixes it), never skips.
import assert from 'node:assert/strict'
import net from 'node:net'
import { PassThrough } from 'node:stream'
import Docker from 'dockerode'
import { DockerRuntime, LABEL_INSTANCE, LABEL_PEER, LABEL_SERVICE, RuntimeError } from '../../node/runtime/index.js'
import type { InstanceSpec } from '../../node/runtime/index.js'
import { collect, eventually, randomPeer, runtimeSuite } from '../unit/runtime-suite.js'

const IMAGE = 'grove/busybox:test'
const MIB = 1024 * 1024
const SETUP = 'run `bash test/docker/setup.sh` as root: it installs docker.io, starts dockerd and builds grove/busybox:test'

const describeDocker = process.env.GROVE_DOCKER_TESTS === '1' ? describe : describe.skip

/** busybox httpd serving a file that sh writes from the environment; -vv logs each request's URL. */
function httpdCmd (port: number): string[] {
  return ['sh', '-c', `mkdir -p /www && echo "\${GREETING:-hello} $GROVE_SERVICE/$GROVE_INSTANCE" > /www/index.html && echo "serving on ${port}" && exec httpd -f -vv -p ${port} -h /www`]
}

describeDocker('DockerRuntime on a real engine', function () {
  this.timeout(120_000)

  before(async function () {
    const probe = new DockerRuntime()
    const up = await probe.available()
    await probe.close()
    if (!up) throw new Error(`the Docker engine does not answer (DOCKER_HOST=${process.env.DOCKER_HOST ?? 'unset'}, default /var/run/docker.sock): ${SETUP}`)
    try {
      await new Docker().getImage(IMAGE).inspect()
    } catch {
      throw new Error(`the test image ${IMAGE} is not on this engine: ${SETUP}`)
    }
  })

  runtimeSuite('docker', async () => {
    const made: DockerRuntime[] = []
    const make = (): DockerRuntime => {
      const r = new DockerRuntime({ pullTimeoutMs: 5000 })
      made.push(r)
      return r
    }
    return {
      runtime: make(),
      remake: async () => make(),
      cleanup: async () => { for (const r of made) await r.close() },
      serverSpec: port => ({ image: IMAGE, cmd: httpdCmd(port) }),
      failingSpec: { image: IMAGE, cmd: ['sh', '-c', 'echo failing; exit 3'] }
    }
  })

  describe('docker specifics', function () {
    const docker = new Docker()
    let runtime: DockerRuntime
    let others: DockerRuntime[]
    let peer: string

    beforeEach(function () {
      runtime = new DockerRuntime({ pullTimeoutMs: 5000 })
      others = []
      peer = randomPeer()
    })

    afterEach(async function () {
      const r = new DockerRuntime()
      try {
        for (const i of await r.list(peer)) await r.stop(i.id, { timeoutMs: 1000 })
      } finally {
        for (const x of [r, runtime, ...others]) await x.close()
      }
    })

    function spec (service: string, over: Partial<InstanceSpec> = {}): InstanceSpec {
      return { service, instance: 0, peer, image: IMAGE, cmd: ['sleep', '300'], env: [], memoryMiB: 0, vcpus: 0, ports: [], ...over }
    }

    it('labels the container, limits memory and CPU, runs an init, and sets no restart policy', async function () {
      const inst = await runtime.start(spec('limits', { instance: 3, memoryMiB: 64, vcpus: 0.5, env: ['A=1'] }))
      const info = await docker.getContainer(inst.id).inspect()
      assert.equal(info.HostConfig.Memory, 64 * MIB)
      assert.equal((info.HostConfig as { NanoCpus?: number }).NanoCpus, 0.5e9)
      assert.equal((info.HostConfig as { Init?: boolean }).Init, true)
      assert.ok(['no', ''].includes(info.HostConfig.RestartPolicy?.Name ?? ''), `restart policy ${info.HostConfig.RestartPolicy?.Name}`)
      assert.equal(info.Config.Labels[LABEL_SERVICE], 'limits')
      assert.equal(info.Config.Labels[LABEL_INSTANCE], '3')
      assert.equal(info.Config.Labels[LABEL_PEER], peer)
      assert.ok(info.Config.Env.includes('A=1'))
      assert.deepEqual(info.Config.Cmd, ['sleep', '300'])
    })

    it('sets no limit for 0 MiB and 0 cores', async function () {
      const inst = await runtime.start(spec('unlimited'))
      const info = await docker.getContainer(inst.id).inspect()
      assert.equal(info.HostConfig.Memory, 0)
      assert.equal((info.HostConfig as { NanoCpus?: number }).NanoCpus, 0)
    })

    it('publishes ports on 127.0.0.1 only, on a port Docker picks or the one asked for', async function () {
      const wanted = await freePort()
      const inst = await runtime.start(spec('ports', {
        cmd: httpdCmd(80),
        env: ['GROVE_SERVICE=ports', 'GROVE_INSTANCE=0'],
        ports: [{ container: 80, protocol: 'tcp' }, { container: 81, protocol: 'tcp', host: wanted }]
      }))
      const info = await docker.getContainer(inst.id).inspect()
      for (const key of ['80/tcp', '81/tcp']) {
        const bindings = info.NetworkSettings.Ports[key]
        assert.ok(bindings.length > 0, key)
        for (const b of bindings) assert.equal(b.HostIp, '127.0.0.1', `${key} is published on ${b.HostIp}`)
      }
      assert.deepEqual(inst.endpoints.map(e => [e.containerPort, e.host]), [[80, '127.0.0.1'], [81, '127.0.0.1']])
      assert.equal(inst.endpoints[1].port, wanted)
      assert.equal(String(inst.endpoints[0].port), info.NetworkSettings.Ports['80/tcp'][0].HostPort)
    })

    it('rejects a host port in use with RuntimeError "port", leaving no container', async function () {
      const busy = net.createServer()
      await new Promise<void>(resolve => { busy.listen(0, '127.0.0.1', resolve) })
      try {
        const port = (busy.address() as net.AddressInfo).port
        await assert.rejects(runtime.start(spec('busy-port', { ports: [{ container: 80, protocol: 'tcp', host: port }] })), (err: Error) => {
          assert.ok(err instanceof RuntimeError, String(err))
          assert.equal(err.reason, 'port', err.message)
          return true
        })
        assert.deepEqual(await runtime.list(peer), [])
      } finally {
        busy.close()
      }
    })

    it('rejects an image that is missing and cannot be pulled with RuntimeError "image", quickly', async function () {
      const image = `grove/not-here-${Date.now()}:never`
      const started = Date.now()
      await assert.rejects(runtime.start(spec('no-image', { image })), (err: Error) => {
        assert.ok(err instanceof RuntimeError, String(err))
        assert.equal(err.reason, 'image')
        assert.ok(err.message.includes(`image ${image} is not on this host and could not be pulled: `), err.message)
        return true
      })
      assert.ok(Date.now() - started < 6000, `took ${Date.now() - started} ms`)
      assert.deepEqual(await runtime.list(peer), [])
    })

    it('gives up a pull that hangs after pullTimeoutMs', async function () {
      const hanging = new Docker()
      hanging.pull = (async () => new PassThrough()) as unknown as Docker['pull'] // a registry that never answers
      const r = new DockerRuntime({ docker: hanging, pullTimeoutMs: 500 })
      others.push(r)
      const started = Date.now()
      await assert.rejects(r.start(spec('hang', { image: 'grove/hangs:1' })), (err: Error) =>
        err instanceof RuntimeError && err.reason === 'image' && /grove\/hangs:1 .*timed out after 500 ms/.test(err.message))
      assert.ok(Date.now() - started < 3000)
    })

    it('pulls a missing image once for concurrent starts', async function () {
      const counting = new Docker()
      const real = counting.pull.bind(counting) as (image: string, opts: object) => Promise<NodeJS.ReadableStream>
      const pulled: string[] = []
      counting.pull = (async (image: string, opts: object) => {
        pulled.push(image)
        await new Promise(resolve => setTimeout(resolve, 200)) // a slow registry, so the starts overlap for sure
        return await real(image, opts)
      }) as unknown as Docker['pull']
      const r = new DockerRuntime({ docker: counting, pullTimeoutMs: 5000 })
      others.push(r)
      const image = `grove/pulled-once-${Date.now()}:1`
      const results = await Promise.allSettled([r.start(spec('a', { image })), r.start(spec('b', { image })), r.start(spec('c', { image }))])
      for (const result of results) {
        assert.equal(result.status, 'rejected')
        assert.equal((result.reason as RuntimeError).reason, 'image')
      }
      assert.deepEqual(pulled, [image])
      // A failure is not remembered: the next start tries again.
      await assert.rejects(r.start(spec('d', { image })))
      assert.deepEqual(pulled, [image, image])
    })

    it('does not pull an image that is present', async function () {
      const counting = new Docker()
      let pulls = 0
      counting.pull = (async () => { pulls++; throw new Error('no') }) as unknown as Docker['pull']
      const r = new DockerRuntime({ docker: counting })
      others.push(r)
      await r.start(spec('present'))
      assert.equal(pulls, 0)
    })

    it('leaves containers running when closed, and a new runtime adopts them', async function () {
      const inst = await runtime.start(spec('survivor'))
      await runtime.close()
      assert.equal((await docker.getContainer(inst.id).inspect()).State.Running, true)
      const after = new DockerRuntime()
      others.push(after)
      const [listed] = await after.list(peer)
      assert.equal(listed.id, inst.id)
      assert.equal(listed.state, 'running')
      await after.stop(inst.id, { timeoutMs: 1000 })
      await assert.rejects(docker.getContainer(inst.id).inspect(), (err: { statusCode?: number }) => err.statusCode === 404)
    })

    it('reports the real exit code of an adopted container', async function () {
      const inst = await runtime.start(spec('adopted-exit', { cmd: ['sh', '-c', 'sleep 1; exit 7'] }))
      await runtime.close()
      const after = new DockerRuntime()
      others.push(after)
      const exits: Array<[string, number]> = []
      after.onExit((id, code) => { exits.push([id, code]) })
      await eventually(() => { assert.deepEqual(exits, [[inst.id, 7]]) })
      assert.equal((await after.list(peer))[0].exitCode, 7)
    })

    it('reconnects a dropped event stream without losing the exits that happened meanwhile', async function () {
      const watched = new Docker()
      const real = watched.getEvents.bind(watched) as (opts: object) => Promise<NodeJS.ReadableStream>
      const streams: NodeJS.ReadableStream[] = []
      watched.getEvents = (async (opts: object) => {
        const s = await real(opts)
        streams.push(s)
        return s
      }) as unknown as Docker['getEvents']
      const r = new DockerRuntime({ docker: watched, eventsRetryMs: 1500 })
      others.push(r)
      const exits: Array<[string, number]> = []
      r.onExit((id, code) => { exits.push([id, code]) })
      await eventually(() => { assert.equal(streams.length, 1) })
      ;(streams[0] as PassThrough).destroy() // the engine restarted, a proxy cut the connection, ...
      // Exits while no stream is connected: reported once it is back.
      const inst = await r.start(spec('gap', { cmd: ['sh', '-c', 'exit 5'] }))
      await eventually(() => { assert.equal(streams.length, 2) })
      await eventually(() => { assert.deepEqual(exits, [[inst.id, 5]]) })
      const later = await r.start(spec('after', { cmd: ['sh', '-c', 'exit 6'] }))
      await eventually(() => { assert.deepEqual(exits, [[inst.id, 5], [later.id, 6]]) })
    })

    it('refuses to stop a container that Grove did not make', async function () {
      const foreign = await docker.createContainer({ Image: IMAGE, Cmd: ['sleep', '300'] })
      try {
        await assert.rejects(runtime.stop(foreign.id), (err: Error) => err instanceof RuntimeError && /not Grove's/.test(err.message))
        assert.equal((await foreign.inspect()).Id, foreign.id)
      } finally {
        await foreign.remove({ force: true })
      }
      await runtime.stop('0123456789ab0123456789ab') // unknown: nothing to do
    })

    it('sends SIGKILL after timeoutMs to a container that ignores SIGTERM', async function () {
      const inst = await runtime.start(spec('stubborn', { cmd: ['sh', '-c', "trap '' TERM; while :; do sleep 1; done"] }))
      const started = Date.now()
      await runtime.stop(inst.id, { timeoutMs: 1000 })
      const took = Date.now() - started
      assert.ok(took >= 900 && took < 5000, `stop took ${took} ms`)
      assert.deepEqual(await runtime.list(peer), [])
    })

    it('stops a shell promptly: the init passes SIGTERM on', async function () {
      const inst = await runtime.start(spec('shell', { cmd: ['sh', '-c', 'sleep 300'] }))
      const started = Date.now()
      await runtime.stop(inst.id, { timeoutMs: 10_000 })
      assert.ok(Date.now() - started < 3000, `stop took ${Date.now() - started} ms`)
    })

    it('demultiplexes stdout and stderr into lines, and tails them', async function () {
      const inst = await runtime.start(spec('streams', { cmd: ['sh', '-c', 'echo out1; echo err1 >&2; echo out2; printf "no newline"'] }))
      await eventually(async () => { assert.equal((await runtime.list(peer))[0].state, 'exited') })
      const lines = await collect(runtime.logs(inst.id))
      assert.deepEqual([...lines].sort(), ['err1', 'no newline', 'out1', 'out2'])
      assert.deepEqual(await collect(runtime.logs(inst.id, { tail: 1 })), ['no newline'])
    })

    it('reports a command missing from the image as exit code 127', async function () {
      const exits: Array<[string, number]> = []
      runtime.onExit((id, code) => { exits.push([id, code]) })
      const inst = await runtime.start(spec('no-cmd', { cmd: ['grove-no-such-command'] }))
      await eventually(() => { assert.deepEqual(exits, [[inst.id, 127]]) })
    })

    it('replaces an exited leftover of the same instance, and refuses a running one', async function () {
      const first = await runtime.start(spec('again', { cmd: ['true'] }))
      await eventually(async () => { assert.equal((await runtime.list(peer))[0].state, 'exited') })
      const second = await runtime.start(spec('again'))
      assert.notEqual(second.id, first.id)
      assert.deepEqual((await runtime.list(peer)).map(i => i.id), [second.id])
      await assert.rejects(runtime.start(spec('again')), /already running/)
    })

    it('measures CPU and memory of a busy container', async function () {
      const inst = await runtime.start(spec('busy', { cmd: ['sh', '-c', 'while :; do :; done'] }))
      const stats = await eventually(async () => {
        const s = await runtime.stats(inst.id)
        assert.ok(s !== undefined && s.cpuPercent > 30, `cpu ${s?.cpuPercent}`)
        return s
      }, 20_000)
      assert.ok(stats.memoryBytes > 0)
    })
  })
})

async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as net.AddressInfo).port
  await new Promise(resolve => server.close(resolve))
  return port
}
