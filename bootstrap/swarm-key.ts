// The mesh's swarm key: a 32-byte pre-shared key in @libp2p/pnet's file format, stored as <data-dir>/swarm.key with
// mode 0600. Every peer of a mesh protects its connections with it; a peer without it cannot even finish the
// handshake.
import { chmod, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKey } from '@libp2p/pnet'
import { toString, fromString } from 'uint8arrays'

export const SWARM_KEY_FILE = 'swarm.key'
const HEADER = '/key/swarm/psk/1.0.0/\n/base16/\n'

export class SwarmKeyError extends Error {
  static readonly NAME = 'SwarmKeyError'
  override name = SwarmKeyError.NAME
}

/** A fresh key in pnet's file format. */
export function createSwarmKey (): Uint8Array {
  const bytes = new Uint8Array(HEADER.length + 64)
  generateKey(bytes)
  return bytes
}

/** The key's 64 hex digits, which is how tickets carry it. */
export function swarmKeyHex (key: Uint8Array): string {
  const lines = toString(key).split(/\r?\n/)
  const hex = lines[2]?.trim() ?? ''
  if (lines[0] !== '/key/swarm/psk/1.0.0/' || lines[1] !== '/base16/' || !/^[0-9a-f]{64}$/i.test(hex)) {
    throw new SwarmKeyError('not a swarm key in /key/swarm/psk/1.0.0/ format with 64 hex digits')
  }
  return hex.toLowerCase()
}

export function swarmKeyFromHex (hex: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new SwarmKeyError('a swarm key is 64 hex digits')
  return fromString(HEADER + hex.toLowerCase())
}

export async function loadSwarmKey (dataDir: string): Promise<Uint8Array | undefined> {
  const path = join(dataDir, SWARM_KEY_FILE)
  let key: Uint8Array
  try {
    key = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new SwarmKeyError(`cannot read ${path}: ${(err as Error).message}`)
  }
  try {
    swarmKeyHex(key)
  } catch (err) {
    throw new SwarmKeyError(`${path}: ${(err as Error).message}`)
  }
  return key
}

/** Saves the key with mode 0600; refuses to replace a different key (that would move the peer to another mesh). */
export async function saveSwarmKey (dataDir: string, key: Uint8Array): Promise<void> {
  const existing = await loadSwarmKey(dataDir)
  if (existing !== undefined) {
    if (swarmKeyHex(existing) === swarmKeyHex(key)) return
    throw new SwarmKeyError(`${join(dataDir, SWARM_KEY_FILE)} holds the key of another mesh; use a new --data-dir to join this one`)
  }
  const path = join(dataDir, SWARM_KEY_FILE)
  await writeFile(path, key, { mode: 0o600 })
  await chmod(path, 0o600)
}
