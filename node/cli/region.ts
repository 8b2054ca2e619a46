// `grove region bootstrap NAME` founds a region (and, without --ticket, a new private mesh);
// `grove region ticket` prints a fresh join ticket from a running peer.
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { daemonFlags, runPeer } from './daemon.js'
import { apiCall, resolveTarget } from './client.js'
import { CliError, printJson } from './output.js'
import { createSwarmKey, loadSwarmKey, makeTicket, swarmKeyHex, ticketAddrs } from '../../bootstrap/index.js'
import { REGION_NAME } from '../wire/schemas.js'
import { sleep } from '../clock.js'

export const REGION_USAGE = `usage:
  grove region bootstrap NAME --data-dir DIR [--listen MULTIADDR] [--api HOST:PORT] [--ticket T] [--json] [daemon options]
      start the first peer of region NAME in the foreground. Without --ticket it creates a new private mesh
      (a fresh swarm key in DIR/swarm.key); with --ticket it adds the region to the mesh the ticket names.
      When ready it prints the command another machine runs to join.
  grove region ticket --data-dir DIR [--json]
      print a fresh join ticket from a running peer, with its current addresses. Treat it as a secret.`

export async function runRegion (argv: string[]): Promise<void> {
  const [sub, ...rest] = argv
  if (sub === 'bootstrap') { await bootstrap(rest); return }
  if (sub === 'ticket') { await ticket(rest); return }
  throw new CliError(sub === undefined ? `missing subcommand\n${REGION_USAGE}` : `unknown subcommand "region ${sub}" (bootstrap or ticket)`, 2)
}

async function bootstrap (argv: string[]): Promise<void> {
  const [name, ...rest] = argv
  if (name === undefined || name.startsWith('-')) throw new CliError('NAME: the region to found is required (grove region bootstrap NAME --data-dir DIR)', 2)
  if (!REGION_NAME.test(name)) throw new CliError(`NAME: "${name}" must be 1-63 lowercase letters, digits or dashes, not starting or ending with a dash`, 2)
  const flags = daemonFlags(rest, { json: { type: 'boolean' } })
  if (flags.region !== undefined && flags.region !== name) throw new CliError(`--region: not used by region bootstrap (the region is NAME, "${name}")`, 2)
  flags.region = name
  const newMesh = flags.ticket === undefined
  await runPeer({
    flags,
    found: newMesh,
    foundIfUnlisted: !newMesh,
    createKey: newMesh ? createSwarmKey : undefined,
    onReady: async (peer, config) => {
      // The founder of a new mesh elects itself at once; give it a moment so the printed state says so.
      for (let i = 0; i < 100 && peer.election.current.role !== 'leader'; i++) await sleep(100)
      const key = await loadSwarmKey(config.dataDir)
      if (key === undefined) throw new CliError('internal: the swarm key is missing after bootstrap')
      const addrs = ticketAddrs(peer.libp2p.getMultiaddrs().map(a => a.toString()))
      const t = makeTicket({ region: name, key: swarmKeyHex(key), addrs })
      const join = `grove daemon --data-dir ./grove-data --region ${name} --ticket ${t}`
      const info = {
        region: name,
        name: config.name,
        peerId: peer.peerId,
        role: peer.election.current.role,
        api: `http://${peer.api.address}`,
        dataDir: config.dataDir,
        addrs,
        ticket: t,
        join
      }
      if (flags.json === true) {
        process.stdout.write(JSON.stringify(info) + '\n')
        return
      }
      process.stdout.write([
        `region ${name} is up: ${config.name} (${peer.peerId}) is its ${info.role}.`,
        newMesh ? `this is a new private mesh; its swarm key is in ${resolve(config.dataDir, 'swarm.key')}.` : 'joined the mesh named by the ticket.',
        '',
        'on another machine, join this region with:',
        `  ${join}`,
        'or found another region in the same mesh with:',
        `  grove region bootstrap OTHER --data-dir ./grove-data --ticket ${t}`,
        '',
        'the ticket holds the mesh\'s secret key: share it only with machines that should join.',
        `inspect with: grove nodes --data-dir ${config.dataDir}   (Ctrl-C stops this peer)`,
        ''
      ].join('\n'))
    }
  })
}

async function ticket (argv: string[]): Promise<void> {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({ args: argv, strict: true, options: { 'data-dir': { type: 'string' }, json: { type: 'boolean' } } }).values
  } catch (err) {
    throw new CliError((err as Error).message.split('\n')[0], 2)
  }
  const dataDir = values['data-dir'] as string | undefined
  if (dataDir === undefined) throw new CliError('--data-dir: required (the data directory of a running peer)', 2)
  const key = await loadSwarmKey(resolve(dataDir))
  if (key === undefined) throw new CliError(`${dataDir} has no swarm key: this peer's mesh is public. Found a private mesh with grove region bootstrap`)
  const target = await resolveTarget({ dataDir }, process.env)
  const status = await apiCall<{ region: string, addrs: string[], peerId: string }>(target, 'GET', '/api/v1/status')
  const t = makeTicket({ region: status.region, key: swarmKeyHex(key), addrs: ticketAddrs(status.addrs) })
  if (values.json === true) printJson({ ticket: t, region: status.region, addrs: ticketAddrs(status.addrs) })
  else process.stdout.write(t + '\n')
}
