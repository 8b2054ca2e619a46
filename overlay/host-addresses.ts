// Privileged mode puts each service IP on a local interface as a /32, so host processes and containers reach it
// like any local address. The design prefers a dummy interface (grove0); this machine kind's kernel has no `dummy`
// link type, so the addresses go on the loopback interface, where a /32 is just as reachable from the host.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Adds and removes /32 addresses on the interface the service proxy listens on. */
export interface AddressManager {
  add (ip: string): Promise<void>
  remove (ip: string): Promise<void>
  /** The IPv4 addresses on the interface. */
  list (): Promise<string[]>
}

/** `ip addr add|del <ip>/32 dev <dev>` and `ip -o -4 addr show dev <dev>`. Needs CAP_NET_ADMIN. */
export function ipCommandAddresses (dev = 'lo'): AddressManager {
  return {
    async add (ip) {
      try {
        await run('ip', ['addr', 'add', `${ip}/32`, 'dev', dev])
      } catch (err) {
        // Already there (a previous run, or another listener's port on the same IP) is what we wanted.
        if (!/File exists/i.test(String((err as { stderr?: string }).stderr ?? ''))) throw err
      }
    },
    async remove (ip) {
      try {
        await run('ip', ['addr', 'del', `${ip}/32`, 'dev', dev])
      } catch (err) {
        if (!/Cannot assign requested address/i.test(String((err as { stderr?: string }).stderr ?? ''))) throw err
      }
    },
    async list () {
      const { stdout } = await run('ip', ['-o', '-4', 'addr', 'show', 'dev', dev])
      return parseIpAddrShow(stdout)
    }
  }
}

/** The addresses in `ip -o -4 addr show` output. */
export function parseIpAddrShow (stdout: string): string[] {
  const out: string[] = []
  for (const m of stdout.matchAll(/\binet (\d{1,3}(?:\.\d{1,3}){3})\/\d+/g)) out.push(m[1])
  return out
}
