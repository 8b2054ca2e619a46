import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { createRuntime, DockerRuntime, MemoryEngine, MemoryRuntime, ProcessRuntime, RuntimeError } from '../../node/runtime/index.js'
import type { FakeProgram, InstanceSpec, Runtime } from '../../node/runtime/index.js'
import { AsyncQueue, LineSplitter } from '../../node/runtime/lines.js'
import { parseProcStat, readProcStatSync } from '../../node/runtime/proc.js'
import { collect, eventually, randomPeer, runtimeSuite } from './runtime-suite.js'

// ---- the shared suite --------------------------------------------------------------------------------------------

/**
 * The memory runtime's "server": a real HTTP server in this process per instance, which the instance's endpoint
 * points at, so the suite's HTTP checks run unchanged. `serve` runs it, `fail <code>` exits with that code.
 */
const fakeProgram: FakeProgram = async ({ spec, log, exit }) => {
  const [verb, arg] = spec.cmd
  if (verb === 'fail') {
    log('failing')
    setTimeout(() => { exit(Number(arg)) }, 10)
    return
  }
  if (verb !== 'serve') return
  const env = Object.fromEntries(spec.env.map(e => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
  const server = http.createServer((req, res) => {
    log(`GET ${req.url}`)
    res.end(`${env.GREETING ?? 'hello'} ${env.GROVE_SERVICE}/${env.GROVE_INSTANCE}\n`)
  })
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as net.AddressInfo).port
  log(`serving on ${port}`)
  return {
    endpoints: spec.ports.slice(0, 1).map(p => ({ containerPort: p.container, protocol: p.protocol, host: '127.0.0.1', port })),
    stop: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}

runtimeSuite('memory', async () => {
  const engine = new MemoryEngine()
  const made: Runtime[] = []
  const make = (): MemoryRuntime => {
    const r = new MemoryRuntime({ engine, program: fakeProgram })
    made.push(r)
    return r
  }
  return {
    runtime: make(),
    remake: async () => make(),
    cleanup: async () => {
      // Whatever a test left running keeps its HTTP server: stop it through the engine.
      const r = make()
      for (const id of [...engine.instances.keys()]) await r.stop(id)
      for (const x of made) await x.close()
    },
    serverSpec: port => ({ cmd: ['serve', String(port)] }),
    failingSpec: { cmd: ['fail', '3'] }
  }
})

/** A tiny HTTP server for the process runtime, run with `node -e`. */
const SERVER_JS = `
const http = require('node:http')
const e = process.env
http.createServer((req, res) => {
  console.log('GET ' + req.url)
  res.end((e.GREETING || 'hello') + ' ' + e.GROVE_SERVICE + '/' + e.GROVE_INSTANCE + '\\n')
}).listen(Number(e.PORT), '127.0.0.1', () => console.log('serving on ' + e.PORT))
`

runtimeSuite('process', async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'grove-runtime-'))
  const made: Runtime[] = []
  const make = (): ProcessRuntime => {
    const r = new ProcessRuntime({ dataDir })
    made.push(r)
    return r
  }
  return {
    runtime: make(),
    remake: async () => make(),
    cleanup: async () => {
      for (const r of made) await r.close()
      await rm(dataDir, { recursive: true, force: true })
    },
    serverSpec: () => ({ cmd: [process.execPath, '-e', SERVER_JS] }),
    failingSpec: { cmd: ['sh', '-c', 'echo failing; exit 3'] }
  }
})

// ---- the process runtime on its own -----------------------------------------------------------------------------

/** Live processes (not zombies) whose command line is `command`. */
function processesWith (command: string): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ')
      const state = readProcStatSync(Number(entry))?.state
      if (cmdline.trim() === command && state !== 'Z') found.push(Number(entry))
    } catch {}
  }
  return found
}

async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as net.AddressInfo).port
  await new Promise(resolve => server.close(resolve))
  return port
}

