import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { fromString, toString } from 'uint8arrays'
import {
  DIRECTORY_MAX_BYTES, DIRECTORY_MAX_PEERS, DirectoryError, directorySelector, directoryValidator, openDirectory,
  signDirectory, type DirectoryBody
} from '../../bootstrap/directory.js'
import { regionDirectoryKey } from '../../node/protocols.js'

const leaderKey = await generateKeyPair('Ed25519')
const otherKey = await generateKeyPair('Ed25519')
const LEADER = peerIdFromPrivateKey(leaderKey).toString()
const OTHER = peerIdFromPrivateKey(otherKey).toString()

function body (patch: Partial<DirectoryBody> = {}): DirectoryBody {
  return {
    v: 1,
    region: 'eu-west',
    leader: LEADER,
    term: 7,
    at: 1_700_000_000_000,
    peers: [
      { id: LEADER, addrs: ['/ip4/10.0.0.1/tcp/4100'] },
      { id: OTHER, addrs: ['/ip4/10.0.0.2/tcp/4100', '/ip6/::1/tcp/4100'] }
    ],
    ...patch
  }
}

function key (region: string): Uint8Array {
  return fromString(regionDirectoryKey(region))
}

async function signed (patch: Partial<DirectoryBody> = {}, signer: PrivateKey = leaderKey): Promise<Uint8Array> {
  return await signDirectory(body(patch), signer)
}

/** Edits the JSON of a signed record without re-signing it. */
function tamper (record: Uint8Array, edit: (r: { body: Record<string, unknown>, sig: string }) => void): Uint8Array {
  const r = JSON.parse(toString(record)) as { body: Record<string, unknown>, sig: string }
  edit(r)
  return fromString(JSON.stringify(r))
}

async function assertRefused (k: Uint8Array, value: Uint8Array, pattern?: RegExp): Promise<void> {
  await assert.rejects(directoryValidator(k, value), (err: unknown) => {
    assert.ok(err instanceof Error)
    if (pattern !== undefined) assert.match(err.message, pattern)
    return true
  })
}

async function assertUnopenable (value: Uint8Array, pattern: RegExp): Promise<void> {
  await assert.rejects(openDirectory(value), (err: unknown) => {
    assert.ok(err instanceof DirectoryError, `expected a DirectoryError, got ${String(err)}`)
    assert.equal(err.name, 'DirectoryError')
    assert.match(err.message, pattern)
    return true
  })
}

