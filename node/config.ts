// Daemon options come from four places, in this order of precedence: flags, GROVE_* environment variables,
// <data-dir>/config.json, then the profile's defaults. Every value is validated where it is read, and a bad one
// becomes a ConfigError that names the option as the user wrote it (--api, GROVE_API, config.json: api).
//
// Flags and variables are always strings. config.json may hold any JSON, so its types are checked when it is read
// (readConfigFile), before any value is used; the values themselves are checked with the flags' rules afterwards.
import { hostname } from 'node:os'
import { readFile, writeFile, mkdir, rename } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { z } from 'zod'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { REGION_NAME, type Location } from './wire/schemas.js'
import { describeIssue } from './wire/codec.js'

export const PROFILES = ['local', 'lan', 'wan'] as const
export type ProfileName = typeof PROFILES[number]

/** Timers and thresholds, all in milliseconds. */
export interface Timings {
  /** A heartbeat (beat) on the region topic this often. */
  statusInterval: number
  /** Silence after which a peer is suspect and probed. */
  suspectAfter: number
  /** Suspicion lasts between these two, shorter with more helpers confirming. */
  suspicionMin: number
  suspicionMax: number
  /** One probe to a random region peer this often, for Vivaldi and liveness. */
  probeInterval: number
  probeTimeout: number
  /** Helpers asked to probe a suspect indirectly. */
  indirectProbes: number
  /** Randomised wait before standing for election once the leader is gone. */
  electionTimeoutMin: number
  electionTimeoutMax: number
  /** Anti-entropy pull of the membership view from a neighbour. */
  syncInterval: number
  /** The leader publishes its region's summary this often (and on change). */
  summaryInterval: number
  /** A region summary older than this is stale. */
  summaryStaleAfter: number
  /** The leader rewrites its region's DHT record this often. */
  directoryRefresh: number
  /** Dead peers are forgotten after this. */
  reapDeadAfter: number
  /** Host resources are measured this often. */
  resourceInterval: number
  gossipHeartbeat: number
  dialTimeout: number
}

export const PROFILE_TIMINGS: Record<ProfileName, Timings> = {
  // Tests and the testnet on one machine: fast detection, loopback RTTs.
  local: {
    statusInterval: 250,
    suspectAfter: 900,
    suspicionMin: 250,
    suspicionMax: 900,
    probeInterval: 1000,
    probeTimeout: 300,
    indirectProbes: 2,
    electionTimeoutMin: 100,
    electionTimeoutMax: 350,
    syncInterval: 5000,
    summaryInterval: 1000,
    summaryStaleAfter: 5000,
    directoryRefresh: 10_000,
    reapDeadAfter: 120_000,
    resourceInterval: 2000,
    gossipHeartbeat: 500,
    dialTimeout: 2000
  },
  // The default: machines on one LAN. The heartbeat is slow (its traffic grows with the square of the region's
  // size, and the budget is 2 KB/s per peer): failures are found by probes (a lost connection is probed at once, and
  // every probeInterval each peer probes a random member, SWIM-style), not by heartbeat silence, which only backs
  // them up after suspectAfter.
  lan: {
    statusInterval: 12_000,
    suspectAfter: 36_000,
    suspicionMin: 1000,
    suspicionMax: 6000,
    probeInterval: 7000,
    probeTimeout: 500,
    indirectProbes: 3,
    electionTimeoutMin: 300,
    electionTimeoutMax: 900,
    syncInterval: 120_000,
    summaryInterval: 60_000,
    summaryStaleAfter: 180_000,
    directoryRefresh: 60_000,
    reapDeadAfter: 600_000,
    resourceInterval: 5000,
    gossipHeartbeat: 1000,
    dialTimeout: 5000
  },
  // Peers across the internet: higher RTTs and jitter, calmer timers.
  wan: {
    statusInterval: 15_000,
    suspectAfter: 45_000,
    suspicionMin: 3000,
    suspicionMax: 20_000,
    probeInterval: 10_000,
    probeTimeout: 1500,
    indirectProbes: 3,
    electionTimeoutMin: 1000,
    electionTimeoutMax: 3000,
    syncInterval: 300_000,
    summaryInterval: 120_000,
    summaryStaleAfter: 360_000,
    directoryRefresh: 300_000,
    reapDeadAfter: 3_600_000,
    resourceInterval: 10_000,
    gossipHeartbeat: 1500,
    dialTimeout: 10_000
  }
}

