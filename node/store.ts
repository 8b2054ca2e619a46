// One LevelDB per data directory. libp2p keeps its peer store and keys in it through datastore-level; Grove keeps
// its own records in the "grove" sublevel, namespaced by key prefix (meta/, election/, ...). Both sit behind narrow
// interfaces so unit tests can use MemoryStore.
import { Level } from 'level'
import { LevelDatastore } from 'datastore-level'
import { Key as KeyClass, type Key } from 'interface-datastore'
import type { AbortOptions } from '@libp2p/interface'
import { logger } from './log.js'

const log = logger('store')

/** Bump when the layout of Grove's records changes incompatibly. */
export const SCHEMA_VERSION = 1

export type StoreOp = { type: 'put', key: string, value: unknown } | { type: 'del', key: string }

export interface Store {
  get<T> (key: string): Promise<T | undefined>
  put (key: string, value: unknown): Promise<void>
  del (key: string): Promise<void>
  batch (ops: StoreOp[]): Promise<void>
  /** Entries whose key starts with `prefix`, in key order. */
  entries<T> (prefix: string): AsyncIterable<[string, T]>
}

export class StoreError extends Error {
  static readonly NAME = 'StoreError'
  override name = StoreError.NAME
}

export class MemoryStore implements Store {
  private readonly map = new Map<string, unknown>()

  async get<T> (key: string): Promise<T | undefined> { return structuredClone(this.map.get(key)) as T | undefined }
  async put (key: string, value: unknown): Promise<void> { this.map.set(key, structuredClone(value)) }
  async del (key: string): Promise<void> { this.map.delete(key) }
  async batch (ops: StoreOp[]): Promise<void> {
    for (const op of ops) {
      if (op.type === 'put') this.map.set(op.key, structuredClone(op.value))
      else this.map.delete(op.key)
    }
  }

  async * entries<T> (prefix: string): AsyncIterable<[string, T]> {
    const keys = [...this.map.keys()].filter(k => k.startsWith(prefix)).sort()
    for (const k of keys) yield [k, structuredClone(this.map.get(k)) as T]
  }
}

/** The libp2p peer store's records live under this prefix. */
const PEER_RECORDS = '/peers/'
/** Peer records kept in memory at most (a region's peers, and the DHT's contacts). */
const MAX_CACHED_PEERS = 4096
/** Changed peer records are written to disk this long after the first change. */
const PEER_FLUSH_MS = 1_000

/**
 * The LevelDB datastore with the libp2p peer store's records held in memory and written back. libp2p merges a
 * stream's protocol into the remote peer's record each time a stream opens, at both ends, and the peer store
 * rewrites the whole record on every merge (it stamps `updated`): a LevelDB get and put, through libuv's thread
 * pool and the write-ahead log, per stream. That cost a new overlay connection ~0.3 ms at each end. Here a record
 * is read from disk once, changes stay in memory and reach disk within PEER_FLUSH_MS (and on close), and queries
 * flush first, so every read sees every write. A crash loses at most that last second of peer-store updates: a
 * cache of addresses and protocols that identify and the membership refill.
 */