describe('ProcessRuntime', function () {
  let dataDir: string
  let runtime: ProcessRuntime
  let others: ProcessRuntime[]
  let peer: string

  beforeEach(async function () {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'grove-process-'))
    runtime = new ProcessRuntime({ dataDir })
    others = []
    peer = randomPeer()
  })

  afterEach(async function () {
    const r = new ProcessRuntime({ dataDir })
    try {
      for (const i of await r.list(peer)) await r.stop(i.id, { timeoutMs: 500 })
    } finally {
      for (const x of [r, runtime, ...others]) await x.close()
      await rm(dataDir, { recursive: true, force: true, maxRetries: 5 })
    }
  })

  function spec (service: string, cmd: string[], over: Partial<InstanceSpec> = {}): InstanceSpec {
    return { service, instance: 0, peer, cmd, env: [], memoryMiB: 0, vcpus: 0, ports: [], ...over }
  }

  async function logsOf (id: string, r: Runtime = runtime): Promise<string[]> {
    return await collect(r.logs(id))
  }

  it('kills the whole process group on stop', async function () {
    const marker = `sleep ${4000 + Math.floor(Math.random() * 999)}`
    const inst = await runtime.start(spec('group', ['sh', '-c', `${marker} & ${marker}`]))
    await eventually(() => { assert.equal(processesWith(marker).length, 2) })
    const started = Date.now()
    await runtime.stop(inst.id)
    assert.deepEqual(processesWith(marker), [])
    assert.ok(Date.now() - started < 3000, 'SIGTERM should have been enough')
  })

  it('sends SIGKILL to a group that ignores SIGTERM, after timeoutMs', async function () {
    const marker = `sleep ${5000 + Math.floor(Math.random() * 999)}`
    // Ignored signals are inherited across exec, so the sleeps ignore SIGTERM too.
    const inst = await runtime.start(spec('stubborn', ['sh', '-c', `trap '' TERM; ${marker} & ${marker}`]))
    await eventually(() => { assert.equal(processesWith(marker).length, 2) })
    const started = Date.now()
    await runtime.stop(inst.id, { timeoutMs: 400 })
    const took = Date.now() - started
    assert.deepEqual(processesWith(marker), [])
    assert.ok(took >= 350 && took < 3000, `stop took ${took} ms`)
  })

  it('rejects a command that is not found with RuntimeError "command", leaving nothing behind', async function () {
    await assert.rejects(runtime.start(spec('missing', ['grove-no-such-command-xyz', '--flag'])), (err: Error) => {
      assert.ok(err instanceof RuntimeError)
      assert.equal(err.reason, 'command')
      assert.match(err.message, /grove-no-such-command-xyz: command not found/)
      return true
    })
    assert.deepEqual(await runtime.list(peer), [])
    assert.deepEqual(await readdir(path.join(dataDir, 'instances')), [])
  })

  it('rejects an empty command with RuntimeError "command"', async function () {
    await assert.rejects(runtime.start(spec('empty', [])), (err: Error) => err instanceof RuntimeError && err.reason === 'command')
  })

  it('sets PORT to the first port and PORT_<containerPort> to each', async function () {
    const inst = await runtime.start(spec('ports', ['sh', '-c', 'echo "$PORT $PORT_80 $PORT_9090 $PORT_53"'], {
      ports: [{ container: 80, protocol: 'tcp' }, { container: 9090, protocol: 'tcp' }, { container: 53, protocol: 'udp' }]
    }))
    const [web, other, dns] = inst.endpoints
    assert.deepEqual(inst.endpoints.map(e => [e.containerPort, e.protocol, e.host]), [[80, 'tcp', '127.0.0.1'], [9090, 'tcp', '127.0.0.1'], [53, 'udp', '127.0.0.1']])
    assert.equal(new Set([web.port, other.port]).size, 2)
    await eventually(async () => { assert.deepEqual(await logsOf(inst.id), [`${web.port} ${web.port} ${other.port} ${dns.port}`]) })
  })

  it('uses a requested host port, and refuses one in use with RuntimeError "port"', async function () {
    const port = await freePort()
    const inst = await runtime.start(spec('fixed', ['sh', '-c', 'echo $PORT'], { ports: [{ host: port, container: 80, protocol: 'tcp' }] }))
    assert.equal(inst.endpoints[0].port, port)
    await eventually(async () => { assert.deepEqual(await logsOf(inst.id), [String(port)]) })

    const busy = net.createServer()
    await new Promise<void>(resolve => { busy.listen(0, resolve) })
    try {
      const taken = (busy.address() as net.AddressInfo).port
      await assert.rejects(runtime.start(spec('taken', ['true'], { ports: [{ host: taken, container: 80, protocol: 'tcp' }] })),
        (err: Error) => err instanceof RuntimeError && err.reason === 'port' && err.message.includes(String(taken)))
    } finally {
      busy.close()
    }
  })

  it('passes only basic variables of the daemon, then the spec\'s', async function () {
    process.env.GROVE_TEST_SECRET = 'do-not-leak'
    try {
      const inst = await runtime.start(spec('env', ['sh', '-c', 'echo "[$GROVE_TEST_SECRET] [$A] [$B]"; test -n "$PATH" && echo has-path'], { env: ['A=1', 'B=x=y'] }))
      await eventually(async () => { assert.deepEqual(await logsOf(inst.id), ['[] [1] [x=y]', 'has-path']) })
    } finally {
      delete process.env.GROVE_TEST_SECRET
    }
  })

  it('keeps a record with pid, start time, service, instance, peer, startedAt and endpoints', async function () {
    const inst = await runtime.start(spec('record', ['sleep', '30'], { instance: 7, ports: [{ container: 80, protocol: 'tcp' }] }))
    const dir = path.join(dataDir, 'instances', 'record-7')
    const record = JSON.parse(await readFile(path.join(dir, 'instance.json'), 'utf8'))
    const stat = readProcStatSync(record.pid)
    assert.ok(stat !== undefined)
    assert.equal(record.startTime, stat.startTime)
    assert.equal(inst.id, `pid:${record.pid}:${record.startTime}`)
    assert.equal(record.service, 'record')
    assert.equal(record.instance, 7)
    assert.equal(record.peer, peer)
    assert.equal(record.startedAt, inst.startedAt)
    assert.deepEqual(record.endpoints, inst.endpoints)
    assert.ok((await readdir(dir)).includes('output.log'))
    await runtime.stop(inst.id)
    await assert.rejects(readdir(dir), { code: 'ENOENT' })
  })

  it('never takes a reused pid for its instance: a record whose start time differs is exited, and stop spares the process', async function () {
    const dir = path.join(dataDir, 'instances', 'reused-0')
    await mkdir(dir, { recursive: true })
    const real = readProcStatSync(process.pid)
    assert.ok(real !== undefined)
    const id = `pid:${process.pid}:${real.startTime + 1}`
    await writeFile(path.join(dir, 'instance.json'), JSON.stringify({
      version: 1, id, pid: process.pid, startTime: real.startTime + 1, service: 'reused', instance: 0, peer, startedAt: Date.now(), endpoints: [], cmd: ['x']
    }))
    const [listed] = await runtime.list(peer)
    assert.equal(listed.id, id)
    assert.equal(listed.state, 'exited')
    assert.equal(listed.exitCode, -1)
    await runtime.stop(id, { timeoutMs: 100 }) // would SIGTERM this very test process if it trusted the pid
    assert.deepEqual(await runtime.list(peer), [])
  })

  it('detects the exit of an adopted instance by polling, with exit code -1', async function () {
    const inst = await runtime.start(spec('short', ['sh', '-c', 'sleep 0.7']))
    await runtime.close()
    const after = new ProcessRuntime({ dataDir, pollIntervalMs: 100 })
    others.push(after)
    const exits: Array<[string, number]> = []
    after.onExit((id, code) => { exits.push([id, code]) })
    assert.equal((await after.list(peer))[0]?.state, 'running')
    await eventually(() => { assert.deepEqual(exits, [[inst.id, -1]]) }, 5000)
    const [listed] = await after.list(peer)
    assert.equal(listed.state, 'exited')
    assert.equal(listed.exitCode, -1)
    // Reported once: another runtime on the same directory does not report it again.
    const third = new ProcessRuntime({ dataDir, pollIntervalMs: 100 })
    others.push(third)
    const again: string[] = []
    third.onExit(id => { again.push(id) })
    await new Promise(resolve => setTimeout(resolve, 400))
    assert.deepEqual(again, [])
  })

  it('reports the real exit code of its own children, also when killed by a signal', async function () {
    const exits = new Map<string, number>()
    runtime.onExit((id, code) => { exits.set(id, code) })
    const killed = await runtime.start(spec('killed', ['sh', '-c', 'kill -9 $$']))
    const fine = await runtime.start(spec('fine', ['true']))
    await eventually(() => {
      assert.equal(exits.get(killed.id), 128 + 9)
      assert.equal(exits.get(fine.id), 0)
    })
  })

  it('tails long output, and a last line without a newline', async function () {
    const inst = await runtime.start(spec('long', ['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo "line $i of some length to cross chunks"; i=$((i+1)); done; printf end']))
    await eventually(async () => { assert.equal((await runtime.list(peer))[0].state, 'exited') })
    const all = await logsOf(inst.id)
    assert.equal(all.length, 3001)
    assert.equal(all[0], 'line 0 of some length to cross chunks')
    assert.equal(all[3000], 'end')
    assert.deepEqual(await collect(runtime.logs(inst.id, { tail: 3 })), ['line 2998 of some length to cross chunks', 'line 2999 of some length to cross chunks', 'end'])
    assert.deepEqual(await collect(runtime.logs(inst.id, { tail: 0 })), [])
    assert.equal((await collect(runtime.logs(inst.id, { tail: 5000 }))).length, 3001)
  })

  it('appends the output of a restarted instance to its log', async function () {
    const first = await runtime.start(spec('again', ['echo', 'first']))
    await eventually(async () => { assert.equal((await runtime.list(peer))[0].state, 'exited') })
    const second = await runtime.start(spec('again', ['echo', 'second']))
    assert.notEqual(first.id, second.id)
    await eventually(async () => { assert.deepEqual(await logsOf(second.id), ['first', 'second']) })
  })

  it('refuses to start an instance that is already running', async function () {
    await runtime.start(spec('twice', ['sleep', '30']))
    await assert.rejects(runtime.start(spec('twice', ['sleep', '30'])), /already running/)
  })

  it('measures the CPU and memory of a busy process group', async function () {
    const inst = await runtime.start(spec('busy', ['sh', '-c', 'while :; do :; done']))
    const stats = await eventually(async () => {
      const s = await runtime.stats(inst.id)
      assert.ok(s !== undefined && s.cpuPercent > 30, `cpu ${s?.cpuPercent}`)
      return s
    })
    assert.ok(stats.memoryBytes > 100 * 1024, `memory ${stats.memoryBytes}`)
  })

  it('keeps instances running when closed, for the next runtime to adopt', async function () {
    const inst = await runtime.start(spec('kept', ['sleep', '30']))
    await runtime.close()
    await assert.rejects(runtime.start(spec('late', ['true'])), /closed/)
    const pid = Number(inst.id.split(':')[1])
    assert.equal(readProcStatSync(pid)?.state !== undefined, true)
    const after = new ProcessRuntime({ dataDir })
    others.push(after)
    assert.equal((await after.list(peer))[0].state, 'running')
  })
})