export interface DaemonConfig {
  dataDir: string
  region: string
  listen: string[]
  api: { host: string, port: number }
  profile: ProfileName
  name: string
  labels: Record<string, string>
  location: Location | null
  /** false with --no-lead: this peer never stands for election. */
  lead: boolean
  join: string[]
  metricsOpen: boolean
  /** Runtimes this peer offers; each is also advertised only while it works (docker: the engine answers). */
  runtimes: Array<'process' | 'docker'>
  /** Node-level placement policy when this peer leads. */
  policy: 'ROM' | 'LDP'
  /** Named areas for geo and latency constraints. */
  areas: Record<string, { name: string, center: { lat: number, lon: number }, radiusKm: number }>
  /** The user of the Oakestra-compatible login. */
  oakestra: { user: string, password: string }
  /**
   * The service proxy: `privileged` puts service IPs on the loopback interface (root; one peer per network
   * namespace), `unprivileged` maps 10.30.a.b to <overlayLoopback>.a.b, `off` runs none.
   */
  overlay: 'off' | 'unprivileged' | 'privileged'
  overlayLoopback: string
  timings: Timings
}

export class ConfigError extends Error {
  static readonly NAME = 'ConfigError'
  override name = ConfigError.NAME
}

/** The raw sources, each as the user wrote it. Flags and env hold strings; the file may hold JSON types. */
export interface RawOptions {
  dataDir?: string
  region?: string
  listen?: string[] | string
  api?: string
  profile?: string
  name?: string
  labels?: string | Record<string, string>
  location?: string | { lat: number, lon: number }
  lead?: boolean | string
  join?: string[] | string
  metricsOpen?: boolean | string
  runtimes?: string[] | string
  policy?: string
  areas?: string | Record<string, { lat: number, lon: number, radiusKm: number }>
  oakestraUser?: string
  oakestraPassword?: string
  overlay?: string
  overlayLoopback?: string
}

type Source = 'flag' | 'env' | 'file'
const FLAG_NAMES: Record<keyof RawOptions, string> = {
  dataDir: 'data-dir',
  region: 'region',
  listen: 'listen',
  api: 'api',
  profile: 'profile',
  name: 'name',
  labels: 'labels',
  location: 'location',
  lead: 'no-lead',
  join: 'join',
  metricsOpen: 'metrics-open',
  runtimes: 'runtimes',
  policy: 'policy',
  areas: 'areas',
  oakestraUser: 'oakestra-user',
  oakestraPassword: 'oakestra-password',
  overlay: 'overlay',
  overlayLoopback: 'overlay-loopback'
}

export function optionLabel (key: keyof RawOptions, source: Source): string {
  const flag = FLAG_NAMES[key]
  if (source === 'flag') return `--${flag}`
  if (source === 'env') return `GROVE_${flag.toUpperCase().replaceAll('-', '_')}`
  return `config.json: ${key}`
}

/** Reads GROVE_* variables into raw options. */
export function optionsFromEnv (env: NodeJS.ProcessEnv): RawOptions {
  const out: RawOptions = {}
  for (const key of Object.keys(FLAG_NAMES) as Array<keyof RawOptions>) {
    const value = env[optionLabel(key, 'env')]
    if (value !== undefined && value !== '') (out as Record<string, unknown>)[key] = value
  }
  return out
}