export class PeerCachingDatastore extends LevelDatastore {
  private readonly cache = new Map<string, Uint8Array>()
  private readonly dirty = new Set<string>()
  private flushTimer: ReturnType<typeof setTimeout> | undefined
  private flushing: Promise<void> | undefined
  private writes = 0

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    const k = key.toString()
    if (!k.startsWith(PEER_RECORDS)) return await super.get(key, options)
    // Copies out: a decoder's views into the record must not alias the cache.
    const hit = this.cache.get(k)
    if (hit !== undefined) return hit.slice()
    const before = this.writes
    const value = await super.get(key, options)
    if (this.writes === before && !this.cache.has(k)) this.remember(k, value.slice())
    return value
  }

  override async has (key: Key, options?: AbortOptions): Promise<boolean> {
    return this.cache.has(key.toString()) || await super.has(key, options)
  }

  override async put (key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    const k = key.toString()
    this.writes++
    if (!k.startsWith(PEER_RECORDS)) return await super.put(key, value, options)
    options?.signal?.throwIfAborted()
    // A copy: the caller may reuse its buffer.
    this.remember(k, value.slice())
    this.dirty.add(k)
    this.scheduleFlush()
    return key
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    const k = key.toString()
    this.writes++
    this.cache.delete(k)
    this.dirty.delete(k)
    await super.delete(key, options)
  }

  override batch (): ReturnType<LevelDatastore['batch']> {
    const inner = super.batch()
    const touched: string[] = []
    return {
      put: (key, value) => { touched.push(key.toString()); inner.put(key, value) },
      delete: (key) => { touched.push(key.toString()); inner.delete(key) },
      commit: async (options) => {
        this.writes++
        for (const k of touched) {
          this.cache.delete(k)
          this.dirty.delete(k)
        }
        await inner.commit(options)
      }
    }
  }

  override query (...args: Parameters<LevelDatastore['query']>): ReturnType<LevelDatastore['query']> {
    return this.afterFlush(() => super.query(...args))
  }

  override queryKeys (...args: Parameters<LevelDatastore['queryKeys']>): ReturnType<LevelDatastore['queryKeys']> {
    return this.afterFlush(() => super.queryKeys(...args))
  }

  /** Writes the changed peer records to disk. Resolves once every record changed before the call is written. */
  async flush (): Promise<void> {
    while (this.flushing !== undefined) await this.flushing
    if (this.dirty.size === 0) return
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    const b = super.batch()
    const keys = [...this.dirty]
    this.dirty.clear()
    for (const k of keys) {
      const value = this.cache.get(k)
      if (value !== undefined) b.put(new KeyClass(k), value)
    }
    this.flushing = Promise.resolve().then(async () => { await b.commit() }).catch((err: Error) => {
      // Keep them for the next flush; a record changed meanwhile is already marked.
      for (const k of keys) if (this.cache.has(k)) this.dirty.add(k)
      log.error('cannot write %d peer records (trying again in %d ms): %s', keys.length, PEER_FLUSH_MS, err.message)
    }).finally(() => {
      this.flushing = undefined
      if (this.dirty.size > 0) this.scheduleFlush()
    })
    await this.flushing
  }

  override async close (): Promise<void> {
    await this.flush()
    clearTimeout(this.flushTimer)
    await super.close()
  }

  private scheduleFlush (): void {
    this.flushTimer ??= setTimeout(() => { this.flushTimer = undefined; void this.flush() }, PEER_FLUSH_MS).unref()
  }

  private afterFlush<T> (query: () => AsyncIterable<T> | Iterable<T>): AsyncGenerator<T> {
    const flush = async (): Promise<void> => { await this.flush() }
    return (async function * () {
      await flush()
      yield * query()
    })()
  }

  private remember (key: string, value: Uint8Array): void {
    if (!this.cache.has(key) && this.cache.size >= MAX_CACHED_PEERS) {
      // Evict the oldest record that is already on disk.
      for (const old of this.cache.keys()) {
        if (this.dirty.has(old)) continue
        this.cache.delete(old)
        break
      }
    }
    this.cache.delete(key)
    this.cache.set(key, value)
  }
}

/** The data directory's database: the libp2p datastore and Grove's store over one LevelDB. */
export class DataStore {
  readonly datastore: PeerCachingDatastore
  readonly store: Store
  private readonly db: Level<string, Uint8Array>

  constructor (path: string) {
    this.db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' })
    this.datastore = new PeerCachingDatastore(this.db)
    const grove = this.db.sublevel<string, unknown>('grove', { keyEncoding: 'utf8', valueEncoding: 'json' })
    this.store = {
      get: async <T>(key: string) => await grove.get(key) as T | undefined,
      put: async (key, value) => { await grove.put(key, value) },
      del: async (key) => { await grove.del(key) },
      batch: async (ops) => { await grove.batch(ops.map(op => op.type === 'put' ? { type: 'put' as const, key: op.key, value: op.value } : { type: 'del' as const, key: op.key })) },
      entries: async function * <T>(prefix: string): AsyncIterable<[string, T]> {
        for await (const [k, v] of grove.iterator({ gte: prefix, lt: `${prefix}\uffff` })) yield [k, v as T]
      }
    }
  }

  /** Opens the database and checks that this build understands its layout. */
  async open (): Promise<void> {
    try {
      await this.db.open()
    } catch (err) {
      const cause = (err as { cause?: Error }).cause
      if (cause?.message?.includes('LOCK') === true) {
        throw new StoreError(`the data directory is in use by another grove process (${cause.message})`)
      }
      throw new StoreError(`cannot open the database: ${cause?.message ?? (err as Error).message}`)
    }
    await this.datastore.open()
    const version = await this.store.get<number>('meta/schema')
    if (version === undefined) {
      await this.store.put('meta/schema', SCHEMA_VERSION)
    } else if (version > SCHEMA_VERSION) {
      await this.db.close()
      throw new StoreError(`the data directory was written by a newer grove (schema ${version}, this build knows ${SCHEMA_VERSION})`)
    }
    log('opened, schema %d', SCHEMA_VERSION)
  }

  async close (): Promise<void> {
    await this.datastore.flush()
    await this.db.close()
  }
}
