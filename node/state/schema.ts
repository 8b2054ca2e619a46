// Wire shapes of the replicated state: the gossip batch on grove/1/state and the four exchanges of
// /grove/state/1.0.0. Nothing from a peer is merged before it passes these. The shapes are append-only.
import { z } from 'zod'
import { peerIdString } from '../wire/schemas.js'
import type { Entry, Version } from './merge.js'

/** Longest key, in UTF-16 code units. */
export const MAX_KEY_CHARS = 256
/** Largest value, as UTF-8 JSON. */
export const MAX_VALUE_BYTES = 64 * 1024
/** Deepest nesting of a value: JSON.parse itself would go much deeper, and every walk over the value recurses. */
export const MAX_VALUE_DEPTH = 64
/** Largest gossip batch accepted (gossipsub itself refuses frames above 256 KiB: node/libp2p.ts). */
export const MAX_GOSSIP_BYTES = 256 * 1024
/** Largest sync message, request or response. */
export const MAX_SYNC_BYTES = 1024 * 1024
/** Most entries in one gossip batch or sync message, and most keys in one pull request. */
export const MAX_ENTRIES_PER_MESSAGE = 4096

const CONTROL = /[\u0000-\u001f\u007f]/ // eslint-disable-line no-control-regex

/** Why `key` cannot be a state key, or undefined. */
export function checkKey (key: unknown): string | undefined {
  if (typeof key !== 'string') return 'must be a string'
  if (key.length === 0) return 'must not be empty'
  if (key.length > MAX_KEY_CHARS) return `must be at most ${MAX_KEY_CHARS} characters (got ${key.length})`
  if (CONTROL.test(key)) return 'must not contain control characters'
  return undefined
}

/**
 * Why `value` cannot be replicated, or undefined: it must be plain JSON (objects, arrays, strings, booleans, null and
 * finite numbers) at most MAX_VALUE_DEPTH deep and at most MAX_VALUE_BYTES long. JSON.parse turns 1e999 into
 * Infinity, so a value that came off the wire is checked as carefully as a local one.
 */
export function checkValue (value: unknown): string | undefined {
  const problem = walk(value, 'value', 0)
  if (problem !== undefined) return problem
  const bytes = Buffer.byteLength(JSON.stringify(value))
  if (bytes > MAX_VALUE_BYTES) return `value is ${bytes} bytes of JSON, more than the limit of ${MAX_VALUE_BYTES}`
  return undefined
}

function walk (v: unknown, path: string, depth: number): string | undefined {
  if (depth > MAX_VALUE_DEPTH) return `${path}: nested more than ${MAX_VALUE_DEPTH} levels deep`
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return undefined
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : `${path}: must be a finite number (got ${v})`
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      if (v[i] === undefined) return `${path}[${i}]: must not be undefined`
      const p = walk(v[i], `${path}[${i}]`, depth + 1)
      if (p !== undefined) return p
    }
    return undefined
  }
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v) as unknown
    if (proto !== Object.prototype && proto !== null) return `${path}: must be a plain object, array or primitive (got ${(v as object).constructor?.name ?? 'an object'})`
    for (const [k, child] of Object.entries(v)) {
      // JSON drops undefined properties, as it would for any optional field.
      if (child === undefined) continue
      const p = walk(child, `${path}.${k}`, depth + 1)
      if (p !== undefined) return p
    }
    return undefined
  }
  return `${path}: must be JSON (got ${typeof v})`
}

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

export const stateKey = z.string().superRefine((k, ctx) => {
  const problem = checkKey(k)
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
})

export const hlcSchema = z.object({ wall: count, counter: count, peer: peerIdString })

const valueSchema = z.unknown().superRefine((v, ctx) => {
  if (v === undefined) {
    ctx.addIssue({ code: 'custom', message: 'is required (null for a tombstone)' })
    return
  }
  const problem = checkValue(v)
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
})

export const entrySchema = z.object({
  key: stateKey,
  value: valueSchema,
  version: hlcSchema,
  term: count.optional()
}) as z.ZodType<Entry>

/** One gossip message: the local writes of a few milliseconds. */
export const batchSchema = z.object({
  v: z.literal(1),
  entries: z.array(entrySchema).min(1).max(MAX_ENTRIES_PER_MESSAGE)
})
export type Batch = z.infer<typeof batchSchema>

/** A key's version without its value: [key, version] or [key, version, term]. */
export const versionTupleSchema = z.union([
  z.tuple([stateKey, hlcSchema]),
  z.tuple([stateKey, hlcSchema, count])
])
export type VersionTuple = [string, Version['version']] | [string, Version['version'], number]

export function toTuple (key: string, v: Version): VersionTuple {
  return v.term === undefined ? [key, v.version] : [key, v.version, v.term]
}

export function fromTuple (t: VersionTuple): [string, Version] {
  return t.length === 3 ? [t[0], { version: t[1], term: t[2] }] : [t[0], { version: t[1] }]
}

// ----- /grove/state/1.0.0 ----------------------------------------------------------------------------------------
//
//   requester                                   responder
//   { v, t: 'digest', digest }           ──▶
//                                        ◀──    { v, same: true }                       (done)
//                                        ◀──    { v, same: false, versions, next? }
//   { v, t: 'versions', after: next }    ──▶    (only while `next` is set: the list is paged at 1 MiB)
//                                        ◀──    { v, versions, next? }
//   { v, t: 'pull', keys }               ──▶    (keys the responder holds newer, or we lack)
//                                        ◀──    { v, entries, done }                    (`done` keys consumed; repeat with the rest)
//   { v, t: 'push', entries }            ──▶    (entries we hold newer, or it lacks)
//                                        ◀──    { v, accepted }
//
// Every exchange is its own stream: one request, one response, each at most MAX_SYNC_BYTES.

export const syncRequestSchema = z.discriminatedUnion('t', [
  z.object({ v: z.literal(1), t: z.literal('digest'), digest: z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 hex digest') }),
  z.object({ v: z.literal(1), t: z.literal('versions'), after: stateKey }),
  z.object({ v: z.literal(1), t: z.literal('pull'), keys: z.array(stateKey).min(1).max(MAX_ENTRIES_PER_MESSAGE) }),
  z.object({ v: z.literal(1), t: z.literal('push'), entries: z.array(entrySchema).min(1).max(MAX_ENTRIES_PER_MESSAGE) })
])
export type SyncRequest = z.infer<typeof syncRequestSchema>

const errorSchema = z.object({ error: z.string().max(4096) })
const versionPage = {
  versions: z.array(versionTupleSchema).max(1024 * 1024),
  /** Set when the list goes on: ask again with `after: next`. */
  next: stateKey.optional()
}

export const digestResponseSchema = z.union([
  z.object({ v: z.literal(1), same: z.literal(true) }),
  z.object({ v: z.literal(1), same: z.literal(false), ...versionPage }),
  errorSchema
])
export const versionsResponseSchema = z.union([z.object({ v: z.literal(1), ...versionPage }), errorSchema])
export const pullResponseSchema = z.union([
  z.object({ v: z.literal(1), entries: z.array(entrySchema).max(MAX_ENTRIES_PER_MESSAGE), done: count }),
  errorSchema
])
export const pushResponseSchema = z.union([z.object({ v: z.literal(1), accepted: count }), errorSchema])

export type VersionPage = { versions: VersionTuple[], next?: string }
