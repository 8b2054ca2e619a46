// The files in a data directory that identify a peer: the API token, and the incarnation counter.
import { randomBytes } from 'node:crypto'
import { readFile, writeFile, chmod } from 'node:fs/promises'
import { join } from 'node:path'
import type { Store } from './store.js'

export const TOKEN_FILE = 'api-token'

/** Reads the API token, creating it (mode 0600) on first start. */
export async function ensureToken (dataDir: string): Promise<string> {
  const path = join(dataDir, TOKEN_FILE)
  try {
    const token = (await readFile(path, 'utf8')).trim()
    if (token.length >= 32) return token
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const token = randomBytes(32).toString('base64url')
  await writeFile(path, token + '\n', { mode: 0o600 })
  await chmod(path, 0o600)
  return token
}

export async function readToken (dataDir: string): Promise<string | undefined> {
  try {
    return (await readFile(join(dataDir, TOKEN_FILE), 'utf8')).trim()
  } catch {
    return undefined
  }
}

/**
 * Bumps and returns the incarnation: every start is a new life of the peer, and its heartbeats override those of
 * its previous life everywhere.
 */
export async function nextIncarnation (store: Store): Promise<number> {
  const previous = await store.get<number>('meta/incarnation') ?? 0
  const next = previous + 1
  await store.put('meta/incarnation', next)
  return next
}
