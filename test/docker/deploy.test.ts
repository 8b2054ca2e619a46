// Deploying containers onto a real testnet of daemon processes, against a real Docker engine. Gated by
// GROVE_DOCKER_TESTS=1 (CI sets it after `bash test/docker/setup.sh`).
import { strict as assert } from 'node:assert'
import { mkdtemp, rm, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import Docker from 'dockerode'
import { apiGet, eventually } from '../../testnet/daemons.js'
import type { TestnetFile } from '../../testnet/index.js'
import { grove } from '../helpers/cli.js'

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'web-docker.json')
const describeDocker = process.env.GROVE_DOCKER_TESTS === '1' ? describe : describe.skip


interface Instance { n: number, status: string, peerId: string | null, startedAt: string | null, endpoints: Array<{ host: string, port: number, containerPort: number }> }
interface Service { id: string, instances: Instance[] }

describeDocker('deploying containers (docker runtime, real engine, through the CLI)', function () {
  this.timeout(300_000)
  const docker = new Docker()
  let dir: string
  let t: TestnetFile
  let svcId: string

  const service = async (): Promise<Service> => await apiGet<Service>(t.peers[0], `/api/v1/services/${svcId}`)
  const containersOf = async (svc: string): Promise<Docker.ContainerInfo[]> =>
    await docker.listContainers({ all: true, filters: { label: [`grove.service=${svc}`] } })

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'grove-docker-'))
    const base = 10_000 + Math.floor(Math.random() * 20_000)
    const up = await grove('testnet', 'up', '--dir', dir, '--base-port', String(base), '--peers', '3', '--regions', '1', '--runtime', 'docker')
    assert.equal(up.code, 0, up.stderr)
    t = JSON.parse(await readFile(join(dir, 'testnet.json'), 'utf8')) as TestnetFile
  })

  after(async () => {
    await grove('testnet', 'down', '--dir', dir)
    await rm(dir, { recursive: true, force: true })
  })

  it('deploys a container with a published port that answers, with its memory limit', async () => {
    const d = await grove('deploy', FIXTURE, '--wait', '--data-dir', t.peers[0].dataDir)
    assert.equal(d.code, 0, d.stdout + d.stderr)
    const services = JSON.parse((await grove('services', 'boxes', '--data-dir', t.peers[1].dataDir, '--json')).stdout) as { services: Service[] }
    svcId = services.services[0].id
    const s = await service()
    const i = s.instances[0]
    assert.equal(i.status, 'RUNNING')
    const ep = i.endpoints.find(e => e.containerPort === 80)!
    assert.equal(ep.host, '127.0.0.1')
    const res = await fetch(`http://${ep.host}:${ep.port}/`, { signal: AbortSignal.timeout(5000) })
    assert.equal(await res.text(), 'hello from httpd/0\n')
    const [c] = await containersOf(svcId)
    assert.ok(c !== undefined, 'a labelled container exists')
    assert.equal(c.Labels['grove.peer'], i.peerId)
    const info = await docker.getContainer(c.Id).inspect()
    assert.equal(info.HostConfig.Memory, 48 * 1024 * 1024)
    assert.equal(info.HostConfig.NanoCpus, 1e9)
    assert.ok((info.HostConfig.PortBindings?.['80/tcp'] ?? []).every((b: { HostIp: string }) => b.HostIp === '127.0.0.1'))
  })

  it('adopts the running container when its daemon restarts', async () => {
    const before = (await service()).instances[0]
    const [c] = await containersOf(svcId)
    const host = t.peers.find(p => p.peerId === before.peerId)!
    const r = await grove('testnet', 'restart', host.name, '--dir', dir)
    assert.equal(r.code, 0, r.stderr)
    await eventually(async () => (await service()).instances[0].status === 'RUNNING', 30_000, 'RUNNING after the restart')
    const after = (await service()).instances[0]
    assert.equal(after.peerId, before.peerId)
    assert.equal(after.startedAt, before.startedAt)
    const now = await containersOf(svcId)
    assert.equal(now.length, 1, 'no duplicate container')
    assert.equal(now[0].Id, c.Id, 'the same container, adopted')
    assert.equal(now[0].State, 'running')
  })

  it('removes the container on undeploy', async () => {
    const u = await grove('undeploy', 'boxes', '--data-dir', t.peers[2].dataDir)
    assert.equal(u.code, 0, u.stderr)
    await eventually(async () => (await containersOf(svcId)).length === 0, 30_000, 'the container removed')
  })
})
