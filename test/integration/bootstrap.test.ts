// Region bootstrap, tickets and the private mesh, through the real CLI.
import { strict as assert } from 'node:assert'
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createSwarmKey, makeTicket, parseTicket, swarmKeyHex } from '../../bootstrap/index.js'
import { apiGet, eventually, freePort, groveBin, sleep } from '../../testnet/daemons.js'

const run = promisify(execFile)

interface Proc { proc: ChildProcess, api: string, token: string, dataDir: string, exited: Promise<number | null> }
interface Nodes { nodes: Array<{ peerId: string, name: string, state: string }> }

describe('region bootstrap, tickets and the private mesh (through the CLI)', function () {
  this.timeout(120_000)
  let dir: string
  const procs: Proc[] = []
  let ticket: string
  let founder: Proc & { peerId: string }

  async function start (args: string[], name: string): Promise<Proc & { stdout: () => string }> {
    const dataDir = join(dir, name)
    const apiPort = await freePort()
    const p2pPort = await freePort()
    const proc = spawn(process.execPath, [groveBin(), ...args, '--data-dir', dataDir, '--name', name,
      '--listen', `/ip4/127.0.0.1/tcp/${p2pPort}`, '--api', `127.0.0.1:${apiPort}`, '--profile', 'local'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    proc.stdout!.on('data', (b: Buffer) => { out += b.toString() })
    proc.stderr!.on('data', () => {})
    const exited = new Promise<number | null>(resolve => proc.once('exit', code => { resolve(code) }))
    const api = `http://127.0.0.1:${apiPort}`
    const token = await eventually(async () => {
      if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}`)
      const t = (await readFile(join(dataDir, 'api-token'), 'utf8')).trim()
      return (await fetch(`${api}/healthz`)).ok ? t : undefined
    }, 30_000, `${name} to answer`)
    const p = { proc, api, token, dataDir, exited, stdout: () => out }
    procs.push(p)
    return p
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'grove-boot-'))
  })

  after(async () => {
    for (const p of procs) p.proc.kill('SIGTERM')
    await Promise.all(procs.map(async p => await p.exited))
    await rm(dir, { recursive: true, force: true })
  })

  it('bootstraps a region, printing one JSON line with the join command', async () => {
    const p = await start(['region', 'bootstrap', 'alpha', '--json'], 'f1')
    const line = await eventually(() => p.stdout().split('\n').find(l => l.startsWith('{')), 20_000, 'the JSON line')
    const info = JSON.parse(line) as { region: string, ticket: string, join: string, peerId: string, role: string }
    assert.equal(info.region, 'alpha')
    assert.equal(info.role, 'leader')
    assert.match(info.join, /^grove daemon .*--region alpha --ticket grove1:/)
    const t = parseTicket(info.ticket)
    assert.equal(t.region, 'alpha')
    assert.ok(t.addrs.every(a => a.endsWith(`/p2p/${info.peerId}`)))
    // The swarm key is private to its owner, and the ticket carries the same key.
    const keyFile = join(p.dataDir, 'swarm.key')
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600)
    assert.equal(swarmKeyHex(await readFile(keyFile)), t.key)
    ticket = info.ticket
    founder = { ...p, peerId: info.peerId }
  })

  it('joins the ticket\'s region with grove daemon --ticket, and remembers how', async () => {
    const p = await start(['daemon', '--ticket', ticket], 'j1')
    await eventually(async () => {
      const view = await apiGet<Nodes>(founder, '/api/v1/nodes')
      return view.nodes.filter(n => n.state === 'alive').length === 2
    }, 20_000, 'j1 alive in alpha')
    const config = JSON.parse(await readFile(join(p.dataDir, 'config.json'), 'utf8')) as { region: string, join: string[] }
    assert.equal(config.region, 'alpha')
    assert.deepEqual(config.join, parseTicket(ticket).addrs)
  })

  it('founds a second region in the same mesh with the same ticket', async () => {
    const p = await start(['region', 'bootstrap', 'beta', '--ticket', ticket, '--json'], 'f2')
    const line = await eventually(() => p.stdout().split('\n').find(l => l.startsWith('{')), 20_000, 'the JSON line')
    const info = JSON.parse(line) as { region: string, peerId: string }
    assert.equal(info.region, 'beta')
    await eventually(async () => {
      const r = await apiGet<{ regions: Array<{ region: string, leader: string }> }>(founder, '/api/v1/regions')
      return r.regions.find(x => x.region === 'beta')?.leader === info.peerId
    }, 20_000, 'beta\'s summary at the alpha founder')
    // A peer given alpha's ticket but --region beta finds beta's peers through the mesh.
    const q = await start(['daemon', '--ticket', ticket, '--region', 'beta'], 'j2')
    await eventually(async () => {
      const view = await apiGet<Nodes>(q, '/api/v1/nodes')
      return view.nodes.filter(n => n.state === 'alive').map(n => n.name).sort().join() === 'f2,j2'
    }, 20_000, 'j2 sees beta')
  })

  it('refuses a peer with the wrong swarm key: it never appears, and its connections fail', async () => {
    const wrong = makeTicket({ region: 'alpha', key: swarmKeyHex(createSwarmKey()), addrs: parseTicket(ticket).addrs })
    const outsider = await start(['daemon', '--ticket', wrong], 'x1')
    const outsiderId = (await apiGet<{ peerId: string }>(outsider, '/api/v1/status')).peerId
    await sleep(4000)
    for (const p of procs.filter(p => p !== outsider)) {
      const view = await apiGet<Nodes>(p, '/api/v1/nodes')
      assert.ok(!view.nodes.some(n => n.peerId === outsiderId), `${p.dataDir} lists the outsider`)
    }
    const own = await apiGet<Nodes>(outsider, '/api/v1/nodes')
    assert.deepEqual(own.nodes.map(n => n.name), ['x1'])
    const metrics = await (await fetch(`${outsider.api}/metrics`, { headers: { authorization: `Bearer ${outsider.token}` } })).text()
    assert.match(metrics, /grove_peers_connected 0\b/)
  })

  it('prints a fresh ticket from a running peer', async () => {
    const { stdout } = await run(process.execPath, [groveBin(), 'region', 'ticket', '--data-dir', founder.dataDir])
    const t = parseTicket(stdout.trim())
    assert.equal(t.region, 'alpha')
    assert.equal(t.key, parseTicket(ticket).key)
  })

  it('rejects bad and truncated tickets with one line, exit status 2', async () => {
    for (const [bad, pattern] of [
      [ticket.slice(0, -5), /--ticket: the ticket is damaged or truncated/],
      [ticket.slice(0, 40), /--ticket: the ticket is (truncated|damaged)/],
      ['hello', /--ticket: not a Grove ticket/]
    ] as const) {
      const r = await run(process.execPath, [groveBin(), 'daemon', '--data-dir', join(dir, 'bad'), '--ticket', bad]).then(() => ({ code: 0, stderr: '' }), (e: { code: number, stderr: string }) => e)
      assert.equal(r.code, 2)
      assert.match(r.stderr, pattern)
      assert.equal(r.stderr.trim().split('\n').length, 1)
    }
  })
})
