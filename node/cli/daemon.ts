// `grove daemon`: run one peer in the foreground until SIGINT or SIGTERM.
import { parseArgs } from 'node:util'
import { loadConfig, ConfigError, type DaemonConfig, type RawOptions } from '../config.js'
import { Peer } from '../peer.js'
import { info, setQuiet } from '../log.js'
import { CliError } from './output.js'
import { removeDaemonInfo, writeDaemonInfo } from './client.js'
import { loadSwarmKey, parseTicket, saveSwarmKey, swarmKeyFromHex, TicketError, SwarmKeyError, type Ticket } from '../../bootstrap/index.js'

export const DAEMON_USAGE = `usage: grove daemon --data-dir DIR [--region NAME] [options]

  --data-dir DIR        this peer's identity, database and API token (required)
  --region NAME         the region to join or found (required on first start, then remembered)
  --ticket T            join the mesh a ticket names (its region unless --region says otherwise)
  --join MULTIADDR      a peer to bootstrap from, with /p2p/<id> (repeatable)
  --listen MULTIADDR    where to listen for peers (repeatable; default /ip4/0.0.0.0/tcp/4100)
  --api HOST:PORT       where the HTTP API listens (default 127.0.0.1:4180)
  --profile NAME        timers: local, lan or wan (default lan)
  --name NAME           this peer's name (default: the hostname)
  --labels k=v,...      labels for placement constraints
  --location LAT,LON    where this peer is, for geo constraints
  --no-lead             never stand for election (still votes)
  --runtimes LIST       runtimes to offer: process, docker, auto (both; the default) or none
  --policy ROM|LDP      node placement policy when this peer leads (default ROM)
  --areas JSON          named areas for constraints: {"name": {"lat": 48.1, "lon": 11.6, "radiusKm": 30}}
  --oakestra-user U, --oakestra-password P   the Oakestra-compatible login (default Admin/Admin)
  --overlay MODE        service proxy: unprivileged (default: 10.30.a.b is served on 127.30.a.b),
                        privileged (root: service IPs on the loopback interface), or off
  --overlay-loopback 127.N   where unprivileged mode maps service IPs (one N per peer on a shared host)
  --metrics-open        serve /metrics without the token
  --quiet               no log lines on stderr

Every option can also come from GROVE_<OPTION> (GROVE_DATA_DIR, GROVE_NO_LEAD=1, ...) or <data-dir>/config.json.`

/** Parses the daemon's flags into raw options; unknown or malformed flags are usage errors (exit 2). */
export interface DaemonFlags extends RawOptions {
  quiet: boolean
  ticket?: string
  json?: boolean
}

export function daemonFlags (argv: string[], extra: Record<string, { type: 'string' | 'boolean' }> = {}): DaemonFlags {
  let values: Record<string, string | boolean | string[] | undefined>
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'data-dir': { type: 'string' },
        region: { type: 'string' },
        join: { type: 'string', multiple: true },
        listen: { type: 'string', multiple: true },
        api: { type: 'string' },
        profile: { type: 'string' },
        name: { type: 'string' },
        labels: { type: 'string' },
        location: { type: 'string' },
        'no-lead': { type: 'boolean' },
        'metrics-open': { type: 'boolean' },
        quiet: { type: 'boolean' },
        ticket: { type: 'string' },
        runtimes: { type: 'string' },
        policy: { type: 'string' },
        areas: { type: 'string' },
        'oakestra-user': { type: 'string' },
        'oakestra-password': { type: 'string' },
        overlay: { type: 'string' },
        'overlay-loopback': { type: 'string' },
        ...extra
      }
    }))
  } catch (err) {
    throw new CliError(`${(err as Error).message.split('\n')[0]} (see grove daemon --help)`, 2)
  }
  const flags: DaemonFlags = { quiet: values.quiet === true }
  if (values.ticket !== undefined) flags.ticket = values.ticket as string
  if (values.json === true) flags.json = true
  if (values['data-dir'] !== undefined) flags.dataDir = values['data-dir'] as string
  if (values.region !== undefined) flags.region = values.region as string
  if (values.join !== undefined) flags.join = values.join as string[]
  if (values.listen !== undefined) flags.listen = values.listen as string[]
  if (values.api !== undefined) flags.api = values.api as string
  if (values.profile !== undefined) flags.profile = values.profile as string
  if (values.name !== undefined) flags.name = values.name as string
  if (values.labels !== undefined) flags.labels = values.labels as string
  if (values.location !== undefined) flags.location = values.location as string
  if (values['no-lead'] === true) flags.lead = false
  if (values['metrics-open'] === true) flags.metricsOpen = true
  if (values.runtimes !== undefined) flags.runtimes = values.runtimes as string
  if (values.policy !== undefined) flags.policy = values.policy as string
  if (values.areas !== undefined) flags.areas = values.areas as string
  if (values['oakestra-user'] !== undefined) flags.oakestraUser = values['oakestra-user'] as string
  if (values['oakestra-password'] !== undefined) flags.oakestraPassword = values['oakestra-password'] as string
  if (values.overlay !== undefined) flags.overlay = values.overlay as string
  if (values['overlay-loopback'] !== undefined) flags.overlayLoopback = values['overlay-loopback'] as string
  return flags
}

