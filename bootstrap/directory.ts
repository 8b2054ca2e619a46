// The region directory in the DHT: /grove/region/<name> → the region's leader and some of its peers' addresses,
// so a peer can find a region by name. Records are signed by the leader that wrote them; the DHT validator refuses
// unsigned, forged, oversized or mislabelled records, and the selector prefers the newest term.
import { z } from 'zod'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { fromString, toString } from 'uint8arrays'
import { multiaddrString, peerIdString, regionName } from '../node/wire/schemas.js'
import { decode, encode } from '../node/wire/codec.js'
import { regionDirectoryKey } from '../node/protocols.js'

export const DIRECTORY_MAX_BYTES = 16 * 1024
export const DIRECTORY_MAX_PEERS = 16

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

const recordSchema = z.object({ body: bodySchema, sig: z.string().max(256) })
export type DirectoryRecord = z.infer<typeof recordSchema>

export class DirectoryError extends Error {
  static readonly NAME = 'DirectoryError'
  override name = DirectoryError.NAME
}

function signedBytes (body: DirectoryBody): Uint8Array {
  return encode(['grove-directory', body])
}

export async function signDirectory (body: DirectoryBody, key: PrivateKey): Promise<Uint8Array> {
  const sig = await key.sign(signedBytes(body))
  return encode({ body, sig: toString(sig, 'base64') })
}

/** Decodes and verifies a record; throws DirectoryError when it is malformed or not signed by its leader. */
export async function openDirectory (value: Uint8Array): Promise<DirectoryRecord> {
  let record: DirectoryRecord
  try {
    record = decode(value, recordSchema, DIRECTORY_MAX_BYTES)
  } catch (err) {
    throw new DirectoryError(`bad region record: ${(err as Error).message}`)
  }
  const publicKey = peerIdFromString(record.body.leader).publicKey
  if (publicKey === undefined) throw new DirectoryError('bad region record: the leader ID carries no public key')
  const ok = await publicKey.verify(signedBytes(record.body), fromString(record.sig, 'base64'))
  if (!ok) throw new DirectoryError('bad region record: the signature does not match the leader')
  return record
}

/** kad-dht validator for the "grove" namespace: throwing rejects the record. */
export async function directoryValidator (key: Uint8Array, value: Uint8Array): Promise<void> {
  const path = toString(key)
  const m = /^\/grove\/region\/(.+)$/.exec(path)
  if (m === null) throw new DirectoryError(`unknown grove DHT key ${path}`)
  const record = await openDirectory(value)
  if (regionDirectoryKey(record.body.region) !== path) throw new DirectoryError(`record for region ${record.body.region} stored under ${path}`)
}

/** kad-dht selector: the index of the best record, by (term, at). Unreadable records lose. */
export function directorySelector (_key: Uint8Array, records: Uint8Array[]): number {
  let best = 0
  let bestRank: [number, number] = [-1, -1]
  records.forEach((value, i) => {
    try {
      const { body } = JSON.parse(toString(value)) as DirectoryRecord
      const rank: [number, number] = [Number(body.term), Number(body.at)]
      if (rank[0] > bestRank[0] || (rank[0] === bestRank[0] && rank[1] > bestRank[1])) {
        best = i
        bestRank = rank
      }
    } catch {}
  })
  return best
}
