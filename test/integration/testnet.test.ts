// The local testnet through the CLI: up, status, kill, restart, down; and, as root, network namespaces with a
// partition and its heal.
import { strict as assert } from 'node:assert'
import { execFile } from 'node:child_process'
import { mkdtemp, rm, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { apiGet, eventually } from '../../testnet/daemons.js'
import type { TestnetFile } from '../../testnet/index.js'
import { grove } from '../helpers/cli.js'

const run = promisify(execFile)


/** Grove processes (the bundled CLI, or the unbundled entry point) whose command line mentions `dir`. */
async function processesIn (dir: string): Promise<number[]> {
  const out: number[] = []
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue
    try {
      const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8')
      if (cmd.includes(dir) && (cmd.includes('/cli/grove.js') || cmd.includes('/cli/main.js'))) out.push(Number(e))
    } catch {}
  }
  return out
}

interface Nodes { nodes: Array<{ name: string, state: string }> }

describe('grove testnet (through the CLI)', function () {
  this.timeout(240_000)
  let dir: string
  const base = 10_000 + Math.floor(Math.random() * 20_000)

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'grove-tn-')) })
  after(async () => {
    await grove('testnet', 'down', '--dir', dir)
    await rm(dir, { recursive: true, force: true })
  })

  it('brings up 6 peers in 2 regions, converged, and writes testnet.json', async () => {
    const r = await grove('testnet', 'up', '--dir', dir, '--base-port', String(base), '--json')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /converging/)
    const printed = JSON.parse(r.stdout) as TestnetFile
    const file = JSON.parse(await readFile(join(dir, 'testnet.json'), 'utf8')) as TestnetFile
    assert.deepEqual(printed, file)
    assert.equal(file.profile, 'local')
    assert.equal(file.runtime, 'process')
    assert.equal(file.peers.length, 6)
    assert.deepEqual(file.peers.map(p => p.region), ['region-0', 'region-1', 'region-0', 'region-1', 'region-0', 'region-1'])
    for (const p of file.peers) {
      assert.match(p.peerId, /^12D3Koo/)
      assert.ok(p.multiaddrs[0].endsWith(`/p2p/${p.peerId}`))
      assert.ok(typeof p.pid === 'number' && p.pid > 0)
      const view = await apiGet<Nodes>(p, '/api/v1/nodes')
      assert.equal(view.nodes.filter(n => n.state === 'alive').length, 3)
    }
    const s = await grove('testnet', 'status', '--dir', dir, '--json')
    assert.equal(s.code, 0, s.stderr)
    assert.equal((JSON.parse(s.stdout) as { converged: boolean }).converged, true)
    // The README's follow-up command works on the testnet's data dirs.
    const nodes = await grove('nodes', '--data-dir', join(dir, 'peer-0'))
    assert.equal(nodes.code, 0, nodes.stderr)
    assert.match(nodes.stdout, /peer-2/)
  })

  it('kills and restarts a peer', async () => {
    const k = await grove('testnet', 'kill', 'peer-0', '--dir', dir)
    assert.equal(k.code, 0, k.stderr)
    const file = JSON.parse(await readFile(join(dir, 'testnet.json'), 'utf8')) as TestnetFile
    await eventually(async () => {
      const view = await apiGet<Nodes>(file.peers[2], '/api/v1/nodes')
      return view.nodes.find(n => n.name === 'peer-0')?.state === 'dead'
    }, 20_000, 'peer-0 dead at peer-2')
    const r = await grove('testnet', 'restart', 'peer-0', '--dir', dir)
    assert.equal(r.code, 0, r.stderr)
    await eventually(async () => JSON.parse((await grove('testnet', 'status', '--dir', dir, '--json')).stdout).converged === true, 30_000, 'convergence after restart')
    const bad = await grove('testnet', 'kill', 'peer-99', '--dir', dir)
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /PEER: no peer "peer-99"/)
  })

  it('stops everything on down, leaves no process behind, and is safe to run twice', async () => {
    const d = await grove('testnet', 'down', '--dir', dir)
    assert.equal(d.code, 0, d.stderr)
    assert.match(d.stderr, /stopped 6 peers cleanly/)
    assert.deepEqual(await processesIn(dir), [])
    const again = await grove('testnet', 'down', '--dir', dir)
    assert.equal(again.code, 0)
    assert.match(again.stderr, /nothing running/)
  })

  const root = process.getuid?.() === 0
  ;(root ? describe : describe.skip)('with network namespaces (root)', () => {
    let nsDir: string
    before(async () => { nsDir = await mkdtemp(join(tmpdir(), 'grove-ns-')) })
    after(async () => {
      await grove('testnet', 'down', '--dir', nsDir)
      await rm(nsDir, { recursive: true, force: true })
    })

    it('partitions and heals: cut-off peers die on the other side, and come back in one view', async () => {
      const up = await grove('testnet', 'up', '--dir', nsDir, '--peers', '6', '--regions', '2', '--isolation', 'netns', '--latency', '5')
      assert.equal(up.code, 0, up.stderr)
      assert.match(up.stdout, /latency between regions: 5 ms each way, emulated with (tc netem|a user-space delay)/)
      const t = JSON.parse(await readFile(join(nsDir, 'testnet.json'), 'utf8')) as TestnetFile
      assert.ok(t.peers.every(p => p.netns !== undefined && !p.api.includes('127.0.0.1')))
      // peer-4 (region-0) and peer-5 (region-1) lose everyone else.
      const cut = await grove('testnet', 'partition', 'peer-4', 'peer-5', '--dir', nsDir)
      assert.equal(cut.code, 0, cut.stderr)
      await eventually(async () => {
        const v0 = await apiGet<Nodes>(t.peers[0], '/api/v1/nodes')
        const v1 = await apiGet<Nodes>(t.peers[1], '/api/v1/nodes')
        return v0.nodes.find(n => n.name === 'peer-4')?.state === 'dead' && v1.nodes.find(n => n.name === 'peer-5')?.state === 'dead'
      }, 30_000, 'the cut-off peers marked dead on the other side')
      const heal = await grove('testnet', 'heal', '--dir', nsDir)
      assert.equal(heal.code, 0, heal.stderr)
      await eventually(async () => JSON.parse((await grove('testnet', 'status', '--dir', nsDir, '--json')).stdout).converged === true,
        60_000, 'one view with one leader per region after heal')
    })

    it('removes namespaces and links on down, also after a crash that lost testnet.json', async () => {
      const t = JSON.parse(await readFile(join(nsDir, 'testnet.json'), 'utf8')) as TestnetFile
      const namespaces = t.peers.map(p => p.netns!)
      await rm(join(nsDir, 'testnet.json'))
      const d = await grove('testnet', 'down', '--dir', nsDir)
      assert.equal(d.code, 0, d.stderr)
      const { stdout } = await run('ip', ['netns', 'list'])
      for (const ns of namespaces) assert.ok(!stdout.includes(ns), `${ns} left behind`)
      assert.deepEqual(await processesIn(nsDir), [])
      const again = await grove('testnet', 'down', '--dir', nsDir)
      assert.equal(again.code, 0)
    })
  })
})