export async function runDaemon (argv: string[]): Promise<void> {
  const flags = daemonFlags(argv)
  await runPeer({ flags })
}

export interface RunPeerOptions {
  flags: DaemonFlags
  /** Founds a new region: lead at once. */
  found?: boolean
  /** Found the region if the directory has no record of it (region bootstrap with a ticket). */
  foundIfUnlisted?: boolean
  /** Create a swarm key when the data dir has none (a new private mesh). */
  createKey?: () => Uint8Array
  /** Called once the peer runs. */
  onReady?: (peer: Peer, config: DaemonConfig) => Promise<void> | void
}

function readTicket (text: string | undefined): Ticket | undefined {
  if (text === undefined) return undefined
  try {
    return parseTicket(text)
  } catch (err) {
    if (err instanceof TicketError) throw new CliError(`--ticket: ${err.message}`, 2)
    throw err
  }
}

/** Runs one peer in the foreground until SIGINT or SIGTERM: what `grove daemon` and `grove region bootstrap` share. */
export async function runPeer (opts: RunPeerOptions): Promise<void> {
  const { flags } = opts
  setQuiet(flags.quiet || flags.json === true)
  const ticket = readTicket(flags.ticket)
  let config: DaemonConfig
  try {
    config = await loadConfig(flags, process.env, ticket === undefined ? undefined : { region: ticket.region, join: ticket.addrs })
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, 2)
    throw err
  }
  // A ticket's join addresses add to any given with --join.
  if (ticket !== undefined && flags.join !== undefined) config.join = [...new Set([...config.join, ...ticket.addrs])]
  let swarmKey: Uint8Array | undefined
  try {
    if (ticket !== undefined) await saveSwarmKey(config.dataDir, swarmKeyFromHex(ticket.key))
    else if (opts.createKey !== undefined && await loadSwarmKey(config.dataDir) === undefined) await saveSwarmKey(config.dataDir, opts.createKey())
    swarmKey = await loadSwarmKey(config.dataDir)
  } catch (err) {
    if (err instanceof SwarmKeyError) throw new CliError(err.message, 2)
    throw err
  }
  const peer = new Peer({ config, swarmKey, found: opts.found, foundIfUnlisted: opts.foundIfUnlisted })
  // The daemon's own timers are unref()ed so that tests embedding a Peer can exit; this one keeps the process alive
  // until a signal says otherwise (start-up awaits such timers before any socket is open).
  setInterval(() => {}, 1 << 30)
  let stopping: Promise<void> | undefined
  const shutdown = (signal: string): void => {
    if (stopping !== undefined) return
    info(`${signal}: leaving the region and stopping`)
    // Exit within 5 seconds, whatever hangs.
    const force = setTimeout(() => {
      info('stop took longer than 5 s; exiting anyway')
      process.exit(0)
    }, 4500)
    force.unref()
    stopping = (async () => {
      await removeDaemonInfo(config.dataDir).catch(() => {})
      await peer.stop()
      info('stopped')
      process.exit(0)
    })()
  }
  process.on('SIGINT', () => { shutdown('SIGINT') })
  process.on('SIGTERM', () => { shutdown('SIGTERM') })
  try {
    await peer.start()
  } catch (err) {
    throw new CliError(`cannot start: ${(err as Error).message}`)
  }
  await writeDaemonInfo(config.dataDir, {
    pid: process.pid,
    api: `http://${peer.api.address}`,
    peerId: peer.peerId,
    region: config.region,
    name: config.name
  })
  info(swarmKey === undefined ? 'ready (public mesh: no swarm key)' : 'ready (private mesh)')
  await opts.onReady?.(peer, config)
}
