import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { archName, dockerProbe, nvidiaGpus, parseNvidiaSmi, ResourceMonitor } from '../../node/resources.js'
import { gpuSchema, resourcesSchema } from '../../node/wire/schemas.js'
import type { DockerProbe } from '../../node/resources.js'
import type { Gpu, Resources } from '../../node/wire/schemas.js'

const MIB = 1024 * 1024

/** Polls until check stops throwing, or rethrows its last error after timeoutMs. */
async function eventually (check: () => void, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return check()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }
}

function fakeDocker (answer: boolean): DockerProbe & { signals: AbortSignal[] } {
  const signals: AbortSignal[] = []
  return { signals, ping: async signal => { signals.push(signal); return answer } }
}

describe('parseNvidiaSmi', () => {
  it('reads a two-GPU host', () => {
    const out = 'NVIDIA GeForce RTX 3090, 24576, 23800, 7\nTesla V100-SXM2-16GB, 16160, 16150, 100\n'
    assert.deepEqual(parseNvidiaSmi(out), [
      { name: 'NVIDIA GeForce RTX 3090', memTotal: 24576 * MIB, memFree: 23800 * MIB, usage: 0.07 },
      { name: 'Tesla V100-SXM2-16GB', memTotal: 16160 * MIB, memFree: 16150 * MIB, usage: 1 }
    ])
  })

  const cases: Array<{ name: string, text: string, expected: Gpu[] }> = [
    { name: 'empty output', text: '', expected: [] },
    {
      name: 'the driver-not-loaded message',
      text: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n",
      expected: []
    },
    { name: 'non-numeric memory', text: 'GPU, lots, some, 5\nGPU, 1O24, 512, 5', expected: [] },
    { name: 'too few fields', text: '24576, 23800, 7', expected: [] },
    { name: 'no name', text: ', 1024, 512, 5', expected: [] },
    { name: 'blank memory', text: 'GPU, , , 5', expected: [] },
    {
      name: 'utilization [N/A] counts as idle',
      text: 'NVIDIA A100-SXM4-40GB MIG 1g.5gb, 4864, 4800, [N/A]',
      expected: [{ name: 'NVIDIA A100-SXM4-40GB MIG 1g.5gb', memTotal: 4864 * MIB, memFree: 4800 * MIB, usage: 0 }]
    },
    {
      name: 'a comma in the name, CRLF line ends, and a garbage line in between',
      text: 'Acme, Inc. Accelerator, 1024, 256, 50\r\n#@!\r\nGPU, 2048, 2048, 0\r\n',
      expected: [
        { name: 'Acme, Inc. Accelerator', memTotal: 1024 * MIB, memFree: 256 * MIB, usage: 0.5 },
        { name: 'GPU', memTotal: 2048 * MIB, memFree: 2048 * MIB, usage: 0 }
      ]
    }
  ]
  for (const c of cases) {
    it(c.name, () => {
      const gpus = parseNvidiaSmi(c.text)
      assert.deepEqual(gpus, c.expected)
      for (const g of gpus) gpuSchema.parse(g)
    })
  }
})

describe('nvidiaGpus', () => {
  it('answers with valid GPUs, or none where nvidia-smi is missing', async () => {
    const gpus = await nvidiaGpus(AbortSignal.timeout(5000))
    assert.ok(Array.isArray(gpus))
    for (const g of gpus) gpuSchema.parse(g)
  })
})

describe('archName', () => {
  const cases: Array<[string, string]> = [
    ['x64', 'amd64'],
    ['arm64', 'arm64'],
    ['arm', 'arm'],
    ['ia32', '386'],
    ['riscv64', 'riscv64'],
    ['s390x', 's390x'],
    ['toString', 'toString']
  ]
  for (const [node, oakestra] of cases) {
    it(`${node} → ${oakestra}`, () => assert.equal(archName(node), oakestra))
  }
})

