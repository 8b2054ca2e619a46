// How the CLI finds and calls a daemon's API: from --data-dir (the daemon writes daemon.json there and the token
// lives beside it), or from --api URL plus --token / GROVE_TOKEN.
import { readFile, writeFile, rm, rename } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { readToken } from '../identity.js'
import { CliError } from './output.js'

export const DAEMON_FILE = 'daemon.json'

export interface DaemonInfo {
  pid: number
  api: string
  peerId: string
  region: string
  name: string
}

export async function writeDaemonInfo (dataDir: string, info: DaemonInfo): Promise<void> {
  const path = join(dataDir, DAEMON_FILE)
  await writeFile(`${path}.tmp`, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 })
  await rename(`${path}.tmp`, path)
}

export async function removeDaemonInfo (dataDir: string): Promise<void> {
  await rm(join(dataDir, DAEMON_FILE), { force: true })
}

export async function readDaemonInfo (dataDir: string): Promise<DaemonInfo | undefined> {
  try {
    return JSON.parse(await readFile(join(dataDir, DAEMON_FILE), 'utf8')) as DaemonInfo
  } catch {
    return undefined
  }
}

export interface ApiTarget {
  url: string
  token: string | undefined
  /** What to tell the user when nothing answers there. */
  hint: string
}

export async function resolveTarget (opts: { dataDir?: string, api?: string, token?: string }, env: NodeJS.ProcessEnv): Promise<ApiTarget> {
  const token = opts.token ?? env.GROVE_TOKEN
  if (opts.api !== undefined) {
    let url: URL
    try {
      url = new URL(/^https?:\/\//.test(opts.api) ? opts.api : `http://${opts.api}`)
    } catch {
      throw new CliError(`--api: "${opts.api}" is not a URL (for example http://127.0.0.1:4180)`, 2)
    }
    return { url: url.toString().replace(/\/$/, ''), token, hint: `no grove daemon answers at ${url.host}` }
  }
  const dataDir = opts.dataDir ?? env.GROVE_DATA_DIR
  if (dataDir === undefined) throw new CliError('--data-dir: required to find the daemon (or give --api URL and --token T)', 2)
  const dir = resolve(dataDir)
  const info = await readDaemonInfo(dir)
  const hint = `the grove daemon for ${dir} is not running (start it with: grove daemon --data-dir ${dataDir})`
  if (info === undefined) throw new CliError(hint)
  return { url: info.api, token: token ?? await readToken(dir), hint }
}

export async function apiCall<T> (target: ApiTarget, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response
  try {
    res = await fetch(`${target.url}${path}`, {
      method,
      headers: {
        ...(target.token === undefined ? {} : { authorization: `Bearer ${target.token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' })
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000)
    })
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause
    if (cause?.code === 'ECONNREFUSED' || cause?.code === 'ECONNRESET') throw new CliError(target.hint)
    throw new CliError(`cannot reach the daemon at ${target.url}: ${(err as Error).message}`)
  }
  const text = await res.text()
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new CliError(`the daemon at ${target.url} answered ${res.status} with a body that is not JSON`)
  }
  if (!res.ok) {
    const e = (json as { error?: { message?: string, code?: string } }).error
    throw new CliError(`${e?.message ?? `HTTP ${res.status}`}${e?.code === undefined ? '' : ` (${e.code})`}`)
  }
  return json as T
}
