// `grove status`, `grove nodes` and `grove regions`: read-only views of a running daemon.
import { parseArgs } from 'node:util'
import { apiCall, resolveTarget } from './client.js'
import { CliError, bytes, duration, printJson, shortId, table } from './output.js'
import type { NodeView } from '../api/routes.js'
import type { RegionSummary } from '../wire/schemas.js'

export const INSPECT_OPTIONS = `  --data-dir DIR        find the daemon through its data directory
  --api URL             or talk to this API (with --token T or GROVE_TOKEN)
  --json                print JSON instead of a table`

function parse (argv: string[], extra: Record<string, { type: 'string' | 'boolean' }> = {}): Record<string, string | boolean | undefined> {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: { 'data-dir': { type: 'string' }, api: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' }, ...extra }
    }).values as Record<string, string | boolean | undefined>
  } catch (err) {
    throw new CliError(`${(err as Error).message.split('\n')[0]}`, 2)
  }
}

async function target (v: Record<string, string | boolean | undefined>) {
  return await resolveTarget({ dataDir: v['data-dir'] as string | undefined, api: v.api as string | undefined, token: v.token as string | undefined }, process.env)
}

interface StatusView { peerId: string, name: string, region: string, role: string, term: number, leader: string | null, addrs: string[], profile: string, uptimeMs: number, version: string }

export async function runStatus (argv: string[]): Promise<void> {
  const v = parse(argv)
  const s = await apiCall<StatusView>(await target(v), 'GET', '/api/v1/status')
  if (v.json === true) { printJson(s); return }
  const lines: Array<[string, string]> = [
    ['name', s.name], ['peer', s.peerId], ['region', s.region], ['role', s.role], ['term', String(s.term)],
    ['leader', s.leader ?? '(none yet)'], ['profile', s.profile], ['uptime', duration(s.uptimeMs)], ['version', s.version],
    ['addrs', s.addrs.join('\n         ')]
  ]
  process.stdout.write(lines.map(([k, val]) => `${k.padEnd(7)}  ${val}`).join('\n') + '\n')
}

export async function runNodes (argv: string[]): Promise<void> {
  const v = parse(argv, { region: { type: 'string' } })
  const query = typeof v.region === 'string' ? `?region=${encodeURIComponent(v.region)}` : ''
  const res = await apiCall<{ region: string, source: string, nodes: NodeView[] }>(await target(v), 'GET', `/api/v1/nodes${query}`)
  if (v.json === true) { printJson(res); return }
  const rows = res.nodes.map(n => [
    n.name + (n.self ? '*' : ''), shortId(n.peerId), n.state, n.role, String(n.term),
    `${n.resources.cpuCores}×${Math.round(n.resources.cpuUsage * 100)}%`,
    `${bytes(n.resources.memFree)}/${bytes(n.resources.memTotal)}`,
    n.resources.arch, n.resources.runtimes.join(','),
    n.self ? '-' : duration(n.lastSeenAgoMs), n.rttMs === null ? '-' : `${n.rttMs.toFixed(2)}ms`
  ])
  process.stdout.write(`region ${res.region}${res.source === 'local' ? '' : ` (as seen by ${shortId(res.source)})`}\n`)
  process.stdout.write(table(['NAME', 'PEER', 'STATE', 'ROLE', 'TERM', 'CPU', 'MEM FREE', 'ARCH', 'RUNTIMES', 'SEEN', 'RTT'], rows) + '\n')
}

export async function runRegions (argv: string[]): Promise<void> {
  const v = parse(argv)
  const res = await apiCall<{ regions: Array<RegionSummary & { stale: boolean, ageMs: number }> }>(await target(v), 'GET', '/api/v1/regions')
  if (v.json === true) { printJson(res); return }
  const rows = res.regions.map(r => [
    r.region, shortId(r.leader), String(r.term), String(r.nodes),
    r.resources.cpu.sum.toFixed(1), bytes(r.resources.memory.sum), bytes(r.resources.memory.maxFree),
    r.runtimes.join(','), Object.keys(r.archs).join(','),
    r.geo === null ? '-' : `${r.geo.centroid.lat.toFixed(2)},${r.geo.centroid.lon.toFixed(2)} r${Math.round(r.geo.radiusKm)}km`,
    r.stale ? `stale (${duration(r.ageMs)})` : duration(r.ageMs)
  ])
  if (rows.length === 0) { process.stdout.write('no region summaries yet\n'); return }
  process.stdout.write(table(['REGION', 'LEADER', 'TERM', 'NODES', 'CPU FREE', 'MEM FREE', 'MAX MEM', 'RUNTIMES', 'ARCH', 'GEO', 'AGE'], rows) + '\n')
}
