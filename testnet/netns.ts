// --isolation netns: each peer in its own network namespace, on a bridge this testnet creates, with its own IP.
//
//   root ns:  gbr-<id> 10.<o>.255.1/16 ──┬── gv<id>-<i> ⇄ eth0 in gtn-<id>-<i>: 10.<o>.<region>.<host+2>/16
//                                        └── ...
//
// <id> is derived from the testnet directory, so leftovers of a crashed testnet are found by name and removed by
// the next `down`. Partitions are blackhole routes on both sides (no iptables needed); latency between regions is
// tc netem where the kernel has sch_netem, otherwise the daemons delay traffic from other regions' addresses in user
// space (GROVE_EMULATE_DELAY, read by node/libp2p.ts).
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import type { TestnetFile, TestnetPeer } from './testnet.js'

const run = promisify(execFile)

async function ip (...args: string[]): Promise<string> {
  const { stdout } = await run('ip', args)
  return stdout
}

async function tryIp (...args: string[]): Promise<boolean> {
  try {
    await ip(...args)
    return true
  } catch {
    return false
  }
}

export function netnsAvailable (): boolean {
  return process.getuid?.() === 0
}

function ids (dir: string): { id: string, octet: number } {
  const h = createHash('sha256').update(dir).digest()
  return { id: h.toString('hex').slice(0, 4), octet: 64 + (h[2] % 64) }
}

export interface NetnsPlan {
  id: string
  octet: number
  namespaces: string[]
  addresses: string[]
  netem: boolean
  /** The subnets of the regions other than peer i's, for latency emulation. */
  otherRegionCidrs: (i: number) => string[]
  applyNetem: (ms: number) => Promise<void>
}

export function peerAddress (plan: NetnsPlan, i: number): string {
  return plan.addresses[i]
}

async function hasNetem (probeNs: string): Promise<boolean> {
  return await tryIp('netns', 'exec', probeNs, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms')
}

export async function setupNetns (opts: { dir: string, peers: number, regionOf: (i: number) => number }): Promise<NetnsPlan> {
  const { id, octet } = ids(opts.dir)
  const bridge = `gbr-${id}`
  await teardownNetns(opts.dir)
  await ip('link', 'add', bridge, 'type', 'bridge')
  await ip('addr', 'add', `10.${octet}.255.1/16`, 'dev', bridge)
  await ip('link', 'set', bridge, 'up')
  // Docker sets the FORWARD policy to DROP, and bridged frames pass through iptables when br_netfilter is loaded.
  await run('iptables', ['-I', 'FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT']).catch(() => {})
  const namespaces: string[] = []
  const addresses: string[] = []
  const perRegion = new Map<number, number>()
  for (let i = 0; i < opts.peers; i++) {
    const region = opts.regionOf(i)
    const host = perRegion.get(region) ?? 0
    perRegion.set(region, host + 1)
    if (host + 2 > 254 || region > 254) throw new Error('--isolation netns supports at most 253 peers per region and 254 regions')
    const ns = `gtn-${id}-${i}`
    const veth = `gv${id}-${i}`
    const addr = `10.${octet}.${region}.${host + 2}`
    await ip('netns', 'add', ns)
    await ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    await ip('link', 'set', veth, 'master', bridge, 'up')
    await ip('-n', ns, 'addr', 'add', `${addr}/16`, 'dev', 'eth0')
    await ip('-n', ns, 'link', 'set', 'eth0', 'up')
    await ip('-n', ns, 'link', 'set', 'lo', 'up')
    await ip('-n', ns, 'route', 'add', 'default', 'via', `10.${octet}.255.1`)
    namespaces.push(ns)
    addresses.push(addr)
  }
  const netem = namespaces.length > 0 && await hasNetem(namespaces[0])
  if (netem) await tryIp('netns', 'exec', namespaces[0], 'tc', 'qdisc', 'del', 'dev', 'lo', 'root')
  const regions = [...perRegion.keys()]
  const otherRegionCidrs = (i: number): string[] => regions.filter(r => r !== opts.regionOf(i)).map(r => `10.${octet}.${r}.0/24`)
  return {
    id,
    octet,
    namespaces,
    addresses,
    netem,
    otherRegionCidrs,
    applyNetem: async (ms: number) => {
      // One netem band for traffic to other regions, selected by destination subnet; the rest is undelayed.
      for (const [i, ns] of namespaces.entries()) {
        const tc = async (...args: string[]): Promise<void> => { await run('ip', ['netns', 'exec', ns, 'tc', ...args]) }
        await tc('qdisc', 'add', 'dev', 'eth0', 'root', 'handle', '1:', 'prio')
        await tc('qdisc', 'add', 'dev', 'eth0', 'parent', '1:3', 'handle', '30:', 'netem', 'delay', `${ms}ms`)
        for (const cidr of otherRegionCidrs(i)) {
          await tc('filter', 'add', 'dev', 'eth0', 'protocol', 'ip', 'parent', '1:0', 'prio', '3', 'u32', 'match', 'ip', 'dst', cidr, 'flowid', '1:3')
        }
      }
    }
  }
}

/** Removes every namespace, link and rule of the testnet in `dir`; returns how many things it removed. */
export async function teardownNetns (dir: string): Promise<number> {
  if (!netnsAvailable()) return 0
  const { id } = ids(dir)
  let removed = 0
  const list = await ip('netns', 'list').catch(() => '')
  for (const line of list.split('\n')) {
    const ns = line.split(' ')[0]
    if (ns.startsWith(`gtn-${id}-`)) {
      // Deleting a namespace deletes its end of each veth pair, and so the pair, and its qdiscs.
      if (await tryIp('netns', 'del', ns)) removed++
    }
  }
  const links = await ip('-o', 'link', 'show').catch(() => '')
  for (const m of links.matchAll(new RegExp(`\\d+: (gv${id}-\\d+)[@:]`, 'g'))) {
    if (await tryIp('link', 'del', m[1])) removed++
  }
  const bridge = `gbr-${id}`
  if (links.includes(`: ${bridge}:`)) {
    await run('iptables', ['-D', 'FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT']).catch(() => {})
    if (await tryIp('link', 'del', bridge)) removed++
  }
  return removed
}

function hostOf (p: TestnetPeer): string {
  return new URL(p.api).hostname
}

/**
 * Cuts the given peers off from every other peer, both ways, with blackhole routes: the bridge address stays
 * reachable, so the CLI can still query the cut peers' APIs.
 */
export async function partitionPeers (t: TestnetFile, cut: TestnetPeer[]): Promise<void> {
  const cutSet = new Set(cut.map(p => p.name))
  const others = t.peers.filter(p => !cutSet.has(p.name))
  for (const p of cut) {
    for (const o of others) await tryIp('-n', p.netns!, 'route', 'replace', 'blackhole', `${hostOf(o)}/32`)
  }
  for (const o of others) {
    for (const p of cut) await tryIp('-n', o.netns!, 'route', 'replace', 'blackhole', `${hostOf(p)}/32`)
  }
}

export async function healAll (t: TestnetFile): Promise<void> {
  for (const p of t.peers) {
    const routes = await ip('-n', p.netns!, 'route', 'show', 'type', 'blackhole').catch(() => '')
    for (const line of routes.split('\n')) {
      const m = /^blackhole (\S+)/.exec(line.trim())
      if (m !== null) await tryIp('-n', p.netns!, 'route', 'del', 'blackhole', m[1])
    }
  }
}
