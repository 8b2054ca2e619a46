// Privileged overlay mode against a real Docker engine: service IPs are /32 addresses on the host's loopback
// interface, and a busybox container reaches another service by its service IP. Root and GROVE_DOCKER_TESTS=1 only.
import { strict as assert } from 'node:assert'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { eventually, freePort, startDaemon, stopDaemon, type RunningDaemon } from '../../testnet/daemons.js'
import { grove } from '../helpers/cli.js'
import { stopLeftInstances } from '../../testnet/index.js'

const run = promisify(execFile)
const enabled = process.env.GROVE_DOCKER_TESTS === '1' && process.getuid?.() === 0
const describeIt = enabled ? describe : describe.skip
const RR = '10.30.200.10'


async function loAddresses (): Promise<string> {
  return (await run('ip', ['-o', 'addr', 'show', 'dev', 'lo'])).stdout
}

describeIt('privileged overlay: a container reaches a service by its service IP (root, real engine)', function () {
  this.timeout(180_000)
  let dir: string
  let daemon: RunningDaemon

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'grove-priv-'))
    daemon = await startDaemon({
      name: 'priv', region: 'solo', dataDir: join(dir, 'priv'), p2pPort: await freePort(), apiPort: await freePort(), profile: 'local',
      extraArgs: ['--overlay', 'privileged', '--runtimes', 'docker,process']
    })
  })

  after(async () => {
    if (daemon !== undefined) {
      await stopDaemon(daemon, 5000)
      await stopLeftInstances(daemon.spec.dataDir, daemon.peerId)
    }
    await rm(dir, { recursive: true, force: true })
  })

  it('serves the service IP on lo, and busybox wget reaches it from a container', async () => {
    const sla = {
      sla_version: 'v2.0',
      customerID: 'Admin',
      applications: [{
        applicationID: '',
        application_name: 'priv',
        application_namespace: 'test',
        application_desc: 'a container calls a process service by its service IP',
        microservices: [{
          microserviceID: '',
          microservice_name: 'web',
          microservice_namespace: 'test',
          virtualization: 'process',
          cmd: ['node', '-e', "require('http').createServer((q, s) => s.end('hello from web/' + process.env.GROVE_INSTANCE + '\\n')).listen(process.env.PORT, '127.0.0.1')"],
          port: '0:8080',
          addresses: { rr_ip: RR }
        }, {
          microserviceID: '',
          microservice_name: 'client',
          microservice_namespace: 'test',
          virtualization: 'container',
          code: 'grove/busybox:test',
          cmd: ['sh', '-c', `while true; do wget -q -O - http://${RR}:8080/; sleep 1; done`],
          memory: 32,
          vcpus: 1
        }]
      }]
    }
    const file = join(dir, 'priv.json')
    await writeFile(file, JSON.stringify(sla))
    const d = await grove('deploy', file, '--wait', '--data-dir', daemon.spec.dataDir)
    assert.equal(d.code, 0, d.stdout + d.stderr)
    await eventually(async () => (await loAddresses()).includes(`${RR}/32`), 20_000, `${RR}/32 on lo`)
    const logs = await eventually(async () => {
      const r = await grove('logs', 'priv.client/0', '--tail', '20', '--data-dir', daemon.spec.dataDir)
      return r.stdout.includes('hello from web/0') ? r.stdout : undefined
    }, 60_000, 'the container\'s wget output')
    assert.match(logs, /hello from web\/0/)
  })

  it('removes the service IPs from lo when the daemon stops', async () => {
    assert.equal(await stopDaemon(daemon, 10_000), 0)
    assert.ok(!(await loAddresses()).includes(`${RR}/32`))
    // The daemon leaves its container running for its next life; this test removes it.
    await run('sh', ['-c', `docker ps -aq --filter label=grove.peer=${daemon.peerId} | xargs -r docker rm -f`]).catch(() => {})
  })
})