/** How a config.json value of the wrong type is shown: short, and never the string "null" for null. */
function got (input: unknown): string {
  if (input === undefined) return 'nothing'
  if (Array.isArray(input)) return 'an array'
  if (typeof input === 'object' && input !== null) return 'an object'
  return typeof input === 'string' ? JSON.stringify(input) : String(input)
}

function expected (what: string) {
  return { error: (issue: { input: unknown }) => `expected ${what}, got ${got(issue.input)}` }
}

/**
 * A value of one of two JSON shapes. zod reports a failed union as a bare "Invalid input"; this names the shapes, or,
 * when the value has the right shape but a bad part (["a", 5], {"zone": 5}), names that part instead.
 */
function either<A extends z.ZodType, B extends z.ZodType> (a: A, b: B, what: string): z.ZodUnion<[A, B]> {
  return z.union([a, b], {
    error: issue => {
      if (issue.code !== 'invalid_union') return undefined
      const inner = issue.errors.find(issues => (issues[0]?.path.length ?? 0) > 0)
      return inner === undefined ? `expected ${what}, got ${got(issue.input)}` : describeIssue(new z.ZodError(inner))
    }
  })
}

const fileString = z.string(expected('a string'))
const fileNumber = z.number(expected('a number'))
const fileStrings = either(fileString, z.array(fileString), 'a string or an array of strings')
const fileBool = either(z.boolean(), z.enum(['true', 'false']), 'true or false')

/** The JSON types config.json may hold for each option. dataDir is not among them: the file lives inside it. */
const fileSchema = z.object({
  region: fileString,
  listen: fileStrings,
  api: fileString,
  profile: fileString,
  name: fileString,
  labels: either(fileString, z.record(z.string(), fileString), 'a string or an object of strings'),
  location: either(fileString, z.strictObject({ lat: fileNumber, lon: fileNumber }), 'a "LAT,LON" string or an object {"lat": number, "lon": number}'),
  lead: fileBool,
  join: fileStrings,
  metricsOpen: fileBool,
  runtimes: fileStrings,
  policy: fileString,
  areas: either(fileString, z.record(z.string(), z.strictObject({ lat: fileNumber, lon: fileNumber, radiusKm: fileNumber })), 'a JSON string or an object {"name": {"lat", "lon", "radiusKm"}}'),
  oakestraUser: fileString,
  oakestraPassword: fileString,
  overlay: fileString,
  overlayLoopback: fileString
} satisfies Record<Exclude<keyof RawOptions, 'dataDir'>, z.ZodType>).partial()

