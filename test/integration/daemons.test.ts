// Five real `grove daemon` processes, started through the CLI on loopback: three in region a, two in region b.
import { strict as assert } from 'node:assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { grove } from '../helpers/cli.js'
import {
  apiGet, apiPost, eventually, freePort, killDaemon, sleep, startDaemon, stopDaemon,
  type DaemonSpec, type RunningDaemon
} from '../../testnet/daemons.js'


interface Status { peerId: string, name: string, region: string, role: string, term: number, leader: string | null }
interface Nodes { region: string, nodes: Array<{ peerId: string, name: string, state: string, role: string, term: number }> }


describe('five daemons in two regions (multi-process, through the CLI)', function () {
  this.timeout(180_000)
  let dir: string
  const specs = new Map<string, DaemonSpec>()
  const running = new Map<string, RunningDaemon>()
  const inRegion = (region: string): RunningDaemon[] => [...running.values()].filter(d => d.spec.region === region)

  async function launch (name: string, region: string, join: string[]): Promise<RunningDaemon> {
    const spec: DaemonSpec = {
      name,
      region,
      dataDir: `${dir}/${name}`,
      p2pPort: await freePort(),
      apiPort: await freePort(),
      profile: 'local',
      join,
      env: { GROVE_FAULTS: '1' }
    }
    specs.set(name, spec)
    const d = await startDaemon(spec)
    running.set(name, d)
    return d
  }

  /** Every peer of the region agrees on one leader, which says it leads; returns it with its term. */
  async function agreedLeader (region: string): Promise<{ leader: string, term: number } | undefined> {
    const statuses = await Promise.all(inRegion(region).map(async d => await apiGet<Status>(d, '/api/v1/status')))
    const leaders = new Set(statuses.map(s => s.leader))
    if (leaders.size !== 1 || statuses[0].leader === null) return undefined
    const leader = statuses.find(s => s.peerId === statuses[0].leader)
    if (leader?.role !== 'leader') return undefined
    if (statuses.filter(s => s.role === 'leader').length !== 1) return undefined
    return { leader: leader.peerId, term: leader.term }
  }

  /** Every peer of the region sees every (running) peer of the region alive. */
  async function allAlive (region: string): Promise<boolean> {
    const peers = inRegion(region)
    const ids = peers.map(p => p.peerId).sort()
    for (const d of peers) {
      const view = await apiGet<Nodes>(d, '/api/v1/nodes')
      const alive = view.nodes.filter(n => n.state === 'alive').map(n => n.peerId).sort()
      if (JSON.stringify(alive) !== JSON.stringify(ids)) return false
    }
    return true
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'grove-5-'))
    const a1 = await launch('a1', 'a', [])
    await Promise.all([
      launch('a2', 'a', [a1.multiaddr]),
      launch('a3', 'a', [a1.multiaddr]),
      launch('b1', 'b', [a1.multiaddr]),
      launch('b2', 'b', [a1.multiaddr])
    ])
  })

  after(async () => {
    await Promise.all([...running.values()].map(async d => await stopDaemon(d, 5000)))
    await rm(dir, { recursive: true, force: true })
  })

  it('elects exactly one leader per region, and every peer sees its whole region alive', async () => {
    const a = await eventually(async () => await agreedLeader('a'), 20_000, 'one leader in region a')
    const b = await eventually(async () => await agreedLeader('b'), 20_000, 'one leader in region b')
    assert.ok(inRegion('a').some(d => d.peerId === a.leader))
    assert.ok(inRegion('b').some(d => d.peerId === b.leader))
    await eventually(async () => await allAlive('a') && await allAlive('b'), 20_000, 'every peer alive in every view')
    // The CLI shows the same through its JSON output.
    const out = await grove('nodes', '--data-dir', specs.get('b2')!.dataDir, '--json')
    assert.equal(out.code, 0, out.stderr)
    const view = JSON.parse(out.stdout) as Nodes
    assert.deepEqual(view.nodes.map(n => n.name).sort(), ['b1', 'b2'])
    assert.ok(view.nodes.every(n => n.state === 'alive'))
    // Region summaries of both regions reach every peer.
    await eventually(async () => {
      const r = await apiGet<{ regions: Array<{ region: string, leader: string, nodes: number, stale: boolean }> }>(running.get('b1')!, '/api/v1/regions')
      const ra = r.regions.find(x => x.region === 'a')
      const rb = r.regions.find(x => x.region === 'b')
      return ra?.nodes === 3 && rb?.nodes === 2 && ra.leader === a.leader && !ra.stale
    }, 20_000, 'summaries of both regions at b1')
  })

  it('fails over after kill -9 of the leader: a higher term, and the dead peer marked dead everywhere', async () => {
    const before = await eventually(async () => await agreedLeader('a'), 20_000, 'a leader in region a')
    const victim = inRegion('a').find(d => d.peerId === before.leader)!
    await killDaemon(victim)
    running.delete(victim.spec.name)
    const after = await eventually(async () => await agreedLeader('a'), 20_000, 'a new leader in region a')
    assert.notEqual(after.leader, before.leader)
    assert.ok(after.term > before.term, `new term ${after.term} must exceed ${before.term}`)
    await eventually(async () => {
      for (const d of inRegion('a')) {
        const view = await apiGet<Nodes>(d, '/api/v1/nodes')
        if (view.nodes.find(n => n.peerId === victim.peerId)?.state !== 'dead') return false
      }
      return true
    }, 20_000, 'the killed leader marked dead by the survivors')

    // Restart it with the same data dir and without --region: same identity, remembered region, a follower.
    const survivor = inRegion('a')[0]
    const spec = { ...specs.get(victim.spec.name)!, region: undefined, join: [survivor.multiaddr] }
    const back = await startDaemon(spec)
    running.set(victim.spec.name, { ...back, spec: { ...spec, region: 'a' } })
    assert.equal(back.peerId, victim.peerId)
    await eventually(async () => await allAlive('a'), 20_000, 'the restarted peer alive in every view')
    const final = await eventually(async () => await agreedLeader('a'), 20_000, 'one leader after the restart')
    assert.equal(final.leader, after.leader, 'the restarted peer must not take the lead back')
    const status = await apiGet<Status>(back, '/api/v1/status')
    assert.equal(status.role, 'follower')
    assert.equal(status.region, 'a')
  })

  it('keeps the healthy leader when a follower\'s gossip is cut off for a while', async () => {
    const before = await eventually(async () => await agreedLeader('a'), 20_000, 'a leader in region a')
    const follower = inRegion('a').find(d => d.peerId !== before.leader)!
    await apiPost(follower, '/api/v1/debug/faults', { gossip: 'cut' })
    // Several silence thresholds of the local profile (900 ms each).
    await sleep(6000)
    const during = await apiGet<Status>(running.get([...running.keys()].find(k => running.get(k)!.peerId === before.leader)!)!, '/api/v1/status')
    assert.equal(during.role, 'leader')
    assert.equal(during.term, before.term)
    await apiPost(follower, '/api/v1/debug/faults', { gossip: 'ok' })
    await eventually(async () => await allAlive('a'), 20_000, 'everyone alive after gossip returns')
    const after = await eventually(async () => await agreedLeader('a'), 20_000, 'one leader after gossip returns')
    assert.equal(after.leader, before.leader)
    assert.equal(after.term, before.term)
  })

  it('removes a peer that stops cleanly at once, and the stopped daemon exits 0 within 5 s', async () => {
    const leaving = running.get('b2')!
    const stayer = running.get('b1')!
    const started = Date.now()
    const code = await stopDaemon(leaving, 10_000)
    const took = Date.now() - started
    running.delete('b2')
    assert.equal(code, 0)
    assert.ok(took < 5000, `stop took ${took} ms`)
    // Removed from the view: a peer that failed would stay listed as suspect, then dead, until it is reaped
    // minutes later; only the leave message removes it.
    const removedAfter = await eventually(async () => {
      const view = await apiGet<Nodes>(stayer, '/api/v1/nodes')
      const entry = view.nodes.find(n => n.peerId === leaving.peerId)
      assert.notEqual(entry?.state, 'dead', 'the leaving peer was timed out instead of removed')
      return entry === undefined ? Date.now() - started : undefined
    }, 5000, 'the leaving peer removed from b1', 20)
    assert.ok(removedAfter < 5000)
  })

  it('answers the CLI with one-line errors', async () => {
    const down = await grove('status', '--data-dir', join(dir, 'nobody'))
    assert.equal(down.code, 1)
    assert.match(down.stderr.trim(), /^grove: the grove daemon for .* is not running/)
    assert.equal(down.stderr.trim().split('\n').length, 1)

    const badApi = await grove('daemon', '--data-dir', join(dir, 'x'), '--region', 'a', '--api', 'nonsense')
    assert.equal(badApi.code, 2)
    assert.match(badApi.stderr, /--api: expected HOST:PORT/)

    const badRegion = await grove('daemon', '--data-dir', join(dir, 'y'), '--region', 'Not_OK')
    assert.equal(badRegion.code, 2)
    assert.match(badRegion.stderr, /--region: "Not_OK" must be/)

    const a = running.get('a2') ?? inRegion('a')[0]
    const unauth = await fetch(`${a.api}/api/v1/status`)
    assert.equal(unauth.status, 401)
    assert.equal(((await unauth.json()) as { error: { code: string } }).error.code, 'unauthorized')
    const metrics = await fetch(`${a.api}/metrics`, { headers: { authorization: `Bearer ${a.token}` } })
    assert.equal(metrics.status, 200)
    assert.match(await metrics.text(), /grove_members\{state="alive"\} 3/)
  })
})
