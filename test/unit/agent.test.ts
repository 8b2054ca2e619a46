// Component tests of the node agent over in-memory ports: a MemoryStateMap stands in for the replicated state and a
// MemoryRuntime for docker. Nothing here is libp2p or a real process. Timing is real but small (intervalMs 20,
// backoffMs 10, graceMs 200), and every wait is an eventually(); "nothing happens" is asserted after a number of the
// agent's own reconcile passes, counted through the state it reads, never after a fixed sleep.
import assert from 'node:assert/strict'
import { Agent, type AgentInit } from '../../node/agent/agent.js'
import { systemClock, sleep } from '../../node/clock.js'
import {
  keys, validateRecord, type InstanceRecord, type InstanceState, type PlacementRecord, type ServiceRecord
} from '../../node/deploy/records.js'
import { MemoryStateMap } from '../../node/deploy/state-map.js'
import { setQuiet } from '../../node/log.js'
import {
  MemoryEngine, MemoryRuntime, RuntimeError, type FakeProgram, type InstanceSpec, type RuntimeInstance
} from '../../node/runtime/index.js'
import { eventually } from '../../testnet/daemons.js'

const SELF = `12D3KooW${'A'.repeat(44)}`
const OTHER = `12D3KooW${'B'.repeat(44)}`
const SVC = 'aaaaaaaaaaaaaaaaaaaaaaaa'
const SVC2 = 'bbbbbbbbbbbbbbbbbbbbbbbb'
const APP = 'cccccccccccccccccccccccc'
const REGION = 'eu-west'

const INTERVAL_MS = 20
const BACKOFF_MS = 10
const GRACE_MS = 200
const WAIT_MS = 5000

/**
 * The in-memory state map, plus what the tests observe: every instance record written (in order), the number of
 * reconcile passes (each one lists place/ exactly once), and the schema check the replicated state applies, so a
 * record the real state would refuse fails here too.
 */
class TestState extends MemoryStateMap {
  reconciles = 0
  readonly writes: Array<{ key: string, value: InstanceRecord }> = []
  readonly invalid: string[] = []
  /** Simulates a slow persist of the agent's reports (the replicated state writes to disk before applying). */
  instPutDelayMs = 0

  override entries<T> (prefix: string): Array<[string, T]> {
    if (prefix === 'place/') this.reconciles++
    return super.entries<T>(prefix)
  }

  override async put (key: string, value: unknown): Promise<unknown> {
    const problem = validateRecord(key, value)
    if (problem !== undefined) {
      this.invalid.push(problem)
      throw new Error(`invalid entry ${problem}`)
    }
    if (key.startsWith('inst/') && this.instPutDelayMs > 0) await sleep(this.instPutDelayMs)
    if (key.startsWith('inst/')) this.writes.push({ key, value: structuredClone(value) as InstanceRecord })
    return await super.put(key, value)
  }

  /** The instance records written for one instance, in order. */
  history (svc: string, n: number): InstanceRecord[] {
    return this.writes.filter(w => w.key === keys.inst(svc, n)).map(w => w.value)
  }

  statuses (svc: string, n: number): InstanceState[] {
    return this.history(svc, n).map(r => r.status)
  }

  inst (svc: string, n: number): InstanceRecord | undefined {
    return this.get<InstanceRecord>(keys.inst(svc, n))
  }
}

function service (id: string, patch: { restart?: 'always' | 'on-failure' | 'never', oneShot?: boolean, instances?: number[], deployed?: boolean, virtualization?: 'container' | 'process' } = {}): ServiceRecord {
  return {
    id,
    app: APP,
    name: id === SVC ? 'web' : 'worker',
    spec: {
      name: id === SVC ? 'web' : 'worker',
      namespace: 'default',
      virtualization: patch.virtualization ?? 'container',
      image: 'docker.io/library/nginx:latest',
      cmd: [],
      environment: ['GREETING=hi'],
      memory: 100,
      vcpus: 1,
      vgpus: 0,
      storage: 0,
      replicas: 1,
      restart: patch.restart ?? 'always',
      oneShot: patch.oneShot ?? false,
      arch: [],
      ports: [{ container: 80, protocol: 'tcp' }],
      addresses: {},
      constraints: [],
      connectivity: []
    },
    instances: patch.instances ?? [0],
    deployed: patch.deployed ?? true,
    createdAt: 1_700_000_000_000
  }
}

