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

/** Spelled out here rather than imported, so a change to the signed bytes breaks this test. */
const DOMAIN = 'grove-directory:'
const ENVELOPE_MAX_BYTES = 3 * DIRECTORY_MAX_BYTES

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

/** An envelope around exactly these body bytes and this signature (base64 strings are passed through as given). */
function envelope (bodyBytes: Uint8Array | string, sig: string, extra: Record<string, unknown> = {}): Uint8Array {
  const b = typeof bodyBytes === 'string' ? bodyBytes : toString(bodyBytes, 'base64')
  return fromString(JSON.stringify({ body: b, sig, ...extra }))
}

/** Signs arbitrary body bytes the way a leader does, without going through signDirectory's schema. */
async function seal (bodyBytes: Uint8Array, signer: PrivateKey = leaderKey): Promise<Uint8Array> {
  const sig = await signer.sign(fromString(DOMAIN + toString(bodyBytes)))
  return envelope(bodyBytes, toString(sig, 'base64'))
}

function json (value: unknown): Uint8Array {
  return fromString(JSON.stringify(value))
}

function unwrap (record: Uint8Array): { bytes: Uint8Array, sig: string } {
  const r = JSON.parse(toString(record)) as { body: string, sig: string }
  return { bytes: fromString(r.body, 'base64'), sig: r.sig }
}

function bodyOf (record: Uint8Array): Record<string, unknown> {
  return JSON.parse(toString(unwrap(record).bytes)) as Record<string, unknown>
}

/** Re-encodes an edited copy of a signed record's body, keeping the old signature. */
function tamper (record: Uint8Array, edit: (b: Record<string, unknown>) => void): Uint8Array {
  const b = bodyOf(record)
  edit(b)
  return envelope(json(b), unwrap(record).sig)
}

/** Flips the lowest bit of one byte of the stored body, keeping the old signature. */
function flipBodyByte (record: Uint8Array, index: number): Uint8Array {
  const { bytes, sig } = unwrap(record)
  bytes[index] ^= 1
  return envelope(bytes, sig)
}