// ---- the memory runtime's test hooks -----------------------------------------------------------------------------

describe('MemoryRuntime hooks', function () {
  const spec = (service: string): InstanceSpec => ({ service, instance: 0, peer: 'p', image: 'img', cmd: [], env: [], memoryMiB: 0, vcpus: 0, ports: [{ container: 80, protocol: 'tcp' }] })

  it('exit(id, code) ends an instance and tells every open runtime on the engine', async function () {
    const engine = new MemoryEngine()
    const a = new MemoryRuntime({ engine })
    const b = new MemoryRuntime({ engine })
    const seen: string[] = []
    a.onExit((id, code) => { seen.push(`a ${id} ${code}`) })
    b.onExit((id, code) => { seen.push(`b ${id} ${code}`) })
    const inst = await a.start(spec('x'))
    a.exit(inst.id, 42)
    assert.deepEqual(seen, [`a ${inst.id} 42`, `b ${inst.id} 42`])
    assert.deepEqual((await b.list('p')).map(i => [i.state, i.exitCode]), [['exited', 42]])
    a.exit(inst.id, 1) // already exited: nothing
    assert.equal(seen.length, 2)
  })

  it('failNextStart(error) fails exactly the next start', async function () {
    const r = new MemoryRuntime()
    r.failNextStart(new RuntimeError('image nope is not on this host', 'image'))
    await assert.rejects(r.start(spec('x')), (err: Error) => err instanceof RuntimeError && err.reason === 'image')
    assert.deepEqual(await r.list('p'), [])
    assert.equal((await r.start(spec('x'))).state, 'running')
    assert.equal(r.starts.length, 2)
  })

  it('makes up endpoint ports, honouring a requested one', async function () {
    const r = new MemoryRuntime()
    const a = await r.start(spec('a'))
    const b = await r.start({ ...spec('b'), ports: [{ host: 8081, container: 80, protocol: 'tcp' }] })
    assert.notEqual(a.endpoints[0].port, 0)
    assert.equal(b.endpoints[0].port, 8081)
  })

  it('reports stats set by the test, and log lines added by it', async function () {
    const r = new MemoryRuntime()
    const inst = await r.start(spec('s'))
    r.setStats(inst.id, { cpuPercent: 12, memoryBytes: 34 })
    assert.deepEqual(await r.stats(inst.id), { cpuPercent: 12, memoryBytes: 34 })
    r.log(inst.id, 'one')
    r.log(inst.id, 'two')
    assert.deepEqual(await collect(r.logs(inst.id, { tail: 1 })), ['two'])
  })
})