function placement (svc: string, n: number, peerId = SELF): PlacementRecord {
  return { svc, n, peerId, region: REGION, term: 1, epoch: 0 }
}

/** The spec a previous life of the daemon would have started an instance with. */
function specFor (svc: string, n: number, peer = SELF): InstanceSpec {
  return { service: svc, instance: n, peer, image: 'docker.io/library/nginx:latest', cmd: [], env: [], memoryMiB: 0, vcpus: 0, ports: [{ container: 80, protocol: 'tcp' }] }
}

interface Harness {
  state: TestState
  engine: MemoryEngine
  runtime: MemoryRuntime
  agent: Agent
  digests: string[]
  /** Wall-clock ms just before agent.start(). */
  startedAt: number
}

const harnesses: Harness[] = []

async function harness (opts: { program?: FakeProgram, engine?: MemoryEngine, state?: TestState, init?: Partial<AgentInit> } = {}): Promise<Harness> {
  const state = opts.state ?? new TestState()
  const engine = opts.engine ?? new MemoryEngine()
  const runtime = new MemoryRuntime({ engine, program: opts.program })
  const digests: string[] = []
  const agent = new Agent({
    state,
    runtimes: { docker: runtime },
    self: SELF,
    name: 'alpha',
    region: REGION,
    clock: systemClock,
    intervalMs: INTERVAL_MS,
    graceMs: GRACE_MS,
    backoffMs: BACKOFF_MS,
    maxBackoffMs: 1000,
    onDigest: d => { digests.push(d) },
    ...opts.init
  })
  const h: Harness = { state, engine, runtime, agent, digests, startedAt: Date.now() }
  harnesses.push(h)
  await agent.start()
  return h
}

async function deploy (state: TestState, svc: ServiceRecord, peers: Record<number, string> = { 0: SELF }): Promise<void> {
  await state.put(keys.svc(svc.id), svc)
  for (const [n, peer] of Object.entries(peers)) await state.put(keys.place(svc.id, Number(n)), placement(svc.id, Number(n), peer))
}

async function waitStatus (h: Harness, svc: string, n: number, status: InstanceState, what = `${svc}/${n} ${status}`): Promise<InstanceRecord> {
  return await eventually(() => {
    const r = h.state.inst(svc, n)
    return r?.status === status ? r : undefined
  }, WAIT_MS, what, 5)
}

/** Waits for `count` more reconcile passes: the way to assert that something does not happen. */
async function passes (h: Harness, count: number): Promise<void> {
  const target = h.state.reconciles + count
  await eventually(() => h.state.reconciles >= target, WAIT_MS, `${count} reconcile passes`, 5)
}

async function instances (h: Harness, peer = SELF): Promise<RuntimeInstance[]> {
  return await h.runtime.list(peer)
}

/** The one running instance of svc/n in the runtime. */
async function runningOne (h: Harness, svc: string, n: number): Promise<RuntimeInstance> {
  return await eventually(async () => {
    const found = (await instances(h)).filter(i => i.service === svc && i.instance === n && i.state === 'running')
    return found.length === 1 ? found[0] : undefined
  }, WAIT_MS, `one running instance of ${svc}/${n}`, 5)
}

