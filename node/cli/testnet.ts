// `grove testnet up|status|down|kill|restart|partition|heal`: the local multi-peer testnet.
import { parseArgs } from 'node:util'
import { relative } from 'node:path'
import {
  up, down, kill, restart, partition, heal, convergence, requireTestnet, ownsPid, TestnetError,
  type TestnetFile, type Isolation, type RuntimeChoice
} from '../../testnet/index.js'
import { CliError, printJson, table } from './output.js'

export const TESTNET_USAGE = `usage: grove testnet <command> [options]

  up [--peers N] [--regions R] [--dir D] [--runtime process|docker|none] [--profile local|lan (default: local up to 24 peers)]
     [--base-port P] [--isolation none|netns] [--latency MS] [--json]
                      start N peers (default 6) in R regions (default 2) and wait until they converge
  status [--dir D] [--json]      the live state of every peer
  down [--dir D]                 stop every peer (SIGTERM, SIGKILL after 10 s) and remove namespaces
  kill PEER [--dir D]            SIGKILL one peer
  restart PEER [--dir D]         stop (if running) and start one peer with its data dir
  partition PEER... [--dir D]    cut peers off from the rest (netns testnets)
  heal [--dir D]                 undo every partition

The default directory is ./.grove-testnet. --isolation netns (root only) gives each peer its own network namespace;
--latency MS then delays traffic between regions by MS each way.`

type Values = Record<string, string | boolean | undefined>

function parse (argv: string[], options: Record<string, { type: 'string' | 'boolean' }>, positionals = false): { values: Values, positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, strict: true, allowPositionals: positionals, options: { dir: { type: 'string' }, json: { type: 'boolean' }, ...options } })
    return { values: r.values as Values, positionals: r.positionals }
  } catch (err) {
    throw new CliError(`${(err as Error).message.split('\n')[0]} (see grove testnet --help)`, 2)
  }
}

function int (values: Values, name: string, fallback: number): number {
  const v = values[name]
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isInteger(n)) throw new CliError(`--${name}: expected an integer, got "${String(v)}"`, 2)
  return n
}

function oneOf<T extends string> (values: Values, name: string, allowed: readonly T[], fallback: T): T {
  const v = values[name]
  if (v === undefined) return fallback
  if (!allowed.includes(v as T)) throw new CliError(`--${name}: must be one of ${allowed.join(', ')}, got "${String(v)}"`, 2)
  return v as T
}

/** Above this many peers on one host the local profile's sub-second timers starve a small machine's CPU. */
export const LOCAL_PROFILE_MAX_PEERS = 24

/** local for small testnets; lan (slower heartbeats, probe-driven detection) for large ones. */
export function defaultProfile (peers: number): 'local' | 'lan' {
  if (peers <= LOCAL_PROFILE_MAX_PEERS) return 'local'
  process.stderr.write(`[testnet] ${peers} peers: using the lan profile (the local profile's sub-second timers overload a small host at this size; pass --profile local to insist)\n`)
  return 'lan'
}

function dirOf (values: Values): string {
  return (values.dir as string | undefined) ?? '.grove-testnet'
}

function peersTable (t: TestnetFile, roles: Map<string, string>): string {
  return table(['PEER', 'REGION', 'ROLE', 'API', 'PID'], t.peers.map(p => [
    p.name, p.region, roles.get(p.name) ?? '-', p.api, p.pid === null || !ownsPid(p.pid, p.dataDir) ? '-' : String(p.pid)
  ]))
}

async function roles (t: TestnetFile): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  await Promise.all(t.peers.map(async p => {
    try {
      const res = await fetch(`${p.api}/api/v1/status`, { headers: { authorization: `Bearer ${p.token}` }, signal: AbortSignal.timeout(2000) })
      const s = await res.json() as { role: string, term: number }
      out.set(p.name, `${s.role} (term ${s.term})`)
    } catch {
      out.set(p.name, ownsPid(p.pid, p.dataDir) ? 'not answering' : 'stopped')
    }
  }))
  return out
}

