// The merge rule of the replicated state, and the digest and diff that sync uses to find what two peers disagree on.
// Pure: every peer runs the same comparisons on the same inputs, so all peers that have seen the same entries hold
// the same map, whatever order the entries arrived in.
import { createHash } from 'node:crypto'
import { compareHlc, type Hlc } from './hlc.js'

export interface Entry {
  key: string
  /** null is a tombstone: the key was deleted at `version`. */
  value: unknown | null
  version: Hlc
  /** The region leader's election term, on keys it fences (placements). */
  term?: number
}

/** What sync compares: the version of an entry without its value. */
export type Version = Pick<Entry, 'version' | 'term'>

/**
 * Orders two versions of one key. Positive when `a` wins.
 *
 * The order is lexicographic on (term, HLC), where an entry without a term ranks below every entry with one:
 *  - both fenced: the higher term wins whatever the clocks say (a deposed leader with a fast clock cannot overwrite
 *    its successor's placements); equal terms fall back to the HLC;
 *  - neither fenced: the higher HLC wins, and the peer ID inside it breaks ties;
 *  - only one fenced: the fenced one wins. Letting the HLC decide here instead would not be an order at all
 *    (fenced t2@1 > fenced t1@5 > unfenced @3 > fenced t2@1), and peers that saw the three in different orders
 *    would keep different winners forever. Keys are meant to be either always fenced or never, so this case only
 *    arises from a misuse, and then the fenced writer, the region leader, is the one to believe.
 */
export function compareVersions (a: Version, b: Version): number {
  const ta = a.term ?? -1
  const tb = b.term ?? -1
  if (ta !== tb) return ta < tb ? -1 : 1
  return compareHlc(a.version, b.version)
}

/**
 * Whether `incoming` replaces `local`. Versions decide; only two different values under the very same version
 * (which a correct peer never issues, but a peer that lost its clock state and whose wall clock went back could)
 * are ordered by their JSON text, so that even then every peer keeps the same one. Equal entries do not win:
 * merging is idempotent.
 */
export function wins (incoming: Entry, local: Entry | undefined): boolean {
  if (local === undefined) return true
  const c = compareVersions(incoming, local)
  if (c !== 0) return c > 0
  return valueText(incoming.value) > valueText(local.value)
}

function valueText (value: unknown): string {
  return value === null ? '' : JSON.stringify(value) ?? ''
}

/** Merges `incoming` into `map` in place. Returns the entries that took effect, in input order. */
export function mergeInto (map: Map<string, Entry>, incoming: Iterable<Entry>): Entry[] {
  const applied: Entry[] = []
  for (const e of incoming) {
    if (!wins(e, map.get(e.key))) continue
    map.set(e.key, e)
    applied.push(e)
  }
  return applied
}

/** The line of one entry in the digest: "key@wall.counter.peer.term" ("-" for no term). */
export function digestLine (key: string, v: Version): string {
  return `${key}@${v.version.wall}.${v.version.counter}.${v.version.peer}.${v.term ?? '-'}`
}

/**
 * A root hash over every key's version: equal digests mean (up to sha256 collisions and to equal versions with
 * different values, see `wins`) equal maps, and sync can stop after one round trip. Tombstones count: a delete is
 * a change like any other.
 */
export function digestOf (entries: Iterable<[string, Version]> | Iterable<Entry>): string {
  const lines: string[] = []
  for (const item of entries) {
    if (Array.isArray(item)) lines.push(digestLine(item[0], item[1]))
    else lines.push(digestLine((item as Entry).key, item as Entry))
  }
  lines.sort()
  const hash = createHash('sha256')
  for (const line of lines) hash.update(line).update('\n')
  return hash.digest('hex')
}

/** Keys that `remote` holds newer than `local`, or that `local` lacks, in key order. */
export function diff (local: ReadonlyMap<string, Version>, remote: Iterable<[string, Version]>): string[] {
  const keys: string[] = []
  for (const [key, v] of remote) {
    const mine = local.get(key)
    if (mine === undefined || compareVersions(v, mine) > 0) keys.push(key)
  }
  return keys.sort()
}

/**
 * Whether an entry has been a tombstone for longer than `ttlMs`, judged by the wall time in its version, so that
 * every peer forgets it at about the same moment whatever its clock says about when the delete arrived.
 */
export function tombstoneExpired (e: Entry, wall: number, ttlMs: number): boolean {
  return e.value === null && wall - e.version.wall > ttlMs
}