describe('dockerProbe', () => {
  let dir: string
  let engine: Server | undefined

  /** A stand-in for the engine's API socket: answers /_ping, or accepts and never answers when hung. */
  async function fakeEngine (hung: boolean): Promise<string> {
    const socketPath = path.join(dir, 'docker.sock')
    engine = createServer((req, res) => {
      if (hung) return
      res.writeHead(req.url?.endsWith('/_ping') === true ? 200 : 404, { 'content-type': 'text/plain' }).end('OK')
    })
    await new Promise<void>(resolve => engine?.listen(socketPath, resolve))
    return socketPath
  }

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'grove-docker-'))
  })

  afterEach(async () => {
    engine?.closeAllConnections()
    await new Promise(resolve => engine?.close(resolve) ?? resolve(undefined))
    engine = undefined
    await rm(dir, { recursive: true, force: true })
  })

  it('answers true when an engine answers on the socket', async () => {
    const socketPath = await fakeEngine(false)
    assert.equal(await dockerProbe({ socketPath }).ping(AbortSignal.timeout(5000)), true)
  })

  it('goes where DOCKER_HOST points when no socket is given', async () => {
    const socketPath = await fakeEngine(false)
    const saved = process.env.DOCKER_HOST
    process.env.DOCKER_HOST = `unix://${socketPath}`
    try {
      assert.equal(await dockerProbe().ping(AbortSignal.timeout(5000)), true)
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST
      else process.env.DOCKER_HOST = saved
    }
  })

  it('gives up on a hung engine after a second', async () => {
    const socketPath = await fakeEngine(true)
    const started = Date.now()
    assert.equal(await dockerProbe({ socketPath }).ping(new AbortController().signal), false)
    const took = Date.now() - started
    assert.ok(took >= 900 && took < 3000, `took ${took} ms`)
  })

  it('answers false, and quickly, when the socket does not exist', async () => {
    const started = Date.now()
    const up = await dockerProbe({ socketPath: path.join(os.tmpdir(), 'grove-no-such-dir', 'docker.sock') }).ping(AbortSignal.timeout(5000))
    assert.equal(up, false)
    assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`)
  })

  it('answers false when the caller has already given up', async () => {
    const up = await dockerProbe({ socketPath: '/var/run/docker.sock' }).ping(AbortSignal.abort())
    assert.equal(up, false)
  })
})

describe('ResourceMonitor', function () {
  let dataDir: string
  const monitors: ResourceMonitor[] = []

  function monitor (init: Partial<ConstructorParameters<typeof ResourceMonitor>[0]> = {}): ResourceMonitor {
    const m = new ResourceMonitor({ dataDir, docker: fakeDocker(false), gpuProbe: async () => [], ...init })
    monitors.push(m)
    return m
  }

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'grove-resources-'))
  })

  afterEach(async () => {
    for (const m of monitors.splice(0)) m.stop()
    await rm(dataDir, { recursive: true, force: true })
  })

  for (const dockerUp of [true, false]) {
    it(`measures the host for real (docker ${dockerUp ? 'up' : 'down'})`, async () => {
      const docker = fakeDocker(dockerUp)
      const m = monitor({ docker })
      await m.start()
      const r = m.current

      resourcesSchema.parse(r)
      assert.equal(r.cpuCores, os.cpus().length)
      assert.ok(r.cpuUsage >= 0 && r.cpuUsage <= 1, `cpuUsage ${r.cpuUsage}`)
      assert.equal(r.memTotal, os.totalmem())
      assert.ok(r.memFree > 0 && r.memFree <= r.memTotal, `memFree ${r.memFree} of ${r.memTotal}`)
      assert.ok(r.diskFree > 0 && r.diskFree <= r.diskTotal, `diskFree ${r.diskFree} of ${r.diskTotal}`)
      assert.equal(r.arch, archName(process.arch))
      assert.deepEqual(r.gpus, [])
      assert.ok(r.runtimes.includes('process'))
      assert.equal(r.runtimes.includes('docker'), dockerUp)
      assert.equal(docker.signals.length, 1, 'probed once at start')
    })
  }

  it('measures the file system of a data directory that does not exist yet', async () => {
    const m = monitor({ dataDir: path.join(dataDir, 'not', 'yet') })
    await m.start()
    assert.ok(m.current.diskTotal > 0)
  })

  it('keeps sampling, and tells listeners of changes', async () => {
    const m = monitor({ intervalMs: 20 })
    const seen: Resources[] = []
    m.onChange(r => seen.push(r))
    await m.start()
    // CPU use moves on every sample on a live host; a few samples are plenty to see one change.
    await eventually(() => assert.ok(seen.length >= 2, `${seen.length} changes`))
    for (const r of seen) resourcesSchema.parse(r)
    assert.equal(m.current, seen[seen.length - 1])
  })

  it('probes docker and the GPUs again on their own interval', async () => {
    let up = false
    let gpus: Gpu[] = []
    const m = monitor({
      dockerIntervalMs: 20,
      docker: { ping: async () => up },
      gpuProbe: async () => gpus
    })
    await m.start()
    assert.deepEqual(m.current.runtimes, ['process'])

    up = true
    gpus = [{ name: 'NVIDIA T4', memTotal: 16e9, memFree: 15e9, usage: 0 }]
    await eventually(() => {
      assert.deepEqual(m.current.runtimes, ['process', 'docker'])
      assert.deepEqual(m.current.gpus, gpus)
    })
  })

  it('keeps the last value when a probe throws', async () => {
    const gpu = { name: 'NVIDIA T4', memTotal: 16e9, memFree: 15e9, usage: 0 }
    let calls = 0
    const m = monitor({
      dockerIntervalMs: 20,
      docker: { ping: async () => { throw new Error('broken probe') } },
      gpuProbe: async () => {
        if (++calls > 1) throw new Error('nvidia-smi crashed')
        return [gpu]
      }
    })
    await m.start()
    await eventually(() => assert.ok(calls >= 3))
    assert.deepEqual(m.current.gpus, [gpu])
    assert.deepEqual(m.current.runtimes, ['process'])
    resourcesSchema.parse(m.current)
  })

  it('survives a listener that throws', async () => {
    const m = monitor({ intervalMs: 20 })
    let calls = 0
    m.onChange(() => { throw new Error('bad listener') })
    m.onChange(() => { calls++ })
    await m.start()
    await eventually(() => assert.ok(calls >= 2))
  })

  it('stops measuring on stop(), and start() and stop() are idempotent', async () => {
    let pings = 0
    const m = monitor({ intervalMs: 10, dockerIntervalMs: 10, docker: { ping: async () => { pings++; return true } } })
    await Promise.all([m.start(), m.start()])
    assert.equal(pings, 1)
    await m.start()
    assert.equal(pings, 1)

    let changes = 0
    const off = m.onChange(() => { changes++ })
    await eventually(() => assert.ok(pings >= 2 && changes >= 1))
    m.stop()
    m.stop()
    const [pingsAtStop, changesAtStop] = [pings, changes]
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(pings, pingsAtStop)
    assert.equal(changes, changesAtStop)
    off()

    // A stopped monitor can be started again.
    await m.start()
    assert.equal(pings, pingsAtStop + 1)
  })

  it('has a valid guess before start()', () => {
    resourcesSchema.parse(monitor().current)
  })
})
