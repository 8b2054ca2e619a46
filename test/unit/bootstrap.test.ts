import { strict as assert } from 'node:assert'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  createSwarmKey, loadSwarmKey, makeTicket, parseTicket, saveSwarmKey, swarmKeyFromHex, swarmKeyHex, ticketAddrs
} from '../../bootstrap/index.js'

const ADDR = '/ip4/127.0.0.1/tcp/4101/p2p/12D3KooWAeZSiJrfgpriQgyzbgjWA5oGLE3oi8dWtTBZCVRsfvXC'
const LAN = '/ip4/192.168.1.10/tcp/4100/p2p/12D3KooWAeZSiJrfgpriQgyzbgjWA5oGLE3oi8dWtTBZCVRsfvXC'

describe('swarm keys', () => {
  it('creates keys in pnet format, round-trips them through hex, and keeps each one private', async () => {
    const key = createSwarmKey()
    const hex = swarmKeyHex(key)
    assert.match(hex, /^[0-9a-f]{64}$/)
    assert.deepEqual(swarmKeyFromHex(hex), key)
    assert.notEqual(swarmKeyHex(createSwarmKey()), hex)
    const dir = await mkdtemp(join(tmpdir(), 'grove-key-'))
    try {
      assert.equal(await loadSwarmKey(dir), undefined)
      await saveSwarmKey(dir, key)
      assert.equal((await stat(join(dir, 'swarm.key'))).mode & 0o777, 0o600)
      assert.equal(swarmKeyHex((await loadSwarmKey(dir))!), hex)
      await saveSwarmKey(dir, key)
      await assert.rejects(saveSwarmKey(dir, createSwarmKey()), /holds the key of another mesh/)
      await writeFile(join(dir, 'swarm.key'), 'garbage')
      await assert.rejects(loadSwarmKey(dir), /swarm.key: not a swarm key/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('tickets', () => {
  const key = swarmKeyHex(createSwarmKey())

  it('round-trips', () => {
    const t = makeTicket({ region: 'home', key, addrs: [ADDR] })
    assert.match(t, /^grove1:[A-Za-z0-9_-]+\.[0-9a-f]{8}$/)
    assert.deepEqual(parseTicket(`  ${t}\n`), { v: 1, region: 'home', key, addrs: [ADDR] })
  })

  const good = makeTicket({ region: 'home', key, addrs: [ADDR] })
  const payload = good.slice('grove1:'.length, good.lastIndexOf('.'))
  const reseal = (obj: unknown): string => {
    const p = Buffer.from(JSON.stringify(obj)).toString('base64url')
    // Recompute the checksum the way makeTicket does, so only the content is wrong.
    const sum = createHash('sha256').update(p).digest('hex').slice(0, 8)
    return `grove1:${p}.${sum}`
  }
  const cases: Array<[string, string, RegExp]> = [
    ['another prefix', 'grove2:abc.def', /not a Grove ticket/],
    ['no checksum', `grove1:${payload}`, /truncated \(its checksum is missing\)/],
    ['truncated payload', `grove1:${payload.slice(0, -4)}.${good.slice(-8)}`, /damaged or truncated/],
    ['one changed character', good.replace(/.(?=\.[0-9a-f]{8}$)/, c => c === 'A' ? 'B' : 'A'), /damaged or truncated/],
    ['a newer version', reseal({ v: 2, region: 'home', key, addrs: [ADDR] }), /format version 2.*upgrade grove/],
    ['a bad region', reseal({ v: 1, region: 'Home!', key, addrs: [ADDR] }), /region: must be a region name/],
    ['a short key', reseal({ v: 1, region: 'home', key: 'abcd', addrs: [ADDR] }), /key: must be 64 hex digits/],
    ['no addresses', reseal({ v: 1, region: 'home', key, addrs: [] }), /addrs: needs at least one bootstrap address/],
    ['an address without /p2p', reseal({ v: 1, region: 'home', key, addrs: ['/ip4/1.2.3.4/tcp/1'] }), /lacks \/p2p/],
    ['not JSON inside', (() => { const p = Buffer.from('nope').toString('base64url'); return reseal('x').replace(/:.*\./, `:${p}.`) })(), /damaged/]
  ]
  for (const [name, text, pattern] of cases) {
    it(`refuses ${name} with a one-line reason`, () => {
      assert.throws(() => parseTicket(text), (err: Error) => err.name === 'TicketError' && pattern.test(err.message) && !err.message.includes('\n'))
    })
  }

  it('puts LAN addresses before loopback ones', () => {
    assert.deepEqual(ticketAddrs([ADDR, LAN, '/ip4/10.0.0.1/tcp/1']), [LAN, ADDR])
  })
})
