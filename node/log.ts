// Logs go through @libp2p/logger namespaces ("grove:*"), so `DEBUG=grove:*` turns on the detail. Events an operator
// should see without DEBUG (elections, peers dying, start and stop) also go to stderr through `info`.
import { logger as libp2pLogger, type Logger } from '@libp2p/logger'

export type { Logger }

export function logger (name: string): Logger {
  return libp2pLogger(`grove:${name}`)
}

let quiet = false

/** Silences info lines (the CLI's --json mode, tests that embed a peer). */
export function setQuiet (q: boolean): void {
  quiet = q
}

export function info (message: string): void {
  if (quiet) return
  process.stderr.write(`${new Date().toISOString()} ${message}\n`)
}