async function assertRefused (k: Uint8Array, value: Uint8Array, pattern?: RegExp): Promise<void> {
  await assert.rejects(directoryValidator(k, value), (err: unknown) => {
    assert.ok(err instanceof Error)
    assert.equal(err.name, 'DirectoryError')
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
    it('opens, giving back the body it was signed with and nothing else', async () => {
      const record = await openDirectory(await signed())
      assert.deepEqual(record, { body: body() })
    })

    it('is an envelope of the body\'s JSON bytes and a signature over "grove-directory:" + those bytes', async () => {
      const { bytes, sig } = unwrap(await signed())
      assert.deepEqual(JSON.parse(toString(bytes)), body())
      const publicKey = leaderKey.publicKey
      assert.equal(await publicKey.verify(fromString(DOMAIN + toString(bytes)), fromString(sig, 'base64')), true)
      assert.equal(await publicKey.verify(bytes, fromString(sig, 'base64')), false, 'the domain prefix is part of what is signed')
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

    it('still opens after the test\'s own re-encoding with no edit, so the tampering below is what fails', async () => {
      const record = tamper(await signed(), () => {})
      assert.deepEqual(await openDirectory(record), { body: body() })
    })

    // The signature covers the stored bytes, not a canonical form: any encoding the leader chose is fine as long as
    // it signed that encoding.
    const encodings: Array<{ name: string, bytes: () => Uint8Array }> = [
      {
        name: 'its keys in another order than the schema\'s',
        bytes: () => {
          const b = body()
          return json({ peers: b.peers, at: b.at, term: b.term, leader: b.leader, region: b.region, v: b.v })
        }
      },
      { name: 'pretty-printed JSON', bytes: () => fromString(JSON.stringify(body(), null, 2)) },
      { name: 'a field a newer version added', bytes: () => json({ ...body(), capacity: { cpu: 4 } }) }
    ]
    for (const { name, bytes } of encodings) {
      it(`verifies with a body that has ${name}, signed over its own bytes`, async () => {
        const record = await seal(bytes())
        await directoryValidator(key('eu-west'), record)
        assert.deepEqual(await openDirectory(record), { body: body() })
      })
    }
  })

  describe('the validator refuses', () => {
    it('a record stored under another region\'s key', async () => {
      await assertRefused(key('us-east'), await signed(), /record for region eu-west stored under \/grove\/region\/us-east/)
    })

    it('a record stored under a longer key that starts with its region\'s', async () => {
      // A slash cannot appear in a region name, so the key is refused before the record is even opened.
      await assertRefused(key('eu-west/extra'), await signed(), /unknown grove DHT key \/grove\/region\/eu-west\/extra/)
    })

    it('a record signed by a key other than its leader\'s', async () => {
      const forged = await signed({}, otherKey)
      await assertRefused(key('eu-west'), forged, /signature does not match the leader/)
      await assertUnopenable(forged, /signature does not match the leader/)
    })

    it('a record whose leader was swapped after signing', async () => {
      const swapped = tamper(await signed(), b => { b.leader = OTHER })
      await assertRefused(key('eu-west'), swapped, /signature does not match/)
    })

    it('a record re-encoded with its keys reordered after signing', async () => {
      const reordered = tamper(await signed(), b => {
        const { v, ...rest } = b
        for (const k of Object.keys(b)) Reflect.deleteProperty(b, k)
        Object.assign(b, rest, { v })
      })
      assert.notDeepEqual(unwrap(reordered).bytes, unwrap(await signed()).bytes)
      await assertUnopenable(reordered, /signature does not match/)
    })

    const tampers: Array<{ name: string, edit: (r: Uint8Array) => Uint8Array }> = [
      { name: 'its term raised', edit: r => tamper(r, b => { b.term = 8 }) },
      { name: 'its time moved', edit: r => tamper(r, b => { b.at = 1_800_000_000_000 }) },
      { name: 'its region renamed', edit: r => tamper(r, b => { b.region = 'us-east' }) },
      { name: 'a peer address replaced', edit: r => tamper(r, b => { (b.peers as Array<{ addrs: string[] }>)[1].addrs = ['/ip4/6.6.6.6/tcp/4100'] }) },
      { name: 'a peer dropped', edit: r => tamper(r, b => { (b.peers as unknown[]).pop() }) },
      { name: 'a digit of its term flipped in the stored bytes', edit: r => flipBodyByte(r, toString(unwrap(r).bytes).indexOf('"term":7') + 7) },
      { name: 'its signature flipped', edit: r => envelope(unwrap(r).bytes, flipFirstBit(unwrap(r).sig)) }
    ]
    for (const { name, edit } of tampers) {
      it(`a record with ${name} after signing`, async () => {
        const record = edit(await signed())
        await assertRefused(key(String(bodyOf(record).region)), record, /signature does not match/)
        await assertUnopenable(record, /signature does not match/)
      })
    }

    it('a record with any single bit of its stored body flipped', async () => {
      const record = await signed()
      const length = unwrap(record).bytes.length
      for (let i = 0; i < length; i++) {
        await assertRefused(key('eu-west'), flipBodyByte(record, i))
      }
    })

    it(`an envelope over ${ENVELOPE_MAX_BYTES} bytes, even one that is otherwise valid`, async () => {
      const record = toString(await signed())
      // Whitespace keeps the JSON and the signature valid: only the size is wrong.
      const justFits = fromString(record + ' '.repeat(ENVELOPE_MAX_BYTES - record.length))
      const tooBig = fromString(record + ' '.repeat(ENVELOPE_MAX_BYTES - record.length + 1))
      assert.equal(justFits.byteLength, ENVELOPE_MAX_BYTES)
      await directoryValidator(key('eu-west'), justFits)
      await assertRefused(key('eu-west'), tooBig, /over the limit/)
      await assertUnopenable(tooBig, new RegExp(`${ENVELOPE_MAX_BYTES + 1} bytes is over the limit`))
    })

    it(`a body over ${DIRECTORY_MAX_BYTES} bytes, even one signed over those bytes`, async () => {
      const compact = JSON.stringify(body())
      const justFits = fromString(compact + ' '.repeat(DIRECTORY_MAX_BYTES - compact.length))
      const tooBig = fromString(compact + ' '.repeat(DIRECTORY_MAX_BYTES - compact.length + 1))
      assert.equal(justFits.byteLength, DIRECTORY_MAX_BYTES)
      await directoryValidator(key('eu-west'), await seal(justFits))
      const sealed = await seal(tooBig)
      assert.ok(sealed.byteLength < ENVELOPE_MAX_BYTES, 'the envelope itself is within its limit')
      await assertRefused(key('eu-west'), sealed, /exceeds the limit/)
      await assertUnopenable(sealed, new RegExp(`${DIRECTORY_MAX_BYTES + 1} bytes exceeds the limit of ${DIRECTORY_MAX_BYTES}`))
    })

    it(`a base64 body longer than ${2 * DIRECTORY_MAX_BYTES} characters, before decoding it`, async () => {
      const value = envelope('A'.repeat(2 * DIRECTORY_MAX_BYTES + 4), 'AAAA')
      assert.ok(value.byteLength < ENVELOPE_MAX_BYTES)
      await assertUnopenable(value, /bad region record: body: /)
    })

    it('a record with more peers than the schema allows', async () => {
      const peers = Array.from({ length: DIRECTORY_MAX_PEERS + 1 }, () => ({ id: LEADER, addrs: [] }))
      await assertUnopenable(await seal(json({ ...body(), peers })), /peers/)
      await assert.rejects(signDirectory({ ...body(), peers }, leaderKey), /peers/)
    })

    const notRecords: Array<{ name: string, bytes: () => Promise<Uint8Array>, pattern: RegExp }> = [
      { name: 'text that is not JSON', bytes: async () => fromString('leader=me term=99'), pattern: /not valid UTF-8 JSON/ },
      { name: 'invalid UTF-8', bytes: async () => Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]), pattern: /not valid UTF-8 JSON/ },
      { name: 'empty bytes', bytes: async () => new Uint8Array(0), pattern: /not valid UTF-8 JSON/ },
      { name: 'JSON null', bytes: async () => fromString('null'), pattern: /bad region record/ },
      { name: 'a body without a signature', bytes: async () => json({ body: toString(json(body()), 'base64') }), pattern: /sig/ },
      { name: 'a body with an empty signature', bytes: async () => envelope(json(body()), ''), pattern: /bad region record/ },
      { name: 'a signature that is not base64', bytes: async () => envelope(json(body()), '!!not base64!!'), pattern: /bad region record/ },
      { name: 'a body that is not base64', bytes: async () => envelope('{"v":1}', 'AAAA'), pattern: /bad region record/ },
      { name: 'a base64 body that is not JSON', bytes: async () => await seal(fromString('leader=me term=99')), pattern: /not valid UTF-8 JSON/ },
      { name: 'a bare body', bytes: async () => json(body()), pattern: /body/ },
      { name: 'the body as an object instead of base64', bytes: async () => json({ body: body(), sig: 'AAAA' }), pattern: /body: .*expected string/ },
      { name: 'version 2', bytes: async () => await seal(json({ ...body(), v: 2 })), pattern: /record: v: / },
      { name: 'a bad region name', bytes: async () => await seal(json({ ...body(), region: 'EU' })), pattern: /record: region: must be/ },
      { name: 'a negative term', bytes: async () => await seal(json({ ...body(), term: -1 })), pattern: /record: term: / },
      { name: 'an RSA-style leader ID with no inline key', bytes: async () => await seal(json({ ...body(), leader: 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N' })), pattern: /carries no public key/ },
      { name: 'a leader that is base58 but not a peer ID', bytes: async () => await seal(json({ ...body(), leader: '1'.repeat(46) })), pattern: /bad region record/ },
      { name: 'a leader that is base58 but not a multihash or CID', bytes: async () => await seal(json({ ...body(), leader: 'z'.repeat(52) })), pattern: /bad region record/ }
    ]
    for (const { name, bytes, pattern } of notRecords) {
      it(`${name}`, async () => {
        const value = await bytes()
        await assertRefused(key('eu-west'), value)
        await assertUnopenable(value, pattern)
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

    it('ranks a body with its keys in another order like any other', async () => {
      const b = body({ term: 9 })
      const reordered = await seal(json({ at: b.at, term: b.term, peers: b.peers, leader: b.leader, region: b.region, v: b.v }))
      assert.equal(directorySelector(K, [await signed({ term: 8 }), reordered]), 1)
    })

    const unreadable: Array<{ name: string, bytes: Uint8Array }> = [
      { name: 'non-JSON text', bytes: fromString('garbage') },
      { name: 'invalid UTF-8', bytes: Uint8Array.from([0xff, 0xfe, 0xfd]) },
      { name: 'empty bytes', bytes: new Uint8Array(0) },
      { name: 'JSON null', bytes: fromString('null') },
      { name: 'a JSON array', bytes: fromString('[1,2,3]') },
      { name: 'an object without a body', bytes: fromString('{"sig":"AAAA"}') },
      { name: 'the body as an object instead of base64', bytes: fromString('{"body":{"term":99999,"at":1},"sig":"AAAA"}') },
      { name: 'truncated JSON', bytes: fromString('{"body":"eyJ0ZXJtIjo5OTk5OX0",') },
      { name: 'an unsigned envelope whose body is not base64', bytes: envelope('{"term":99999}', '') },
      { name: 'an unsigned envelope whose body is base64 of non-JSON', bytes: envelope(fromString('term=99999'), '') },
      { name: 'an unsigned envelope whose body is truncated JSON', bytes: envelope(fromString('{"v":1,"term":99999,'), '') },
      { name: 'an unsigned envelope whose body has a non-numeric term', bytes: envelope(json({ ...body(), term: 'lots' }), '') },
      { name: 'an unsigned envelope whose body is only a term', bytes: envelope(json({ term: 99999, at: 1 }), '') }
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