describe('region directory records', () => {
  describe('a record signed by its leader', () => {
    it('opens, giving back the body it was signed with', async () => {
      const record = await openDirectory(await signed())
      assert.deepEqual(record.body, body())
      assert.equal(typeof record.sig, 'string')
    })

    it('passes the validator under /grove/region/<its region>', async () => {
      await directoryValidator(key('eu-west'), await signed())
    })

    it('passes with the largest peer list the schema allows', async () => {
      const peers = Array.from({ length: DIRECTORY_MAX_PEERS }, (_, i) => ({ id: i % 2 === 0 ? LEADER : OTHER, addrs: [`/ip4/10.0.0.${i}/tcp/4100`] }))
      await directoryValidator(key('eu-west'), await signed({ peers }))
    })

    it('passes for a term-0 record with no peers', async () => {
      await directoryValidator(key('x'), await signed({ region: 'x', term: 0, at: 0, peers: [] }))
    })
  })

  describe('the validator refuses', () => {
    it('a record stored under another region\'s key', async () => {
      await assertRefused(key('us-east'), await signed(), /record for region eu-west stored under \/grove\/region\/us-east/)
    })

    it('a record stored under a longer key that starts with its region\'s', async () => {
      await assertRefused(key('eu-west/extra'), await signed(), /stored under/)
    })

    it('a record signed by a key other than its leader\'s', async () => {
      const forged = await signed({}, otherKey)
      await assertRefused(key('eu-west'), forged, /signature does not match the leader/)
      await assertUnopenable(forged, /signature does not match the leader/)
    })

    it('a record whose leader was swapped after signing', async () => {
      const swapped = tamper(await signed(), r => { r.body.leader = OTHER })
      await assertRefused(key('eu-west'), swapped, /signature does not match/)
    })

    const tampers: Array<{ name: string, edit: (r: { body: Record<string, unknown>, sig: string }) => void }> = [
      { name: 'its term raised', edit: r => { r.body.term = 8 } },
      { name: 'its time moved', edit: r => { r.body.at = 1_800_000_000_000 } },
      { name: 'its region renamed', edit: r => { r.body.region = 'us-east' } },
      { name: 'a peer address replaced', edit: r => { (r.body.peers as Array<{ addrs: string[] }>)[1].addrs = ['/ip4/6.6.6.6/tcp/4100'] } },
      { name: 'a peer dropped', edit: r => { (r.body.peers as unknown[]).pop() } },
      { name: 'its signature flipped', edit: r => { r.sig = flipFirstBit(r.sig) } }
    ]
    for (const { name, edit } of tampers) {
      it(`a record with ${name} after signing`, async () => {
        const record = tamper(await signed(), edit)
        const region = String((JSON.parse(toString(record)) as { body: { region: string } }).body.region)
        await assertRefused(key(region), record, /signature does not match/)
        await assertUnopenable(record, /signature does not match/)
      })
    }

    it(`a record over ${DIRECTORY_MAX_BYTES} bytes, even one that is otherwise valid`, async () => {
      const record = toString(await signed())
      // Whitespace keeps the JSON and the signature valid: only the size is wrong.
      const justFits = fromString(record + ' '.repeat(DIRECTORY_MAX_BYTES - record.length))
      const tooBig = fromString(record + ' '.repeat(DIRECTORY_MAX_BYTES - record.length + 1))
      assert.equal(justFits.byteLength, DIRECTORY_MAX_BYTES)
      await directoryValidator(key('eu-west'), justFits)
      await assertRefused(key('eu-west'), tooBig, /exceeds the limit/)
      await assertUnopenable(tooBig, /exceeds the limit of 16384/)
    })

    it('a record with more peers than the schema allows', async () => {
      const peers = Array.from({ length: DIRECTORY_MAX_PEERS + 1 }, () => ({ id: LEADER, addrs: [] }))
      await assertUnopenable(await signDirectory({ ...body(), peers }, leaderKey), /peers/)
    })

    const notRecords: Array<{ name: string, bytes: Uint8Array, pattern: RegExp }> = [
      { name: 'text that is not JSON', bytes: fromString('leader=me term=99'), pattern: /not valid UTF-8 JSON/ },
      { name: 'invalid UTF-8', bytes: Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]), pattern: /not valid UTF-8 JSON/ },
      { name: 'empty bytes', bytes: new Uint8Array(0), pattern: /not valid UTF-8 JSON/ },
      { name: 'JSON null', bytes: fromString('null'), pattern: /bad region record/ },
      { name: 'a body without a signature', bytes: fromString(JSON.stringify({ body: body() })), pattern: /sig/ },
      { name: 'a bare body', bytes: fromString(JSON.stringify(body())), pattern: /body/ },
      { name: 'version 2', bytes: fromString(JSON.stringify({ body: { ...body(), v: 2 }, sig: 'AAAA' })), pattern: /body\.v/ },
      { name: 'a bad region name', bytes: fromString(JSON.stringify({ body: { ...body(), region: 'EU' }, sig: 'AAAA' })), pattern: /body\.region/ },
      { name: 'a negative term', bytes: fromString(JSON.stringify({ body: { ...body(), term: -1 }, sig: 'AAAA' })), pattern: /body\.term/ },
      { name: 'an RSA-style leader ID with no inline key', bytes: fromString(JSON.stringify({ body: { ...body(), leader: 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N' }, sig: 'AAAA' })), pattern: /carries no public key/ }
    ]
    for (const { name, bytes, pattern } of notRecords) {
      it(`${name}`, async () => {
        await assertRefused(key('eu-west'), bytes)
        await assertUnopenable(bytes, pattern)
      })
    }

    const otherKeys = ['/grove/regions/eu-west', '/grove/region/', '/grove/regioneu-west', '/pk/eu-west', '/grove/node/eu-west', 'grove/region/eu-west', '/grove/REGION/eu-west']
    for (const k of otherKeys) {
      it(`the key ${k}, which is outside /grove/region/`, async () => {
        await assertRefused(fromString(k), await signed(), /unknown grove DHT key/)
      })
    }
  })

  describe('the selector', () => {
    const K = key('eu-west')

    it('picks the highest term, whatever its position', async () => {
      const records = await Promise.all([3, 9, 5].map(async term => await signed({ term })))
      assert.equal(directorySelector(K, records), 1)
      assert.equal(directorySelector(K, [records[1], records[0], records[2]]), 0)
      assert.equal(directorySelector(K, [records[0], records[2], records[1]]), 2)
    })

    it('picks the newest `at` among records of the same term', async () => {
      const records = await Promise.all([
        signed({ term: 4, at: 100 }),
        signed({ term: 4, at: 300 }),
        signed({ term: 4, at: 200 })
      ])
      assert.equal(directorySelector(K, records), 1)
    })

    it('prefers a higher term over a newer `at`', async () => {
      const records = await Promise.all([signed({ term: 4, at: 900 }), signed({ term: 5, at: 100 })])
      assert.equal(directorySelector(K, records), 1)
    })

    it('keeps the first of two equal records', async () => {
      const r = await signed()
      assert.equal(directorySelector(K, [r, r]), 0)
    })

    it('works with a single record', async () => {
      assert.equal(directorySelector(K, [await signed()]), 0)
    })

    const unreadable: Array<{ name: string, bytes: Uint8Array }> = [
      { name: 'non-JSON text', bytes: fromString('garbage') },
      { name: 'invalid UTF-8', bytes: Uint8Array.from([0xff, 0xfe, 0xfd]) },
      { name: 'empty bytes', bytes: new Uint8Array(0) },
      { name: 'JSON null', bytes: fromString('null') },
      { name: 'a JSON array', bytes: fromString('[1,2,3]') },
      { name: 'an object without a body', bytes: fromString('{"sig":"AAAA"}') },
      { name: 'a body with a non-numeric term', bytes: fromString('{"body":{"term":"lots","at":1}}') },
      { name: 'truncated JSON', bytes: fromString('{"body":{"term":99999,') }
    ]
    for (const { name, bytes } of unreadable) {
      it(`never picks ${name} over a readable record`, async () => {
        const readable = await signed({ term: 0, at: 0 })
        assert.equal(directorySelector(K, [bytes, readable]), 1)
        assert.equal(directorySelector(K, [bytes, bytes, readable, bytes]), 2)
        assert.equal(directorySelector(K, [readable, bytes]), 0)
      })
    }

    it('does not throw when nothing is readable', () => {
      assert.equal(directorySelector(K, [fromString('x'), fromString('null')]), 0)
    })
  })
})

/** The same base64 string with its first character's lowest bit flipped (still valid base64). */
function flipFirstBit (b64: string): string {
  const bytes = fromString(b64, 'base64')
  bytes[0] ^= 1
  return toString(bytes, 'base64')
}
