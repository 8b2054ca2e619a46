// Which of a peer's addresses go into a ticket: reachable ones first. A LAN address serves other machines; a
// loopback address only serves peers on the same host (a testnet), so it goes last.
import { multiaddr } from '@multiformats/multiaddr'
import { isLoopback } from '@libp2p/utils'

export function ticketAddrs (addrs: string[], max = 4): string[] {
  const parsed = addrs.filter(a => a.includes('/p2p/')).map(a => ({ a, loop: isLoopback(multiaddr(a)) }))
  return [...parsed.filter(p => !p.loop), ...parsed.filter(p => p.loop)].map(p => p.a).slice(0, max)
}
