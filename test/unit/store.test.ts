// The data directory's LevelDB, and the in-memory cache of the libp2p peer store's records in front of it.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Key } from 'interface-datastore'
import { DataStore } from '../../node/store.js'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

describe('data store: the peer records cache', function () {
  let dir: string
  let data: DataStore

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), 'grove-store-'))
    data = new DataStore(join(dir, 'db'))
    await data.open()
  })

  afterEach(async function () {
    await data.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('reads what was written last, through put, delete and batch, and keeps it on disk', async function () {
    const ds = data.datastore
    const peer = new Key('/peers/abc')
    await ds.put(peer, bytes('one'))
    assert.equal(text(await ds.get(peer)), 'one')
    await ds.put(peer, bytes('two'))
    assert.equal(text(await ds.get(peer)), 'two')
    assert.equal(await ds.has(peer), true)
    const b = ds.batch()
    b.put(peer, bytes('three'))
    await b.commit()
    assert.equal(text(await ds.get(peer)), 'three')
    await ds.delete(peer)
    assert.equal(await ds.has(peer), false)
    await assert.rejects(ds.get(peer), (err: Error) => err.name === 'NotFoundError')
    // Other keys pass straight through.
    await ds.put(new Key('/other/x'), bytes('x'))
    assert.equal(text(await ds.get(new Key('/other/x'))), 'x')
    // And everything is on disk: a new handle on the same directory reads it.
    await ds.put(peer, bytes('four'))
    await data.close()
    data = new DataStore(join(dir, 'db'))
    await data.open()
    assert.equal(text(await data.datastore.get(peer)), 'four')
    assert.equal(text(await data.datastore.get(new Key('/other/x'))), 'x')
  })

  it('writes changed peer records back: on disk within a flush, seen by queries at once, kept by close', async function () {
    const ds = data.datastore
    await ds.put(new Key('/peers/q1'), bytes('a'))
    await ds.put(new Key('/peers/q2'), bytes('b'))
    // A query right after the puts lists them (it flushes first).
    const listed: string[] = []
    for await (const { key, value } of ds.query({ prefix: '/peers/' })) listed.push(`${key.toString()}=${text(value)}`)
    assert.deepEqual(listed.sort(), ['/peers/q1=a', '/peers/q2=b'])
    // A change right before close is on disk afterwards.
    await ds.put(new Key('/peers/q1'), bytes('c'))
    await data.close()
    data = new DataStore(join(dir, 'db'))
    await data.open()
    assert.equal(text(await data.datastore.get(new Key('/peers/q1'))), 'c')
  })

  it('never caches a read that overlapped a write', async function () {
    const ds = data.datastore
    const peer = new Key('/peers/race')
    await ds.put(peer, bytes('old'))
    await data.close()
    data = new DataStore(join(dir, 'db'))
    await data.open()
    const ds2 = data.datastore
    // A read that misses the cache, and a write issued while it is in flight.
    const read = ds2.get(peer)
    const write = ds2.put(peer, bytes('new'))
    await Promise.all([read, write])
    assert.equal(text(await ds2.get(peer)), 'new')
  })
})
