// The region directory in the DHT: /grove/region/<name> → the region's leader and some of its peers' addresses,
// so a peer can find a region by name. Records are signed by the leader that wrote them, over the exact bytes of
// the body as stored (so field order or fields a newer version adds cannot break the signature). The DHT validator
// refuses unsigned, forged, oversized or mislabelled records, and the selector prefers the newest term.
import { z } from 'zod'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { fromString, toString } from 'uint8arrays'
import { multiaddrString, peerIdString, regionName } from '../node/wire/schemas.js'
import { decode, encode } from '../node/wire/codec.js'
import { regionDirectoryKey } from '../node/protocols.js'

export const DIRECTORY_MAX_BYTES = 16 * 1024
export const DIRECTORY_MAX_PEERS = 16
const DOMAIN = 'grove-directory:'

const bodySchema = z.object({
  v: z.literal(1),
  region: regionName,
  leader: peerIdString,
  term: z.number().int().nonnegative(),
  /** Wall-clock ms when written: orders records of one term. */
  at: z.number().int().nonnegative(),
  peers: z.array(z.object({ id: peerIdString, addrs: z.array(multiaddrString).max(16) })).max(DIRECTORY_MAX_PEERS)
})
export type DirectoryBody = z.infer<typeof bodySchema>

/** On the wire: the body's JSON as base64, and the leader's signature over those bytes. */
const envelopeSchema = z.object({ body: z.string().max(DIRECTORY_MAX_BYTES * 2), sig: z.string().max(256) })

export interface DirectoryRecord { body: DirectoryBody }

export class DirectoryError extends Error {
  static readonly NAME = 'DirectoryError'
  override name = DirectoryError.NAME
}

function signedBytes (bodyBytes: Uint8Array): Uint8Array {
  const prefix = fromString(DOMAIN)
  const out = new Uint8Array(prefix.length + bodyBytes.length)
  out.set(prefix)
  out.set(bodyBytes, prefix.length)
  return out
}

export async function signDirectory (body: DirectoryBody, key: PrivateKey): Promise<Uint8Array> {
  const bytes = encode(bodySchema.parse(body))
  const sig = await key.sign(signedBytes(bytes))
  return encode({ body: toString(bytes, 'base64'), sig: toString(sig, 'base64') })
}

/** The body without checking the signature: for ranking only. Throws on anything unreadable. */
function peek (value: Uint8Array): { bytes: Uint8Array, sig: Uint8Array, body: DirectoryBody } {
  const envelope = decode(value, envelopeSchema, DIRECTORY_MAX_BYTES * 3)
  const bytes = fromString(envelope.body, 'base64')
  const body = decode(bytes, bodySchema, DIRECTORY_MAX_BYTES)
  return { bytes, sig: fromString(envelope.sig, 'base64'), body }
}

/** Decodes and verifies a record; throws DirectoryError when it is malformed or not signed by its leader. */
export async function openDirectory (value: Uint8Array): Promise<DirectoryRecord> {
  if (value.byteLength > DIRECTORY_MAX_BYTES * 3) throw new DirectoryError(`bad region record: ${value.byteLength} bytes is over the limit`)
  try {
    const { bytes, sig, body } = peek(value)
    const publicKey = peerIdFromString(body.leader).publicKey
    if (publicKey === undefined) throw new DirectoryError('the leader ID carries no public key')
    if (!await publicKey.verify(signedBytes(bytes), sig)) throw new DirectoryError('the signature does not match the leader')
    return { body }
  } catch (err) {
    throw new DirectoryError(`bad region record: ${(err as Error).message}`)
  }
}

/** kad-dht validator for the "grove" namespace: throwing rejects the record. */
export async function directoryValidator (key: Uint8Array, value: Uint8Array): Promise<void> {
  const path = toString(key)
  if (!/^\/grove\/region\/[^/]+$/.test(path)) throw new DirectoryError(`unknown grove DHT key ${path}`)
  const record = await openDirectory(value)
  if (regionDirectoryKey(record.body.region) !== path) throw new DirectoryError(`record for region ${record.body.region} stored under ${path}`)
}

/**
 * kad-dht selector: the index of the best record, by (term, at). The DHT has validated every record it hands us,
 * but a record we cannot even read never wins.
 */
export function directorySelector (_key: Uint8Array, records: Uint8Array[]): number {
  let best = 0
  let bestRank: [number, number] = [-1, -1]
  records.forEach((value, i) => {
    try {
      const { body } = peek(value)
      const rank: [number, number] = [body.term, body.at]
      if (rank[0] > bestRank[0] || (rank[0] === bestRank[0] && rank[1] > bestRank[1])) {
        best = i
        bestRank = rank
      }
    } catch {}
  })
  return best
}
