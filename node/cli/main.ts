#!/usr/bin/env -S node --max-semi-space-size=1
// The `grove` command. Each command group lives in its own file; this one dispatches and turns errors into one
// line on stderr and an exit status (2 for usage and option errors, 1 otherwise).
import '../polyfill.js'
import { CliError } from './output.js'
import { VERSION } from '../version.js'

const USAGE = `usage: grove <command> [options]

commands:
  daemon      run a peer (grove daemon --help)
  region      found a region (region bootstrap NAME) or print a join ticket (region ticket)
  testnet     a local multi-peer testnet (testnet up|status|down|kill|restart|partition|heal)
  deploy      deploy an Oakestra SLA (deploy FILE.json --wait)
  apps, services, ps, scale, undeploy, logs, explain, connect
              see and change what runs (grove apps --help)
  status      this peer: role, term, leader, addresses
  nodes       the peers of a region and their state (--region R for another region)
  regions     every region's latest summary
  version     print the version

Inspecting commands take --data-dir DIR, or --api URL with --token T (or GROVE_TOKEN), and --json.`

async function main (argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  const wantsHelp = rest.includes('--help') || rest.includes('-h')
  switch (command) {
    case 'daemon': {
      const { runDaemon, DAEMON_USAGE } = await import('./daemon.js')
      if (wantsHelp) { process.stdout.write(DAEMON_USAGE + '\n'); return }
      await runDaemon(rest)
      return
    }
    case 'region': {
      const { runRegion, REGION_USAGE } = await import('./region.js')
      if (wantsHelp) { process.stdout.write(REGION_USAGE + '\n'); return }
      await runRegion(rest)
      return
    }
    case 'testnet': {
      const { runTestnet, TESTNET_USAGE } = await import('./testnet.js')
      if (wantsHelp) { process.stdout.write(TESTNET_USAGE + '\n'); return }
      await runTestnet(rest)
      return
    }
    case 'deploy':
    case 'apps':
    case 'services':
    case 'ps':
    case 'scale':
    case 'undeploy':
    case 'logs':
    case 'explain':
    case 'connect': {
      const cmds = await import('./apps.js')
      if (wantsHelp) { process.stdout.write(cmds.APPS_USAGE + '\n'); return }
      const run = { deploy: cmds.runDeploy, apps: cmds.runApps, services: cmds.runServices, ps: cmds.runPs, scale: cmds.runScale, undeploy: cmds.runUndeploy, logs: cmds.runLogs, explain: cmds.runExplain, connect: cmds.runConnect }[command]
      await run(rest)
      return
    }
    case 'status':
    case 'nodes':
    case 'regions': {
      const inspect = await import('./inspect.js')
      if (wantsHelp) { process.stdout.write(`usage: grove ${command} [options]\n\n${inspect.INSPECT_OPTIONS}${command === 'nodes' ? '\n  --region R            another region, as far as this peer can learn it' : ''}\n`); return }
      if (command === 'status') await inspect.runStatus(rest)
      else if (command === 'nodes') await inspect.runNodes(rest)
      else await inspect.runRegions(rest)
      return
    }
    case 'version':
    case '--version':
    case '-v':
      process.stdout.write(`grove ${VERSION}\n`)
      return
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n')
      return
    default:
      throw new CliError(`unknown command "${command}" (see grove help)`, 2)
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof CliError) {
    process.stderr.write(`grove: ${err.message}\n`)
    process.exit(err.exitCode)
  }
  process.stderr.write(`grove: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