export async function readConfigFile (dataDir: string): Promise<RawOptions> {
  const path = join(dataDir, 'config.json')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}
    throw new ConfigError(`cannot read ${path}: ${(err as Error).message}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`${path} must hold a JSON object`)
  const known = Object.keys(fileSchema.shape)
  for (const key of Object.keys(parsed)) {
    if (key === 'dataDir') throw new ConfigError('config.json: dataDir: cannot be set in the file that lives inside the data directory')
    if (!known.includes(key)) throw new ConfigError(`config.json: ${key}: unknown option (known: ${known.join(', ')})`)
  }
  const checked = fileSchema.safeParse(parsed)
  if (!checked.success) throw new ConfigError(`config.json: ${describeIssue(checked.error)}`)
  // The object as written rather than checked.data, which zod rebuilds in the schema's key order: rememberRegion
  // writes it back, and should not reorder the user's file. Every key is known and every value passed its schema.
  return parsed as RawOptions
}

/**
 * Remembers the region, and the bootstrap peers when there are none yet, in config.json, keeping whatever else the
 * user wrote there: a restart then needs neither --region nor the ticket again.
 */
export async function rememberRegion (dataDir: string, region: string, bootstrapPeers: string[] = []): Promise<void> {
  const current = await readConfigFile(dataDir)
  const next: RawOptions = { ...current, region }
  if (current.join === undefined && bootstrapPeers.length > 0) next.join = bootstrapPeers
  if (JSON.stringify(next) === JSON.stringify(current)) return
  const path = join(dataDir, 'config.json')
  await writeFile(`${path}.tmp`, JSON.stringify(next, null, 2) + '\n')
  await rename(`${path}.tmp`, path)
}

function fail (key: keyof RawOptions, source: Source, message: string): never {
  throw new ConfigError(`${optionLabel(key, source)}: ${message}`)
}

function list (value: string[] | string): string[] {
  const items = Array.isArray(value) ? value : value.split(',')
  return items.map(s => String(s).trim()).filter(s => s !== '')
}

function bool (key: keyof RawOptions, source: Source, value: boolean | string): boolean {
  if (typeof value === 'boolean') return value
  if (/^(1|true|yes|on)$/i.test(value)) return true
  if (/^(0|false|no|off)$/i.test(value)) return false
  return fail(key, source, `expected true or false, got "${value}"`)
}

function isPeerId (value: string | undefined): boolean {
  try {
    peerIdFromString(value ?? '')
    return true
  } catch {
    return false
  }
}

function parseMultiaddr (key: keyof RawOptions, source: Source, value: string, needPeer: boolean): string {
  let ma: Multiaddr
  try {
    ma = multiaddr(value)
  } catch (err) {
    return fail(key, source, `"${value}" is not a valid multiaddr (${(err as Error).message})`)
  }
  const components = ma.getComponents()
  if (needPeer && components.at(-1)?.name !== 'p2p') fail(key, source, `"${value}" must end with /p2p/<peer-id>`)
  // The multiaddr parser takes any text after /p2p/: without this check a typo in an ID would only show up later,
  // as a dial that fails for no clear reason.
  if (components.some(c => c.name === 'p2p' && !isPeerId(c.value))) fail(key, source, `"${value}" has an invalid peer ID after /p2p/`)
  return ma.toString()
}

export function parseHostPort (value: string): { host: string, port: number } | undefined {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(value.trim())
  if (m === null) return undefined
  const port = Number(m[2])
  if (port > 65535) return undefined
  return { host: m[1].replace(/^\[|\]$/g, ''), port }
}

export function parseLabels (value: string | Record<string, unknown>): Record<string, string> | string {
  const out: Record<string, string> = {}
  const entries: Array<[string, unknown]> = typeof value === 'string'
    ? list(value).map(kv => {
      const i = kv.indexOf('=')
      return i <= 0 ? [kv, undefined] : [kv.slice(0, i).trim(), kv.slice(i + 1).trim()]
    })
    : Object.entries(value)
  for (const [k, v] of entries) {
    if (typeof v !== 'string') return `"${k}" must be written key=value`
    if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/.test(k)) return `label key "${k}" must be 1-63 letters, digits, dots, dashes, slashes or underscores`
    if (v.length > 255) return `label "${k}" is longer than 255 characters`
    out[k] = v
  }
  return out
}

export function parseLocation (value: string | { lat?: unknown, lon?: unknown }): Location | string {
  let lat: number, lon: number
  if (typeof value === 'string') {
    const parts = value.split(',').map(s => s.trim())
    if (parts.length !== 2 || parts.some(p => p === '')) return `expected LAT,LON, got "${value}"`
    lat = Number(parts[0])
    lon = Number(parts[1])
  } else {
    lat = Number(value.lat)
    lon = Number(value.lon)
  }
  if (!Number.isFinite(lat) || lat < -90 || lat > 90) return 'latitude must be a number within -90..90'
  if (!Number.isFinite(lon) || lon < -180 || lon > 180) return 'longitude must be a number within -180..180'
  return { lat, lon }
}

/** A hostname turned into a valid peer name. */
export function defaultName (): string {
  const cleaned = hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64)
  return cleaned === '' ? 'grove' : cleaned
}

/**
 * Merges the sources and validates the result. `dataDir` must already be known (it locates config.json), and it is
 * the only option that may not come from config.json.
 */
export function resolveConfig (sources: { flags: RawOptions, env: RawOptions, file: RawOptions, ticket?: RawOptions }): DaemonConfig {
  const pick = <K extends keyof RawOptions>(key: K): [NonNullable<RawOptions[K]>, Source] | undefined => {
    for (const source of ['flag', 'env', 'file', 'ticket'] as const) {
      const bag = source === 'flag' ? sources.flags : source === 'env' ? sources.env : source === 'file' ? sources.file : sources.ticket ?? {}
      const v = bag[key]
      // A ticket's values are reported as the --ticket flag's.
      if (v !== undefined) return [v as NonNullable<RawOptions[K]>, source === 'ticket' ? 'flag' : source]
    }
    return undefined
  }

  const dataDirOpt = pick('dataDir')
  if (dataDirOpt === undefined || dataDirOpt[0].trim() === '') {
    throw new ConfigError('--data-dir: required (the directory that holds this peer\'s identity, database and token)')
  }
  const dataDir = resolve(dataDirOpt[0])

  const profileOpt = pick('profile')
  const profile = (profileOpt?.[0] ?? 'lan') as ProfileName
  if (!PROFILES.includes(profile)) fail('profile', profileOpt![1], `must be one of ${PROFILES.join(', ')}, got "${profileOpt![0]}"`)

  const regionOpt = pick('region')
  if (regionOpt === undefined) {
    throw new ConfigError('--region: required on the first start of a data directory (for example --region home)')
  }
  const region = regionOpt[0]
  if (!REGION_NAME.test(region)) fail('region', regionOpt[1], `"${region}" must be 1-63 lowercase letters, digits or dashes, not starting or ending with a dash`)

  const listenOpt = pick('listen')
  const listen = listenOpt === undefined
    ? ['/ip4/0.0.0.0/tcp/4100']
    : list(listenOpt[0]).map(v => parseMultiaddr('listen', listenOpt[1], v, false))
  if (listen.length === 0) fail('listen', listenOpt![1], 'needs at least one multiaddr')

  const apiOpt = pick('api')
  const api = parseHostPort(apiOpt?.[0] ?? '127.0.0.1:4180')
  if (api === undefined) fail('api', apiOpt![1], `expected HOST:PORT, got "${apiOpt![0]}"`)

  const nameOpt = pick('name')
  const name = nameOpt === undefined ? defaultName() : nameOpt[0]
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) fail('name', nameOpt![1], `"${name}" must be 1-64 letters, digits, dots, dashes or underscores`)

  const labelsOpt = pick('labels')
  let labels: Record<string, string> = {}
  if (labelsOpt !== undefined) {
    const parsed = parseLabels(labelsOpt[0])
    if (typeof parsed === 'string') fail('labels', labelsOpt[1], parsed)
    labels = parsed
  }

  const locationOpt = pick('location')
  let location: Location | null = null
  if (locationOpt !== undefined) {
    const parsed = parseLocation(locationOpt[0])
    if (typeof parsed === 'string') fail('location', locationOpt[1], parsed)
    location = parsed
  }

  const leadOpt = pick('lead')
  // The flag and the variable say "no lead" (--no-lead, GROVE_NO_LEAD=1); the file says "lead": false.
  const lead = leadOpt === undefined ? true : leadOpt[1] === 'env' ? !bool('lead', 'env', leadOpt[0]) : bool('lead', leadOpt[1], leadOpt[0])

  const joinOpt = pick('join')
  const join = joinOpt === undefined ? [] : list(joinOpt[0]).map(v => parseMultiaddr('join', joinOpt[1], v, true))

  const metricsOpt = pick('metricsOpen')
  const metricsOpen = metricsOpt === undefined ? false : bool('metricsOpen', metricsOpt[1], metricsOpt[0])

  const runtimesOpt = pick('runtimes')
  let runtimes: Array<'process' | 'docker'> = ['process', 'docker']
  if (runtimesOpt !== undefined) {
    const items = list(runtimesOpt[0])
    if (items.length === 1 && items[0] === 'none') {
      runtimes = []
    } else if (!(items.length === 1 && items[0] === 'auto')) {
      for (const r of items) if (r !== 'process' && r !== 'docker') fail('runtimes', runtimesOpt[1], `"${r}" is not a runtime (process, docker, auto for both, or none)`)
      runtimes = items as Array<'process' | 'docker'>
    }
  }

  const policyOpt = pick('policy')
  const policy = (policyOpt?.[0] ?? 'ROM').toUpperCase()
  if (policy !== 'ROM' && policy !== 'LDP') fail('policy', policyOpt![1], `must be ROM or LDP, got "${policyOpt![0]}"`)

  const areasOpt = pick('areas')
  const areas: DaemonConfig['areas'] = {}
  if (areasOpt !== undefined) {
    let raw: unknown = areasOpt[0]
    if (typeof raw === 'string') {
      try { raw = JSON.parse(raw) } catch { fail('areas', areasOpt[1], 'must be JSON: {"name": {"lat": 48.1, "lon": 11.6, "radiusKm": 30}}') }
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('areas', areasOpt[1], 'must be a JSON object of areas')
    for (const [name, a] of Object.entries(raw as Record<string, { lat?: unknown, lon?: unknown, radiusKm?: unknown }>)) {
      const loc = parseLocation({ lat: a?.lat as number, lon: a?.lon as number })
      if (typeof loc === 'string') fail('areas', areasOpt[1], `${name}: ${loc}`)
      const radiusKm = Number(a?.radiusKm)
      if (!Number.isFinite(radiusKm) || radiusKm < 0) fail('areas', areasOpt[1], `${name}: radiusKm must be a non-negative number`)
      areas[name] = { name, center: loc, radiusKm }
    }
  }

  const oakestra = { user: pick('oakestraUser')?.[0] ?? 'Admin', password: pick('oakestraPassword')?.[0] ?? 'Admin' }

  const overlayOpt = pick('overlay')
  const overlay = (overlayOpt?.[0] ?? 'unprivileged') as DaemonConfig['overlay']
  if (!['off', 'unprivileged', 'privileged'].includes(overlay)) fail('overlay', overlayOpt![1], `must be off, unprivileged or privileged, got "${overlay}"`)
  const loopOpt = pick('overlayLoopback')
  const overlayLoopback = loopOpt?.[0] ?? '127.30'
  const m = /^127\.(\d{1,3})$/.exec(overlayLoopback)
  if (m === null || Number(m[1]) < 1 || Number(m[1]) > 254) fail('overlayLoopback', loopOpt![1], `must be 127.N with N from 1 to 254 (service IP 10.30.a.b maps to 127.N.a.b), got "${overlayLoopback}"`)

  return { dataDir, region, listen, api, profile, name, labels, location, lead, join, metricsOpen, runtimes, policy, areas, oakestra, overlay, overlayLoopback, timings: PROFILE_TIMINGS[profile] }
}

/** Loads everything for `grove daemon`: the file is read from the data dir the flags or env name. */
export async function loadConfig (flags: RawOptions, env: NodeJS.ProcessEnv, ticket?: RawOptions): Promise<DaemonConfig> {
  const envOpts = optionsFromEnv(env)
  const dataDir = flags.dataDir ?? envOpts.dataDir
  if (dataDir === undefined || dataDir.trim() === '') {
    throw new ConfigError('--data-dir: required (the directory that holds this peer\'s identity, database and token)')
  }
  await mkdir(resolve(dataDir), { recursive: true, mode: 0o700 })
  const file = await readConfigFile(resolve(dataDir))
  return resolveConfig({ flags, env: envOpts, file, ticket })
}
