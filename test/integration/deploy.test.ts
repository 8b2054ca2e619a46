// Deploying onto a real 2-region testnet of daemon processes, with the process runtime, through the CLI and API.
import { strict as assert } from 'node:assert'
import { mkdtemp, rm, readFile, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { apiGet, eventually } from '../../testnet/daemons.js'
import type { TestnetFile, TestnetPeer } from '../../testnet/index.js'
import { grove } from '../helpers/cli.js'

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'web-process.json')
const OAKESTRA = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'fixtures', 'oakestra-sla')


interface Instance { n: number, status: string, peerId: string | null, peerName: string | null, region: string | null, reason: string | null, startedAt: string | null, endpoints: Array<{ host: string, port: number }> }
interface Service { id: string, name: string, replicas: number, instances: Instance[] }

async function get (url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) })
  return await res.text()
}

/** Processes of this test's services, by their command line. */
async function webProcesses (marker: string): Promise<number> {
  let n = 0
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8')
      if (cmd.startsWith('node\0-e\0') && cmd.includes(marker)) n++
    } catch {}
  }
  return n
}

describe('deploying onto a 2-region testnet (process runtime, through the CLI)', function () {
  this.timeout(300_000)
  let dir: string
  let t: TestnetFile
  let svcId: string
  const service = async (via = t.peers.find(p => p.pid !== null)!): Promise<Service> => await apiGet<Service>(via, `/api/v1/services/${svcId}`)
  const live = (): TestnetPeer => t.peers.find(p => p.pid !== null)!
  const reload = async (): Promise<void> => { t = JSON.parse(await readFile(join(dir, 'testnet.json'), 'utf8')) as TestnetFile }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'grove-deploy-'))
    const base = 10_000 + Math.floor(Math.random() * 20_000)
    const up = await grove('testnet', 'up', '--dir', dir, '--base-port', String(base), '--runtime', 'process')
    assert.equal(up.code, 0, up.stderr)
    await reload()
  })

  after(async () => {
    await grove('testnet', 'down', '--dir', dir)
    await rm(dir, { recursive: true, force: true })
  })

  it('gives Oakestra\'s SLA vectors the right verdicts, with field paths', async () => {
    const p = t.peers[0]
    const post = async (body: unknown): Promise<{ status: number, error?: { code: string, path?: string, message: string } }> => {
      const res = await fetch(`${p.api}/api/v1/apps?deploy=false`, { method: 'POST', headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
      return { status: res.status, ...(await res.json() as object) }
    }
    const expected: Record<string, string> = {
      'sla_flawed_1.json': 'sla_version',
      'sla_flawed_2.json': 'applications[0].application_namespace',
      'sla_flawed_3.json': 'sla_version',
      'sla_flawed_4.json': 'applications[0].application_namespace',
      'sla_flawed_5.json': 'applications[0].microservices[0].microservice_name'
    }
    for (const [file, path] of Object.entries(expected)) {
      const r = await post(JSON.parse(await readFile(join(OAKESTRA, file), 'utf8')))
      assert.equal(r.status, 400, file)
      assert.equal(r.error?.code, 'invalid_sla', file)
      assert.equal(r.error?.path, path, file)
      assert.ok(r.error?.message.includes(path), file)
    }
    // Schema-valid but impossible: an rr_ip outside 10.30.0.0/16 is refused at deploy, with its path.
    const c1 = await post(JSON.parse(await readFile(join(OAKESTRA, 'sla_correct_1.json'), 'utf8')))
    assert.equal(c1.status, 422)
    assert.equal(c1.error?.code, 'undeployable')
    assert.match(c1.error?.message ?? '', /rr_ip|area/)
    const nginx = await post(JSON.parse(await readFile(join(OAKESTRA, 'example_curl_nginx.json'), 'utf8')))
    assert.equal(nginx.status, 201)
  })

  it('deploys 3 replicas of an HTTP service onto 3 peers, and each answers', async () => {
    const d = await grove('deploy', FIXTURE, '--wait', '--data-dir', t.peers[0].dataDir)
    assert.equal(d.code, 0, d.stdout + d.stderr)
    assert.match(d.stdout, /all instances running/)
    const services = JSON.parse((await grove('services', '--data-dir', t.peers[0].dataDir, '--json')).stdout) as { services: Array<Service & { appName: string }> }
    svcId = services.services.find(s => s.appName === 'demo' && s.name === 'web')!.id
    const s = await service()
    assert.equal(s.instances.length, 3)
    assert.ok(s.instances.every(i => i.status === 'RUNNING'))
    assert.equal(new Set(s.instances.map(i => i.peerId)).size, 3, 'replicas spread over 3 peers')
    for (const i of s.instances) {
      const answer = await eventually(async () => await get(`http://${i.endpoints[0].host}:${i.endpoints[0].port}/`), 10_000, `instance ${i.n} answering`)
      assert.equal(answer, `hello from web/${i.n}\n`)
    }
    // Any peer answers for any service, by name too.
    const byName = await apiGet<Service>(t.peers[5], '/api/v1/services/demo.web')
    assert.equal(byName.id, svcId)
    const ps = await grove('ps', '--data-dir', t.peers[3].dataDir)
    assert.equal(ps.code, 0)
    assert.equal(ps.stdout.split('\n').filter(l => l.startsWith('demo.web/') && l.includes('RUNNING')).length, 3)
  })

  it('re-places the instance of a peer killed with -9, and it runs again', async () => {
    const before = await service()
    // A hosting peer that does not lead its region.
    const victim = await eventually(async () => {
      const statuses = await Promise.all(t.peers.map(async p => ({ p, s: await apiGet<{ role: string, peerId: string }>(p, '/api/v1/status') })))
      return statuses.find(x => x.s.role !== 'leader' && before.instances.some(i => i.peerId === x.s.peerId))?.p
    }, 30_000, 'a hosting follower')
    const lost = before.instances.find(i => i.peerId === victim.peerId)!
    const k = await grove('testnet', 'kill', victim.name, '--dir', dir)
    assert.equal(k.code, 0, k.stderr)
    await reload()
    const after = await eventually(async () => {
      const s = await service()
      const i = s.instances.find(x => x.n === lost.n)!
      return i.status === 'RUNNING' && i.peerId !== victim.peerId ? s : undefined
    }, 30_000, 'the lost instance running elsewhere')
    const moved = after.instances.find(x => x.n === lost.n)!
    // RUNNING means started; the process may need a moment more to listen.
    const answer = await eventually(async () => await get(`http://${moved.endpoints[0].host}:${moved.endpoints[0].port}/`), 10_000, 'the moved instance answering')
    assert.equal(answer, `hello from web/${lost.n}\n`)
    // Bring the victim back for the next tests; it must not start a duplicate of the moved instance.
    assert.equal((await grove('testnet', 'restart', victim.name, '--dir', dir)).code, 0)
    await reload()
  })

  it('keeps running instances untouched when the leader is killed, and scales afterwards', async () => {
    const before = await service()
    const owner = (await apiGet<{ owner: { region: string } }>(live(), `/api/v1/services/${svcId}/explain`)).owner.region
    const regionPeers = t.peers.filter(p => p.region === owner)
    const leader = await eventually(async () => {
      const statuses = await Promise.all(regionPeers.map(async p => ({ p, s: await apiGet<{ role: string, peerId: string }>(p, '/api/v1/status') })))
      return statuses.find(x => x.s.role === 'leader')?.p
    }, 30_000, 'the owner region\'s leader')
    const onLeader = before.instances.filter(i => i.peerId === leader.peerId).map(i => i.n)
    assert.equal((await grove('testnet', 'kill', leader.name, '--dir', dir)).code, 0)
    await reload()
    // A new leader takes over; the instances on the other peers keep their peer and start time.
    await eventually(async () => {
      const views = await Promise.all(regionPeers.filter(p => p.name !== leader.name).map(async p => await apiGet<{ role: string }>(p, '/api/v1/status')))
      return views.some(v => v.role === 'leader')
    }, 30_000, 'a new leader')
    const during = await service()
    for (const i of before.instances.filter(x => !onLeader.includes(x.n))) {
      const now = during.instances.find(x => x.n === i.n)!
      assert.equal(now.peerId, i.peerId, `instance ${i.n} moved`)
      assert.equal(now.startedAt, i.startedAt, `instance ${i.n} restarted`)
    }
    const scaled = await grove('scale', 'demo.web', '4', '--data-dir', live().dataDir)
    assert.equal(scaled.code, 0, scaled.stderr)
    await eventually(async () => {
      const s = await service()
      return s.instances.length === 4 && s.instances.every(i => i.status === 'RUNNING')
    }, 30_000, '4 instances running')
    assert.equal((await grove('testnet', 'restart', leader.name, '--dir', dir)).code, 0)
    await reload()
  })

  it('adopts its instances when a hosting daemon restarts, without duplicates', async () => {
    const before = await service()
    const host = t.peers.find(p => before.instances.some(i => i.peerId === p.peerId))!
    const mine = before.instances.filter(i => i.peerId === host.peerId)
    assert.equal((await grove('testnet', 'restart', host.name, '--dir', dir)).code, 0)
    await reload()
    await eventually(async () => {
      const s = await service()
      return s.instances.every(i => i.status === 'RUNNING')
    }, 30_000, 'everything running after the restart')
    const after = await service()
    for (const i of mine) {
      const now = after.instances.find(x => x.n === i.n)!
      assert.equal(now.peerId, host.peerId)
      assert.equal(now.startedAt, i.startedAt, `instance ${i.n} was restarted instead of adopted`)
    }
    // One process per instance in the whole testnet: nothing was duplicated by any of the failures above.
    assert.equal(await webProcesses("'hello from '"), after.instances.length)
  })

  it('reports NO_WORKER_CAPACITY with reasons for an SLA no node can hold', async () => {
    const sla = JSON.parse(await readFile(FIXTURE, 'utf8')) as { applications: Array<{ application_name: string, microservices: Array<{ memory: number, replicas: number }> }> }
    sla.applications[0].application_name = 'huge'
    sla.applications[0].microservices[0].memory = 64 * 1024 * 1024
    sla.applications[0].microservices[0].replicas = 1
    const file = join(dir, 'huge.json')
    await (await import('node:fs/promises')).writeFile(file, JSON.stringify(sla))
    const d = await grove('deploy', file, '--wait', '--data-dir', t.peers[0].dataDir)
    assert.notEqual(d.code, 0)
    assert.match(d.stderr, /NO_WORKER_CAPACITY/)
    // Another peer explains it once the service record has reached it (state replication is eventual).
    const e = await eventually(async () => {
      const r = await grove('explain', 'huge.web', '--data-dir', t.peers[1].dataDir)
      return r.code === 0 ? r : undefined
    }, 20_000, 'peer-1 to know huge.web')
    assert.match(e.stdout, /NO_WORKER_CAPACITY/)
    assert.match(e.stdout, /memory/)
  })

  it('speaks Oakestra\'s API: login, register, list, deploy an instance, clusters, delete', async () => {
    const p = t.peers[3]
    const call = async (method: string, path: string, body?: unknown, token?: string): Promise<{ status: number, json: unknown }> => {
      const res = await fetch(`${p.api}${path}`, {
        method,
        headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body)
      })
      return { status: res.status, json: await res.json() }
    }
    assert.equal((await call('POST', '/api/auth/login', { username: 'Admin', password: 'wrong' })).status, 401)
    const login = await call('POST', '/api/auth/login', { username: 'Admin', password: 'Admin' })
    assert.equal(login.status, 200)
    const token = (login.json as { token: string }).token
    assert.equal(token, p.token)
    const sla = JSON.parse(await readFile(FIXTURE, 'utf8')) as { applications: Array<{ application_name: string, microservices: Array<{ replicas?: number, microservice_name: string }> }> }
    sla.applications[0].application_name = 'oak'
    sla.applications[0].microservices[0].microservice_name = 'svc'
    const reg = await call('POST', '/api/application/', sla, token)
    assert.equal(reg.status, 200)
    const appId = (reg.json as Array<{ applicationID: string, microservices: string[] }>)[0].applicationID
    const apps = (await call('GET', '/api/applications/', undefined, token)).json as Array<{ applicationID: string, application_name: string }>
    assert.ok(apps.some(a => a.applicationID === appId && a.application_name === 'oak'))
    const services = (await call('GET', `/api/services/${appId}`, undefined, token)).json as Array<{ microserviceID: string, microservice_name: string, instance_list: unknown[] }>
    assert.equal(services.length, 1)
    const svcId = services[0].microserviceID
    // Registered only, as Oakestra does: nothing runs until an instance is asked for.
    assert.equal(services[0].instance_list.length, 0)
    assert.equal((await call('POST', `/api/service/${svcId}/instance`, undefined, token)).status, 200)
    const running = await eventually(async () => {
      const s = (await call('GET', `/api/service/${svcId}`, undefined, token)).json as { instance_list: Array<{ instance_number: number, status: string, worker_id: string, cluster_id: string }> }
      return s.instance_list.length === 1 && s.instance_list[0].status === 'RUNNING' ? s : undefined
    }, 30_000, 'the Oakestra-deployed instance running')
    assert.match(running.instance_list[0].cluster_id, /^region-/)
    const clusters = (await call('GET', '/api/clusters/', undefined, token)).json as Array<{ cluster_name: string, active_nodes: number }>
    assert.deepEqual(clusters.map(c => c.cluster_name).sort(), ['region-0', 'region-1'])
    assert.equal((await call('DELETE', `/api/service/${svcId}/instance/0`, undefined, token)).status, 200)
    assert.equal((await call('DELETE', `/api/application/${appId}`, undefined, token)).status, 200)
    assert.equal((await call('GET', `/api/application/${appId}`, undefined, token)).status, 404)
  })

  it('undeploys an application: its instances stop everywhere', async () => {
    const u = await grove('undeploy', 'demo', '--data-dir', t.peers[2].dataDir)
    assert.equal(u.code, 0, u.stderr)
    await eventually(async () => await webProcesses("'hello from '") === 0, 30_000, 'every web process stopped')
    const apps = JSON.parse((await grove('apps', '--data-dir', t.peers[4].dataDir, '--json')).stdout) as { apps: Array<{ name: string }> }
    assert.ok(!apps.apps.some(a => a.name === 'demo'))
  })
})
