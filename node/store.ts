// One LevelDB per data directory. libp2p keeps its peer store and keys in it through datastore-level; Grove keeps
// its own records in the "grove" sublevel, namespaced by key prefix (meta/, election/, ...). Both sit behind narrow
// interfaces so unit tests can use MemoryStore.
import { Level } from 'level'
import { LevelDatastore } from 'datastore-level'
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

/** The data directory's database: the libp2p datastore and Grove's store over one LevelDB. */
export class DataStore {
  readonly datastore: LevelDatastore
  readonly store: Store
  private readonly db: Level<string, Uint8Array>

  constructor (path: string) {
    this.db = new Level<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' })
    this.datastore = new LevelDatastore(this.db)
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
    await this.db.close()
  }
}
