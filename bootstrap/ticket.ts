// Join tickets: one copy-pasteable string that holds everything a new peer needs to join a mesh, namely the format
// version, the swarm key, bootstrap multiaddrs (each with /p2p/<id>) and a region name.
//
//   grove1:<base64url of JSON {v, region, key, addrs}>.<8 hex digits of its SHA-256>
//
// The checksum catches a ticket that lost characters in a copy and paste. A ticket carries the swarm key: whoever
// holds it can join the mesh, so treat it as a secret.
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { multiaddr } from '@multiformats/multiaddr'
import { REGION_NAME } from '../node/wire/schemas.js'
import { describeIssue } from '../node/wire/codec.js'

export const TICKET_PREFIX = 'grove1:'

const ticketSchema = z.object({
  v: z.literal(1),
  region: z.string().regex(REGION_NAME, 'must be a region name'),
  key: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 hex digits'),
  addrs: z.array(z.string().max(512)).min(1, 'needs at least one bootstrap address').max(16)
})
export type Ticket = z.infer<typeof ticketSchema>

export class TicketError extends Error {
  static readonly NAME = 'TicketError'
  override name = TicketError.NAME
}

function checksum (payload: string): string {
  return createHash('sha256').update(payload).digest('hex').slice(0, 8)
}

export function makeTicket (t: Omit<Ticket, 'v'>): string {
  const ticket = ticketSchema.parse({ v: 1, ...t })
  for (const a of ticket.addrs) checkAddr(a)
  const payload = Buffer.from(JSON.stringify(ticket)).toString('base64url')
  return `${TICKET_PREFIX}${payload}.${checksum(payload)}`
}

function checkAddr (a: string): void {
  let ma
  try {
    ma = multiaddr(a)
  } catch {
    throw new TicketError(`bootstrap address "${a}" is not a multiaddr`)
  }
  if (ma.getComponents().find(c => c.name === 'p2p') === undefined) throw new TicketError(`bootstrap address "${a}" lacks /p2p/<peer-id>`)
}

/** Parses a ticket, or throws a TicketError whose message is one line a person can act on. */
export function parseTicket (text: string): Ticket {
  const s = text.trim()
  if (!s.startsWith(TICKET_PREFIX)) {
    throw new TicketError(`not a Grove ticket (a ticket starts with "${TICKET_PREFIX}"; get one with: grove region ticket --data-dir DIR)`)
  }
  const body = s.slice(TICKET_PREFIX.length)
  const dot = body.lastIndexOf('.')
  if (dot < 0) throw new TicketError('the ticket is truncated (its checksum is missing); copy the whole ticket')
  const payload = body.slice(0, dot)
  if (checksum(payload) !== body.slice(dot + 1)) throw new TicketError('the ticket is damaged or truncated (its checksum does not match); copy the whole ticket')
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  } catch {
    throw new TicketError('the ticket is damaged (its payload is not readable)')
  }
  if (typeof raw === 'object' && raw !== null && 'v' in raw && raw.v !== 1) {
    throw new TicketError(`the ticket has format version ${String(raw.v)}, which this grove does not know; upgrade grove`)
  }
  const parsed = ticketSchema.safeParse(raw)
  if (!parsed.success) throw new TicketError(`the ticket is invalid: ${describeIssue(parsed.error)}`)
  for (const a of parsed.data.addrs) checkAddr(a)
  return parsed.data
}
