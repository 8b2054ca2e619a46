// `npm run bench -- <suite> [options]`: the benchmark programs. Each suite prints a table on stdout, progress on
// stderr, and writes bench-results/<suite>-<timestamp>.json for a later run to be compared with.
//
// Exit status: 0 when the suite ran, whether or not every target was met (the table says which); 1 when it crashed;
// 2 on a bad command line; 130 on Ctrl-C. Whatever the outcome, everything the suite started is stopped and its temp
// dirs are removed.
import { Cleanup } from './cleanup.js'
import { DEPLOY_DESCRIPTION, DEPLOY_USAGE, runDeploy, runScheduler, SCHEDULER_DESCRIPTION, SCHEDULER_USAGE } from './deploy.js'
import { MESH_DESCRIPTION, MESH_USAGE, runMesh } from './mesh.js'
import { OVERLAY_DESCRIPTION, OVERLAY_USAGE, runOverlay } from './overlay.js'
import { runTestnet, TESTNET_DESCRIPTION, TESTNET_USAGE } from './testnet.js'
import { UsageError } from './report.js'

interface Suite {
  description: string
  usage: string
  run: (argv: string[], cleanup: Cleanup) => Promise<void>
}

const SUITES: Record<string, Suite> = {
  mesh: { description: MESH_DESCRIPTION, usage: MESH_USAGE, run: runMesh },
  deploy: { description: DEPLOY_DESCRIPTION, usage: DEPLOY_USAGE, run: runDeploy },
  testnet: { description: TESTNET_DESCRIPTION, usage: TESTNET_USAGE, run: runTestnet },
  scheduler: { description: SCHEDULER_DESCRIPTION, usage: SCHEDULER_USAGE, run: runScheduler },
  overlay: { description: OVERLAY_DESCRIPTION, usage: OVERLAY_USAGE, run: runOverlay }
}

function usage (): string {
  const width = Math.max(...Object.keys(SUITES).map(k => k.length))
  return [
    'usage: npm run bench -- <suite> [options]    (or: node dist/testnet/bench/main.js <suite> [options])',
    '',
    'suites:',
    ...Object.entries(SUITES).map(([name, s]) => `  ${name.padEnd(width)}  ${s.description}`),
    '',
    'npm run bench -- <suite> --help shows the options of one suite.'
  ].join('\n')
}

async function main (argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  const suite = name === undefined ? undefined : SUITES[name]
  if (suite === undefined) {
    const asked = name === undefined || name === '--help' || name === '-h' || name === 'help'
    if (!asked) process.stderr.write(`bench: unknown suite "${name}"\n\n`)
    process.stderr.write(usage() + '\n')
    return asked ? 0 : 2
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(suite.usage + '\n')
    return 0
  }

  const cleanup = new Cleanup()
  let interrupted = false
  // The first Ctrl-C cleans up and exits; a second one (the handler is gone) kills the benchmark outright.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      interrupted = true
      process.stderr.write(`\nbench: ${signal}: stopping every daemon and removing temp dirs (again to force)\n`)
      void cleanup.run().finally(() => process.exit(130))
    })
  }
  try {
    await suite.run(rest, cleanup)
    return 0
  } catch (err) {
    if (interrupted) return 130
    if (err instanceof UsageError) {
      process.stderr.write(`bench ${name}: ${err.message}\n\n${suite.usage}\n`)
      return 2
    }
    process.stderr.write(`bench ${name}: crashed: ${(err as Error).stack ?? String(err)}\n`)
    return 1
  } finally {
    await cleanup.run()
  }
}

process.exitCode = await main(process.argv.slice(2))
// Lingering handles (a fetch keep-alive socket, a timer) must not keep a finished benchmark alive.
process.exit()