// ---- small parts ------------------------------------------------------------------------------------------------

describe('runtime helpers', function () {
  it('parseProcStat counts fields from the last parenthesis', function () {
    const fields = ['S', '1', '4242'].concat(Array.from({ length: 8 }, () => '0'), ['7', '5'], Array.from({ length: 6 }, () => '0'), ['987654'])
    const stat = parseProcStat(`4242 (we ird) (name) ${fields.join(' ')} 0 0 0`)
    assert.deepEqual(stat, { pid: 4242, state: 'S', ppid: 1, pgrp: 4242, cpuTicks: 12, startTime: 987654 })
    assert.equal(parseProcStat('garbage'), undefined)
    const own = readProcStatSync(process.pid)
    assert.equal(own?.pid, process.pid)
  })

  it('LineSplitter keeps partial lines and split characters until they are whole', function () {
    const s = new LineSplitter()
    const euro = Buffer.from('€')
    assert.deepEqual(s.push(Buffer.concat([Buffer.from('a\r\nb'), euro.subarray(0, 1)])), ['a'])
    assert.deepEqual(s.push(Buffer.concat([euro.subarray(1), Buffer.from('\nc')])), ['b€'])
    assert.deepEqual(s.flush(), ['c'])
    assert.deepEqual(s.flush(), [])
  })

  it('AsyncQueue delivers in order, then ends or fails', async function () {
    const q = new AsyncQueue<number>()
    q.push(1)
    setTimeout(() => { q.push(2); q.end(); q.push(3) }, 5)
    assert.deepEqual(await collect(q as unknown as AsyncIterable<string>), [1, 2])
    const f = new AsyncQueue<number>()
    f.push(1)
    f.fail(new Error('broken'))
    await assert.rejects(collect(f as unknown as AsyncIterable<string>), /broken/)
  })

  it('createRuntime makes each kind, and wants a dataDir for processes', async function () {
    assert.ok(createRuntime('memory') instanceof MemoryRuntime)
    const d = createRuntime('docker', { socketPath: '/nonexistent/docker.sock' })
    assert.ok(d instanceof DockerRuntime)
    assert.equal(await d.available(), false)
    await d.close()
    assert.ok(createRuntime('process', { dataDir: os.tmpdir() }) instanceof ProcessRuntime)
    assert.throws(() => createRuntime('process' as 'memory'), /dataDir/)
    assert.throws(() => createRuntime('vm' as 'memory'), /unknown runtime kind/)
  })
})
