// Runs the real `grove` command (the compiled CLI) and collects its exit code and output, for the tests that drive
// daemons and testnets the way a user does.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { groveBin } from '../../testnet/daemons.js'

const run = promisify(execFile)

export interface CliResult { code: number, stdout: string, stderr: string }

export async function grove (...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [groveBin(), ...args], { timeout: 180_000 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}