describe('node agent (MemoryStateMap + MemoryRuntime)', function () {
  this.timeout(15_000)

  before(() => { setQuiet(true) })
  after(() => { setQuiet(false) })

  afterEach(async () => {
    for (const h of harnesses.splice(0)) {
      await h.agent.stop()
      for (const id of [...h.engine.instances.keys()]) await h.runtime.stop(id)
      await h.runtime.close()
      assert.deepEqual(h.state.invalid, [], 'every record the agent wrote passes the replicated state\'s schema')
    }
  })

  describe('placements', () => {
    it('runs a placement for this peer: NODE_SCHEDULED → CREATING → RUNNING, with its name, region and endpoints', async () => {
      const h = await harness()
      await deploy(h.state, service(SVC, { instances: [0, 1] }), { 0: SELF, 1: OTHER })

      const rec = await waitStatus(h, SVC, 0, 'RUNNING')
      assert.deepEqual(h.state.statuses(SVC, 0), ['NODE_SCHEDULED', 'CREATING', 'RUNNING'])
      const inst = await runningOne(h, SVC, 0)
      assert.equal(rec.peerId, SELF)
      assert.equal(rec.peerName, 'alpha')
      assert.equal(rec.region, REGION)
      assert.equal(rec.reason, null)
      assert.equal(rec.replace, false)
      assert.equal(rec.restarts, 0)
      assert.equal(rec.startedAt, inst.startedAt)
      assert.deepEqual(rec.endpoints, inst.endpoints)
      assert.equal(rec.endpoints.length, 1)
      assert.equal(rec.endpoints[0].containerPort, 80)

      assert.equal(h.runtime.starts.length, 1)
      const spec = h.runtime.starts[0]
      assert.equal(spec.service, SVC)
      assert.equal(spec.instance, 0)
      assert.equal(spec.peer, SELF)
      assert.equal(spec.image, 'docker.io/library/nginx:latest')
      assert.deepEqual(spec.env, ['GREETING=hi', 'GROVE_SERVICE=web', 'GROVE_INSTANCE=0'])
      assert.equal(spec.memoryMiB, 100)

      // Instance 1 is another peer's: nothing started, nothing reported.
      await passes(h, 5)
      assert.equal(h.state.inst(SVC, 1), undefined)
      assert.equal(h.runtime.starts.length, 1)
      assert.deepEqual(h.agent.list().map(t => [t.svc, t.n, t.state]), [[SVC, 0, 'RUNNING']])
      assert.equal(h.agent.handle(SVC, 0)?.id, inst.id)
      assert.equal(h.agent.handle(SVC, 1), undefined)
      assert.match(h.digests.at(-1) ?? '', /^[0-9a-f]{16}$/)
    })

    it('waits for the service record: a placement without its service starts nothing', async () => {
      const h = await harness()
      await h.state.put(keys.place(SVC, 0), placement(SVC, 0))
      await passes(h, 5)
      assert.equal(h.runtime.starts.length, 0)
      assert.equal(h.state.inst(SVC, 0), undefined)

      await h.state.put(keys.svc(SVC), service(SVC))
      await waitStatus(h, SVC, 0, 'RUNNING')
      assert.equal(h.runtime.starts.length, 1)
    })

    it('reports FAILED with the runtime\'s error, then retries after the backoff and runs', async () => {
      const h = await harness()
      h.runtime.failNextStart(new RuntimeError('image docker.io/library/nginx:latest not found', 'image'))
      await deploy(h.state, service(SVC))

      await waitStatus(h, SVC, 0, 'RUNNING')
      assert.deepEqual(h.state.statuses(SVC, 0), ['NODE_SCHEDULED', 'CREATING', 'FAILED', 'CREATING', 'RUNNING'])
      const [,, failed, retry] = h.state.history(SVC, 0)
      assert.equal(failed.reason, 'image docker.io/library/nginx:latest not found')
      assert.equal(failed.replace, false)
      assert.deepEqual(failed.endpoints, [])
      assert.equal(failed.peerId, SELF)
      // The retry waited for the backoff (1 ms of slack: the agent's deadline is monotonic, updatedAt is wall time).
      assert.ok(retry.updatedAt - failed.updatedAt >= BACKOFF_MS - 1, `retried after ${retry.updatedAt - failed.updatedAt} ms`)
      assert.equal(h.runtime.starts.length, 2)
      assert.equal((await instances(h)).length, 1)
    })

    it('reports FAILED for a service this peer has no runtime for', async () => {
      const h = await harness()
      await deploy(h.state, service(SVC, { virtualization: 'process' }))
      const rec = await waitStatus(h, SVC, 0, 'FAILED')
      assert.equal(rec.reason, 'this peer has no process runtime')
      assert.equal(h.runtime.starts.length, 0)
    })
  })

  describe('exits and the restart policy', () => {
    it('restarts a crashing instance with a growing backoff, and asks for a re-placement after 3 failures in a minute', async () => {
      const startedAt: number[] = []
      // Crashes 5 ms after each of its first 4 starts, then runs.
      const program: FakeProgram = ({ exit }) => {
        startedAt.push(Date.now())
        if (startedAt.length <= 4) setTimeout(() => { exit(1) }, 5)
      }
      const h = await harness({ program })
      await deploy(h.state, service(SVC, { restart: 'always' }))

      await eventually(() => startedAt.length === 5 && h.state.inst(SVC, 0)?.status === 'RUNNING', WAIT_MS, 'the fifth start', 5)
      const failed = h.state.history(SVC, 0).filter(r => r.status === 'FAILED')
      assert.equal(failed.length, 4)
      assert.deepEqual(failed.map(r => r.reason), Array(4).fill('exited with code 1'))
      assert.deepEqual(failed.map(r => r.restarts), [1, 2, 3, 4])
      assert.deepEqual(failed.map(r => r.replace), [false, false, true, true])

      // From each failure to the next start: at least backoffMs * 2^i.
      const gaps = failed.map((r, i) => startedAt[i + 1] - r.updatedAt)
      for (const [i, gap] of gaps.entries()) {
        assert.ok(gap >= BACKOFF_MS * 2 ** i - 1, `restart ${i + 1} came ${gap} ms after the failure (gaps ${gaps.join(', ')})`)
      }
      assert.ok(gaps[3] > gaps[0], `the backoff grows (gaps ${gaps.join(', ')})`)

      const last = h.state.inst(SVC, 0)
      assert.equal(last?.restarts, 4)
      // The exited instances were cleared from the runtime: only the running one is left.
      const left = await instances(h)
      assert.deepEqual(left.map(i => i.state), ['running'])
    })

    it('does not restart a one_shot service that exits 0: COMPLETED', async () => {
      const h = await harness()
      await deploy(h.state, service(SVC, { oneShot: true, restart: 'always' }))
      const inst = await runningOne(h, SVC, 0)
      h.runtime.exit(inst.id, 0)

      const rec = await waitStatus(h, SVC, 0, 'COMPLETED')
      assert.equal(rec.reason, 'exited with code 0')
      await passes(h, 5)
      assert.equal(h.runtime.starts.length, 1)
      assert.equal(h.state.inst(SVC, 0)?.status, 'COMPLETED')
      assert.deepEqual(await instances(h), [])
      assert.deepEqual(h.agent.list().map(t => t.state), ['COMPLETED'])
    })

    it('does not restart under policy never: exit 1 is DEAD', async () => {
      const h = await harness()
      await deploy(h.state, service(SVC, { restart: 'never' }))
      const inst = await runningOne(h, SVC, 0)
      h.runtime.exit(inst.id, 1)

      const rec = await waitStatus(h, SVC, 0, 'DEAD')
      assert.equal(rec.reason, 'exited with code 1; restart policy is never')
      await passes(h, 5)
      assert.equal(h.runtime.starts.length, 1, 'a DEAD instance is not started again')
      assert.equal(h.state.inst(SVC, 0)?.status, 'DEAD')
      assert.deepEqual(await instances(h), [])
    })

    it('on-failure: exit 0 is COMPLETED, exit 1 is restarted', async () => {
      const h = await harness()
      await deploy(h.state, service(SVC, { restart: 'on-failure' }))
      await deploy(h.state, service(SVC2, { restart: 'on-failure' }))
      const a = await runningOne(h, SVC, 0)
      const b = await runningOne(h, SVC2, 0)
      h.runtime.exit(a.id, 0)
      h.runtime.exit(b.id, 1)

      await waitStatus(h, SVC, 0, 'COMPLETED')
      await eventually(() => h.state.history(SVC2, 0).some(r => r.status === 'FAILED') && h.state.inst(SVC2, 0)?.status === 'RUNNING', WAIT_MS, 'worker restarted', 5)
      await passes(h, 5)
      assert.equal(h.runtime.starts.filter(s => s.service === SVC).length, 1)
      assert.equal(h.runtime.starts.filter(s => s.service === SVC2).length, 2)
      assert.equal(h.state.inst(SVC, 0)?.status, 'COMPLETED')
    })

    it('always (not one_shot): even exit 0 is restarted', async () => {
      const h = await harness()
      await deploy(h.state, service(SVC, { restart: 'always' }))
      const first = await runningOne(h, SVC, 0)
      h.runtime.exit(first.id, 0)
      await eventually(async () => h.runtime.starts.length === 2 && (await runningOne(h, SVC, 0)).id !== first.id, WAIT_MS, 'a restart', 5)
      await waitStatus(h, SVC, 0, 'RUNNING')
      assert.equal(h.state.history(SVC, 0).find(r => r.status === 'FAILED')?.reason, 'exited with code 0')
    })

    it('restarts an instance that exits while its RUNNING report is still being written', async () => {
      let runs = 0
      const program: FakeProgram = ({ exit }) => {
        if (++runs === 1) setTimeout(() => { exit(1) }, 5)
      }
      const state = new TestState()
      state.instPutDelayMs = 30
      const h = await harness({ program, state })
      await deploy(h.state, service(SVC))

      await eventually(async () => runs === 2 && (await instances(h)).some(i => i.state === 'running'), WAIT_MS, 'a restart after the early crash', 5)
      await waitStatus(h, SVC, 0, 'RUNNING')
      assert.equal(h.state.inst(SVC, 0)?.restarts, 1)
    })

    it('restarts an instance that exits before start() has even returned', async () => {
      let runs = 0
      const program: FakeProgram = ({ exit }) => {
        if (++runs === 1) exit(1)
      }
      const h = await harness({ program })
      await deploy(h.state, service(SVC))

      await eventually(async () => runs === 2 && (await instances(h)).some(i => i.state === 'running'), WAIT_MS, 'a restart after the instant crash', 5)
      await waitStatus(h, SVC, 0, 'RUNNING')
      assert.deepEqual((await instances(h)).map(i => i.state), ['running'])
    })

    it('reports an over-long start error without breaking the record schema', async () => {
      const h = await harness()
      h.runtime.failNextStart(new RuntimeError(`pull failed: ${'x'.repeat(3000)}`, 'image'))
      await deploy(h.state, service(SVC))
      await eventually(() => h.state.history(SVC, 0).some(r => r.status === 'FAILED'), WAIT_MS, 'FAILED', 5)
      const failed = h.state.history(SVC, 0).find(r => r.status === 'FAILED')
      assert.ok(failed?.reason?.startsWith('pull failed: xxx'))
      await waitStatus(h, SVC, 0, 'RUNNING')
    })
  })

  describe('placements that go away', () => {
    it('stops the instance when its placement is deleted, and reports UNDEPLOYED', async () => {
      const h = await harness()
      await deploy(h.state, service(SVC))
      await runningOne(h, SVC, 0)
      await h.state.del(keys.place(SVC, 0))

      await eventually(async () => (await instances(h)).length === 0, WAIT_MS, 'the instance stopped', 5)
      const rec = await waitStatus(h, SVC, 0, 'UNDEPLOYED')
      assert.equal(rec.peerId, SELF)
      assert.deepEqual(rec.endpoints, [])
      assert.deepEqual(h.agent.list(), [])
      // The digest of running instances empties at the next pass.
      await eventually(() => h.digests.at(-1) === '', WAIT_MS, 'an empty digest', 5)
    })

    it('stops the instance when its placement moves to another peer, and leaves the record to the new host', async () => {
      const h = await harness()
      await deploy(h.state, service(SVC))
      await runningOne(h, SVC, 0)
      await waitStatus(h, SVC, 0, 'RUNNING')
      const ours = h.state.writes.length

      await h.state.put(keys.place(SVC, 0), placement(SVC, 0, OTHER))
      // The new host reports at once; the old one must not write over it.
      const theirs: InstanceRecord = { svc: SVC, n: 0, status: 'CREATING', peerId: OTHER, peerName: 'beta', region: REGION, reason: null, startedAt: null, restarts: 0, endpoints: [], replace: false, updatedAt: Date.now() }
      await h.state.put(keys.inst(SVC, 0), theirs)

      await eventually(async () => (await instances(h)).length === 0, WAIT_MS, 'the instance stopped', 5)
      await passes(h, 5)
      assert.deepEqual(h.state.inst(SVC, 0), theirs)
      assert.equal(h.state.writes.length, ours + 1, 'the only write after the move is the new host\'s')
      assert.deepEqual(h.agent.list(), [])
    })

    it('stops the instance when the service is scaled away from its number', async () => {
      const h = await harness()
      await deploy(h.state, service(SVC, { instances: [0, 1] }), { 0: SELF, 1: SELF })
      await runningOne(h, SVC, 0)
      await runningOne(h, SVC, 1)

      await h.state.put(keys.svc(SVC), service(SVC, { instances: [0] }))
      await eventually(async () => (await instances(h)).every(i => i.instance !== 1), WAIT_MS, 'instance 1 stopped', 5)
      await passes(h, 5)
      assert.deepEqual((await instances(h)).map(i => i.instance), [0])
      assert.deepEqual(h.agent.list().map(t => t.n), [0])
    })

    it('stops everything of an undeployed service (deployed: false)', async () => {
      const h = await harness()
      await deploy(h.state, service(SVC))
      await runningOne(h, SVC, 0)
      await h.state.put(keys.svc(SVC), service(SVC, { deployed: false, instances: [] }))
      await eventually(async () => (await instances(h)).length === 0, WAIT_MS, 'the instance stopped', 5)
    })
  })

  describe('adoption after a daemon restart', () => {
    it('adopts what runs for this peer: no second start, and the record says RUNNING again', async () => {
      const engine = new MemoryEngine()
      const previous = new MemoryRuntime({ engine })
      const mine = await previous.start(specFor(SVC, 0))
      const foreign = await previous.start(specFor(SVC2, 0, OTHER))
      await previous.close()

      const state = new TestState()
      await deploy(state, service(SVC))
      // What the previous life last reported, before it went down.
      await state.put(keys.inst(SVC, 0), { svc: SVC, n: 0, status: 'CREATING', peerId: SELF, peerName: 'alpha', region: REGION, reason: null, startedAt: null, restarts: 0, endpoints: [], replace: false, updatedAt: Date.now() })
      const h = await harness({ engine, state })

      const rec = await waitStatus(h, SVC, 0, 'RUNNING')
      assert.equal(rec.startedAt, mine.startedAt)
      assert.deepEqual(rec.endpoints, mine.endpoints)
      await passes(h, 5)
      assert.equal(h.runtime.starts.length, 0, 'no second start')
      assert.deepEqual(h.state.statuses(SVC, 0), ['CREATING', 'RUNNING'])
      assert.deepEqual(h.agent.list().map(t => [t.svc, t.n, t.state, t.id]), [[SVC, 0, 'RUNNING', mine.id]])
      // Another peer's instance on the same engine is none of its business, even after the grace.
      await eventually(() => Date.now() - h.startedAt > GRACE_MS, WAIT_MS, 'the grace to pass', 5)
      await passes(h, 3)
      assert.equal((await h.runtime.list(OTHER))[0]?.id, foreign.id)

      // An adopted instance's exit is heard like any other.
      h.runtime.exit(mine.id, 1)
      await eventually(() => h.runtime.starts.length === 1 && h.state.inst(SVC, 0)?.status === 'RUNNING', WAIT_MS, 'the adopted instance restarted', 5)
    })

    it('restarts an adopted instance that exited while the daemon was down', async () => {
      const engine = new MemoryEngine()
      const previous = new MemoryRuntime({ engine })
      const crashed = await previous.start(specFor(SVC, 0))
      previous.exit(crashed.id, 1)
      await previous.close()

      const state = new TestState()
      await deploy(state, service(SVC))
      const h = await harness({ engine, state })

      await eventually(() => h.runtime.starts.length === 1, WAIT_MS, 'a new start', 5)
      await waitStatus(h, SVC, 0, 'RUNNING')
      assert.deepEqual((await instances(h)).map(i => i.state), ['running'], 'the exited leftover is cleared')
    })

    it('leaves an unplaced instance alone during the grace, then stops it', async () => {
      const engine = new MemoryEngine()
      let stoppedAt: number | undefined
      let passesAtStop = 0
      const previous = new MemoryRuntime({ engine, program: () => ({ stop: () => { stoppedAt = Date.now(); passesAtStop = state.reconciles } }) })
      await previous.start(specFor(SVC, 0))
      await previous.close()

      const state = new TestState()
      const h = await harness({ engine, state })
      await eventually(() => stoppedAt, WAIT_MS, 'the leftover stopped', 5)
      assert.ok(stoppedAt! - h.startedAt >= GRACE_MS, `stopped ${stoppedAt! - h.startedAt} ms after the start`)
      assert.ok(passesAtStop >= 3, `${passesAtStop} reconcile passes saw it and left it alone first`)
      assert.deepEqual(await instances(h), [])
      assert.equal(state.inst(SVC, 0), undefined, 'an instance nobody placed is not reported')
    })

    it('keeps an adopted instance whose placement arrives during the grace (the state was still syncing)', async () => {
      const engine = new MemoryEngine()
      const previous = new MemoryRuntime({ engine })
      const mine = await previous.start(specFor(SVC, 0))
      await previous.close()

      const h = await harness({ engine })
      await passes(h, 2)
      await deploy(h.state, service(SVC))
      await waitStatus(h, SVC, 0, 'RUNNING')
      await eventually(() => Date.now() - h.startedAt > GRACE_MS, WAIT_MS, 'the grace to pass', 5)
      await passes(h, 5)
      assert.deepEqual((await instances(h)).map(i => i.id), [mine.id])
      assert.equal(h.runtime.starts.length, 0)
    })
  })

  describe('offline autonomy', () => {
    it('keeps restarting a crashing instance with no change to the state at all', async () => {
      let runs = 0
      // Crashes shortly after each of its first 6 starts.
      const program: FakeProgram = ({ exit }) => {
        if (++runs <= 6) setTimeout(() => { exit(2) }, 5)
      }
      const state = new TestState()
      await deploy(state, service(SVC))
      const changes: string[] = []
      state.onChange(key => { if (!key.startsWith('inst/')) changes.push(key) })
      // The leader is unreachable: from here on, nobody but the agent writes anything.
      const h = await harness({ program, state, init: { maxBackoffMs: 40 } })

      await eventually(() => runs === 7 && state.inst(SVC, 0)?.status === 'RUNNING', WAIT_MS, 'the seventh start', 5)
      assert.deepEqual(changes, [])
      const failed = state.history(SVC, 0).filter(r => r.status === 'FAILED')
      assert.equal(failed.length, 6)
      // It asked for a re-placement that nobody acted on, and kept going on its own.
      assert.equal(failed.at(-1)?.replace, true)
      assert.equal(state.inst(SVC, 0)?.restarts, 6)
      assert.deepEqual((await instances(h)).map(i => i.state), ['running'])
    })
  })
})