async function cmdUp (argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    peers: { type: 'string' }, regions: { type: 'string' }, runtime: { type: 'string' }, profile: { type: 'string' },
    'base-port': { type: 'string' }, isolation: { type: 'string' }, latency: { type: 'string' }, timeout: { type: 'string' }
  })
  const dir = dirOf(values)
  const json = values.json === true
  const latency = values.latency === undefined ? undefined : int(values, 'latency', 0)
  if (latency !== undefined && latency < 0) throw new CliError('--latency: must not be negative', 2)
  const basePort = int(values, 'base-port', 4101)
  if (basePort < 1024 || basePort > 60000) throw new CliError('--base-port: must be within 1024..60000', 2)
  let interrupted = false
  const onSigint = (): void => {
    if (interrupted) return
    interrupted = true
    process.stderr.write('\n[testnet] interrupted: stopping the peers started so far\n')
    void down({ dir }).finally(() => process.exit(130))
  }
  process.on('SIGINT', onSigint)
  let t: TestnetFile
  try {
    t = await up({
      peers: int(values, 'peers', 6),
      regions: int(values, 'regions', 2),
      dir,
      runtime: oneOf<RuntimeChoice>(values, 'runtime', ['process', 'docker', 'none'], 'process'),
      profile: values.profile === undefined ? defaultProfile(int(values, 'peers', 6)) : oneOf(values, 'profile', ['local', 'lan'] as const, 'local'),
      basePort,
      isolation: oneOf<Isolation>(values, 'isolation', ['none', 'netns'], 'none'),
      latencyMs: latency,
      timeoutMs: values.timeout === undefined ? undefined : int(values, 'timeout', 0) * 1000
    })
  } catch (err) {
    if (err instanceof TestnetError) throw new CliError(err.message, /^--/.test(err.message) ? 2 : 1)
    throw err
  } finally {
    process.off('SIGINT', onSigint)
  }
  if (json) { printJson(t); return }
  const rel = relative(process.cwd(), t.dir) || '.'
  const dirFlag = rel === '.grove-testnet' ? '' : ` --dir ${rel}`
  const latencyNote = t.latencyMs === undefined ? '' : `\nlatency between regions: ${t.latencyMs} ms each way, emulated with ${t.latencyMode === 'netem' ? 'tc netem' : 'a user-space delay in the daemons (this kernel has no sch_netem)'}`
  const next: Array<[string, string]> = [
    [`npx grove nodes --data-dir ${rel}/peer-0`, 'region-0 as peer-0 sees it'],
    [`npx grove regions --data-dir ${rel}/peer-0`, 'every region\'s summary'],
    [`npx grove deploy testnet/examples/web.json --wait --data-dir ${rel}/peer-0`, 'deploy an Oakestra SLA (an HTTP service)'],
    [`npx grove services --data-dir ${rel}/peer-0`, 'its service IPs; grove connect SVC gives a local endpoint'],
    [`npx grove testnet kill peer-0${dirFlag}`, 'and watch region-0 elect a new leader'],
    [`npx grove testnet restart peer-0${dirFlag}`, 'back with the same peer ID, as a follower'],
    [`npx grove testnet status${dirFlag}`, 'the live state'],
    [`npx grove testnet down${dirFlag}`, 'stop everything']
  ]
  const width = Math.max(...next.map(([c]) => c.length))
  process.stdout.write([
    `testnet up: ${t.peers.length} peers in ${new Set(t.peers.map(p => p.region)).size} regions, profile ${t.profile}, isolation ${t.isolation}${latencyNote}`,
    '',
    peersTable(t, await roles(t)),
    '',
    'try next:',
    ...next.map(([c, why]) => `  ${c.padEnd(width)}  # ${why}`),
    `logs: ${rel}/peer-N/daemon.log`,
    ''
  ].join('\n'))
}

async function cmdStatus (argv: string[]): Promise<void> {
  const { values } = parse(argv, {})
  const t = await requireTestnet(dirOf(values)).catch(fail)
  const c = await convergence(t)
  if (values.json === true) {
    const r = await roles(t)
    printJson({ ...t, converged: c.converged, peers: t.peers.map(p => ({ ...p, running: ownsPid(p.pid, p.dataDir), role: r.get(p.name) })) })
    return
  }
  process.stdout.write(`${peersTable(t, await roles(t))}\n\n${c.converged ? 'converged' : `not converged: ${c.up}/${t.peers.length} up, ${c.leaders} regions with one leader, waiting on ${c.missing.join(', ') || 'a leader'}`}\n`)
}

function fail (err: unknown): never {
  if (err instanceof TestnetError) throw new CliError(err.message, err.message.startsWith('PEER:') ? 2 : 1)
  throw err
}

export async function runTestnet (argv: string[]): Promise<void> {
  const [sub, ...rest] = argv
  switch (sub) {
    case 'up': await cmdUp(rest); return
    case 'status': await cmdStatus(rest); return
    case 'down': {
      const { values } = parse(rest, {})
      await down({ dir: dirOf(values) })
      return
    }
    case 'kill':
    case 'restart': {
      const { values, positionals } = parse(rest, {}, true)
      if (positionals.length !== 1) throw new CliError(`PEER: ${sub} takes one peer name (for example peer-1)`, 2)
      const p = sub === 'kill' ? await kill(dirOf(values), positionals[0]).catch(fail) : await restart(dirOf(values), positionals[0]).catch(fail)
      if (values.json === true) printJson(p)
      else process.stdout.write(sub === 'kill' ? `killed ${p.name} (SIGKILL)\n` : `restarted ${p.name} (pid ${p.pid}, ${p.peerId})\n`)
      return
    }
    case 'partition': {
      const { values, positionals } = parse(rest, {}, true)
      if (positionals.length === 0) throw new CliError('PEER: name at least one peer to cut off', 2)
      const cut = await partition(dirOf(values), positionals).catch(fail)
      process.stdout.write(`cut off ${cut.map(p => p.name).join(', ')} from the other peers (undo with grove testnet heal)\n`)
      return
    }
    case 'heal': {
      const { values } = parse(rest, {})
      await heal(dirOf(values)).catch(fail)
      process.stdout.write('healed: every peer can reach every other again\n')
      return
    }
    default:
      throw new CliError(sub === undefined ? `missing testnet command\n${TESTNET_USAGE}` : `unknown testnet command "${sub}" (see grove testnet --help)`, 2)
  }
}
