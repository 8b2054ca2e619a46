import assert from 'node:assert/strict'
import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  ConfigError, PROFILES, PROFILE_TIMINGS, defaultName, loadConfig, optionsFromEnv, parseHostPort, readConfigFile,
  rememberRegion, resolveConfig, type DaemonConfig, type RawOptions
} from '../../node/config.js'

const PEER_A = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
const PEER_B = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
const PEER_C = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
/** An RSA-style ID (a hash of the key, not the key itself): still a valid peer ID. */
const RSA_PEER = 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'

/** Strings the multiaddr parser takes after /p2p/, but that are not peer IDs. */
const NOT_PEER_IDS: Array<{ why: string, id: string }> = [
  { why: 'not base58', id: 'not-a-peer' },
  { why: 'base58 of the wrong length', id: '1'.repeat(46) },
  { why: 'a real ID missing its last character', id: PEER_A.slice(0, -1) },
  { why: 'a real ID with one character too many', id: `${PEER_A}a` },
  { why: 'a CID of something other than a key', id: 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi' }
]

/** What every resolveConfig call needs, unless the option under test is one of these. */
const REQUIRED: RawOptions = { dataDir: '/tmp/grove-config-test', region: 'base' }

function without (options: RawOptions, key: keyof RawOptions): RawOptions {
  const out = { ...options }
  delete out[key]
  return out
}

/** Asserts that `fn` throws a ConfigError whose message starts with `label: ` and matches `pattern`. */
function assertConfigError (fn: () => unknown, label: string, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    assert.equal(err.name, 'ConfigError')
    assert.ok(err.message.startsWith(`${label}: `), `"${err.message}" should start with "${label}: "`)
    assert.match(err.message, pattern)
    return true
  })
}

async function assertRejectsConfigError (promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
    assert.match(err.message, pattern)
    return true
  })
}

describe('config', () => {
  describe('resolveConfig precedence: flag over env over file over defaults', () => {
    // Each row gives a value for every layer that differs from the layer below it, so the winner is unambiguous.
    const rows: Array<{
      key: keyof RawOptions
      flag: RawOptions[keyof RawOptions]
      env: RawOptions[keyof RawOptions]
      file: RawOptions[keyof RawOptions]
      read: (c: DaemonConfig) => unknown
      fromFlag: unknown
      fromEnv: unknown
      fromFile: unknown
      byDefault: unknown
    }> = [
      {
        key: 'region',
        flag: 'from-flag',
        env: 'from-env',
        file: 'from-file',
        read: c => c.region,
        fromFlag: 'from-flag',
        fromEnv: 'from-env',
        fromFile: 'from-file',
        byDefault: undefined // required: tested separately
      },
      {
        key: 'listen',
        flag: ['/ip4/127.0.0.1/tcp/1'],
        env: '/ip4/127.0.0.1/tcp/2',
        file: ['/ip4/127.0.0.1/tcp/3'],
        read: c => c.listen,
        fromFlag: ['/ip4/127.0.0.1/tcp/1'],
        fromEnv: ['/ip4/127.0.0.1/tcp/2'],
        fromFile: ['/ip4/127.0.0.1/tcp/3'],
        byDefault: ['/ip4/0.0.0.0/tcp/4100']
      },
      {
        key: 'api',
        flag: '127.0.0.1:1',
        env: '127.0.0.2:2',
        file: '127.0.0.3:3',
        read: c => c.api,
        fromFlag: { host: '127.0.0.1', port: 1 },
        fromEnv: { host: '127.0.0.2', port: 2 },
        fromFile: { host: '127.0.0.3', port: 3 },
        byDefault: { host: '127.0.0.1', port: 4180 }
      },
      {
        key: 'profile',
        flag: 'local',
        env: 'wan',
        file: 'local',
        read: c => c.profile,
        fromFlag: 'local',
        fromEnv: 'wan',
        fromFile: 'local',
        byDefault: 'lan'
      },
      {
        key: 'name',
        flag: 'flag-name',
        env: 'env-name',
        file: 'file-name',
        read: c => c.name,
        fromFlag: 'flag-name',
        fromEnv: 'env-name',
        fromFile: 'file-name',
        byDefault: defaultName()
      },
      {
        key: 'labels',
        flag: 'zone=flag,tier=1',
        env: 'zone=env',
        file: { zone: 'file' },
        read: c => c.labels,
        fromFlag: { zone: 'flag', tier: '1' },
        fromEnv: { zone: 'env' },
        fromFile: { zone: 'file' },
        byDefault: {}
      },
      {
        key: 'location',
        flag: '48.1,11.5',
        env: '-33.9, 151.2',
        file: { lat: 40, lon: -74 },
        read: c => c.location,
        fromFlag: { lat: 48.1, lon: 11.5 },
        fromEnv: { lat: -33.9, lon: 151.2 },
        fromFile: { lat: 40, lon: -74 },
        byDefault: null
      },
      {
        // --no-lead arrives as lead: false; GROVE_NO_LEAD=0 means "do lead"; the file says "lead": false.
        key: 'lead',
        flag: false,
        env: '0',
        file: false,
        read: c => c.lead,
        fromFlag: false,
        fromEnv: true,
        fromFile: false,
        byDefault: true
      },
      {
        key: 'join',
        flag: [`/ip4/10.0.0.1/tcp/4100/p2p/${PEER_A}`],
        env: `/ip4/10.0.0.2/tcp/4100/p2p/${PEER_B}`,
        file: [`/ip4/10.0.0.3/tcp/4100/p2p/${PEER_C}`],
        read: c => c.join,
        fromFlag: [`/ip4/10.0.0.1/tcp/4100/p2p/${PEER_A}`],
        fromEnv: [`/ip4/10.0.0.2/tcp/4100/p2p/${PEER_B}`],
        fromFile: [`/ip4/10.0.0.3/tcp/4100/p2p/${PEER_C}`],
        byDefault: []
      },
      {
        key: 'metricsOpen',
        flag: true,
        env: 'no',
        file: true,
        read: c => c.metricsOpen,
        fromFlag: true,
        fromEnv: false,
        fromFile: true,
        byDefault: false
      }
    ]

    for (const row of rows) {
      const base = without(REQUIRED, row.key)
      const set = (value: unknown): RawOptions => ({ [row.key]: value })

      it(`${row.key}: the flag beats the environment and the file`, () => {
        const c = resolveConfig({ flags: { ...base, ...set(row.flag) }, env: set(row.env), file: set(row.file) })
        assert.deepEqual(row.read(c), row.fromFlag)
      })

      it(`${row.key}: the environment beats the file`, () => {
        const c = resolveConfig({ flags: base, env: set(row.env), file: set(row.file) })
        assert.deepEqual(row.read(c), row.fromEnv)
      })

      it(`${row.key}: the file beats the default`, () => {
        const c = resolveConfig({ flags: base, env: {}, file: set(row.file) })
        assert.deepEqual(row.read(c), row.fromFile)
      })

      if (row.byDefault !== undefined) {
        it(`${row.key}: the profile default applies when no source sets it`, () => {
          const c = resolveConfig({ flags: base, env: {}, file: {} })
          assert.deepEqual(row.read(c), row.byDefault)
        })
      }
    }

    it('takes each option from its own highest source, independently of the others', () => {
      const c = resolveConfig({
        flags: { dataDir: '/tmp/grove-mixed', name: 'flagged' },
        env: { region: 'env-region', name: 'ignored' },
        file: { region: 'ignored', api: '0.0.0.0:9000', profile: 'wan' }
      })
      assert.equal(c.name, 'flagged')
      assert.equal(c.region, 'env-region')
      assert.deepEqual(c.api, { host: '0.0.0.0', port: 9000 })
      assert.equal(c.profile, 'wan')
    })

    // dataDir locates config.json, so only the flag and the variable can set it (loadConfig refuses it in the file).
    it('dataDir: the flag beats the environment', () => {
      const flags = { region: 'r', dataDir: '/tmp/grove-flag' }
      assert.equal(resolveConfig({ flags, env: { dataDir: '/tmp/grove-env' }, file: {} }).dataDir, '/tmp/grove-flag')
      assert.equal(resolveConfig({ flags: { region: 'r' }, env: { dataDir: '/tmp/grove-env' }, file: {} }).dataDir, '/tmp/grove-env')
    })

    it('resolves dataDir to an absolute path', () => {
      const c = resolveConfig({ flags: { dataDir: 'relative/dir', region: 'r' }, env: {}, file: {} })
      assert.equal(c.dataDir, resolve('relative/dir'))
    })

    it('requires a data dir and a region, naming the flag', () => {
      assertConfigError(() => resolveConfig({ flags: { region: 'r' }, env: {}, file: {} }), '--data-dir', /required/)
      assertConfigError(() => resolveConfig({ flags: { dataDir: '  ', region: 'r' }, env: {}, file: {} }), '--data-dir', /required/)
      assertConfigError(() => resolveConfig({ flags: { dataDir: '/tmp/x' }, env: {}, file: {} }), '--region', /required/)
    })
  })

  describe('optionsFromEnv', () => {
    it('reads every GROVE_* variable under its flag-derived name', () => {
      const env = {
        GROVE_DATA_DIR: '/var/lib/grove',
        GROVE_REGION: 'home',
        GROVE_LISTEN: '/ip4/0.0.0.0/tcp/1',
        GROVE_API: '127.0.0.1:1',
        GROVE_PROFILE: 'wan',
        GROVE_NAME: 'box',
        GROVE_LABELS: 'a=b',
        GROVE_LOCATION: '1,2',
        GROVE_NO_LEAD: '1',
        GROVE_JOIN: `/ip4/10.0.0.1/tcp/1/p2p/${PEER_A}`,
        GROVE_METRICS_OPEN: 'true'
      }
      assert.deepEqual(optionsFromEnv(env), {
        dataDir: '/var/lib/grove',
        region: 'home',
        listen: '/ip4/0.0.0.0/tcp/1',
        api: '127.0.0.1:1',
        profile: 'wan',
        name: 'box',
        labels: 'a=b',
        location: '1,2',
        lead: '1',
        join: `/ip4/10.0.0.1/tcp/1/p2p/${PEER_A}`,
        metricsOpen: 'true'
      })
    })

    it('ignores empty and unrelated variables', () => {
      assert.deepEqual(optionsFromEnv({ GROVE_REGION: '', GROVE_LEAD: '0', GROVE_DATADIR: '/x', HOME: '/root', grove_region: 'x' }), {})
    })

    const leadCases: Array<{ value: string, lead: boolean }> = [
      { value: '1', lead: false },
      { value: 'true', lead: false },
      { value: 'YES', lead: false },
      { value: 'on', lead: false },
      { value: '0', lead: true },
      { value: 'false', lead: true },
      { value: 'off', lead: true }
    ]
    for (const { value, lead } of leadCases) {
      it(`GROVE_NO_LEAD=${value} gives lead ${String(lead)}`, () => {
        const c = resolveConfig({ flags: REQUIRED, env: optionsFromEnv({ GROVE_NO_LEAD: value }), file: {} })
        assert.equal(c.lead, lead)
      })
    }

    it('splits GROVE_LISTEN and GROVE_JOIN on commas, trimming blanks', () => {
      const env = optionsFromEnv({
        GROVE_LISTEN: '/ip4/0.0.0.0/tcp/4100, /ip6/::/tcp/4100,',
        GROVE_JOIN: `/ip4/10.0.0.1/tcp/1/p2p/${PEER_A},/dns4/seed.example/tcp/2/p2p/${PEER_B}`
      })
      const c = resolveConfig({ flags: REQUIRED, env, file: {} })
      assert.deepEqual(c.listen, ['/ip4/0.0.0.0/tcp/4100', '/ip6/::/tcp/4100'])
      assert.deepEqual(c.join, [`/ip4/10.0.0.1/tcp/1/p2p/${PEER_A}`, `/dns4/seed.example/tcp/2/p2p/${PEER_B}`])
    })
  })

  describe('validation errors name the option as the user wrote it', () => {
    const LABELS: Record<keyof RawOptions, [string, string, string]> = {
      dataDir: ['--data-dir', 'GROVE_DATA_DIR', 'config.json: dataDir'],
      region: ['--region', 'GROVE_REGION', 'config.json: region'],
      listen: ['--listen', 'GROVE_LISTEN', 'config.json: listen'],
      api: ['--api', 'GROVE_API', 'config.json: api'],
      profile: ['--profile', 'GROVE_PROFILE', 'config.json: profile'],
      name: ['--name', 'GROVE_NAME', 'config.json: name'],
      labels: ['--labels', 'GROVE_LABELS', 'config.json: labels'],
      location: ['--location', 'GROVE_LOCATION', 'config.json: location'],
      lead: ['--no-lead', 'GROVE_NO_LEAD', 'config.json: lead'],
      join: ['--join', 'GROVE_JOIN', 'config.json: join'],
      metricsOpen: ['--metrics-open', 'GROVE_METRICS_OPEN', 'config.json: metricsOpen'],
      runtimes: ['--runtimes', 'GROVE_RUNTIMES', 'config.json: runtimes'],
      policy: ['--policy', 'GROVE_POLICY', 'config.json: policy'],
      areas: ['--areas', 'GROVE_AREAS', 'config.json: areas'],
      oakestraUser: ['--oakestra-user', 'GROVE_OAKESTRA_USER', 'config.json: oakestraUser'],
      oakestraPassword: ['--oakestra-password', 'GROVE_OAKESTRA_PASSWORD', 'config.json: oakestraPassword'],
      overlay: ['--overlay', 'GROVE_OVERLAY', 'config.json: overlay'],
      overlayLoopback: ['--overlay-loopback', 'GROVE_OVERLAY_LOOPBACK', 'config.json: overlayLoopback']
    }

    // Each bad value is given as a string (a flag or a variable holds one); the file gets the same string.
    const bad: Array<{ key: keyof RawOptions, value: string, pattern: RegExp }> = [
      { key: 'region', value: 'Home', pattern: /"Home" must be 1-63 lowercase letters/ },
      { key: 'runtimes', value: 'process,podman', pattern: /"podman" is not a runtime/ },
      { key: 'policy', value: 'fastest', pattern: /must be ROM or LDP, got "fastest"/ },
      { key: 'overlay', value: 'on', pattern: /must be off, unprivileged or privileged, got "on"/ },
      { key: 'overlayLoopback', value: '10.30', pattern: /must be 127\.N with N from 1 to 254/ },
      { key: 'areas', value: '{"munich": {"lat": 99, "lon": 11, "radiusKm": 5}}', pattern: /munich: latitude must be a number within -90..90/ },
      { key: 'areas', value: '{"munich": {"lat": 48, "lon": 11, "radiusKm": -1}}', pattern: /munich: radiusKm must be a non-negative number/ },
      { key: 'region', value: '-home', pattern: /not starting or ending with a dash/ },
      { key: 'region', value: 'a'.repeat(64), pattern: /must be 1-63/ },
      { key: 'api', value: 'localhost', pattern: /expected HOST:PORT, got "localhost"/ },
      { key: 'api', value: '127.0.0.1:70000', pattern: /expected HOST:PORT/ },
      { key: 'listen', value: 'tcp://0.0.0.0:4100', pattern: /"tcp:\/\/0\.0\.0\.0:4100" is not a valid multiaddr/ },
      { key: 'listen', value: '/ip4/1.2.3.4/tcp/notaport', pattern: /is not a valid multiaddr/ },
      { key: 'listen', value: ' , ', pattern: /needs at least one multiaddr/ },
      { key: 'join', value: '/ip4/10.0.0.1/tcp/4100', pattern: /"\/ip4\/10\.0\.0\.1\/tcp\/4100" must end with \/p2p\/<peer-id>/ },
      { key: 'join', value: 'seed.example:4100', pattern: /is not a valid multiaddr/ },
      { key: 'join', value: `/ip4/10.0.0.1/tcp/4100/p2p/${PEER_A}/p2p-circuit`, pattern: /must end with \/p2p\/<peer-id>/ },
      ...NOT_PEER_IDS.map(({ id }) => ({
        key: 'join' as const,
        value: `/ip4/10.0.0.1/tcp/4100/p2p/${id}`,
        pattern: new RegExp(`: "${escape(`/ip4/10.0.0.1/tcp/4100/p2p/${id}`)}" has an invalid peer ID after /p2p/$`)
      })),
      { key: 'join', value: `/ip4/10.0.0.1/tcp/4100/p2p/${PEER_A},/ip4/10.0.0.2/tcp/4100/p2p/nope`, pattern: /"\/ip4\/10\.0\.0\.2\/tcp\/4100\/p2p\/nope" has an invalid peer ID/ },
      { key: 'join', value: `/ip4/10.0.0.1/tcp/4100/p2p/nope/p2p-circuit/p2p/${PEER_A}`, pattern: /has an invalid peer ID after \/p2p\// },
      { key: 'listen', value: '/ip4/0.0.0.0/tcp/4100/p2p/nope', pattern: /has an invalid peer ID after \/p2p\// },
      { key: 'profile', value: 'fast', pattern: /must be one of local, lan, wan, got "fast"/ },
      { key: 'name', value: '-box', pattern: /"-box" must be 1-64 letters/ },
      { key: 'name', value: 'my box', pattern: /must be 1-64 letters/ },
      { key: 'name', value: 'x'.repeat(65), pattern: /must be 1-64 letters/ },
      { key: 'labels', value: 'zone', pattern: /"zone" must be written key=value/ },
      { key: 'labels', value: '=eu', pattern: /must be written key=value/ },
      { key: 'labels', value: '!zone=eu', pattern: /label key "!zone" must be 1-63/ },
      { key: 'labels', value: `k=${'v'.repeat(256)}`, pattern: /label "k" is longer than 255 characters/ },
      { key: 'location', value: 'munich', pattern: /expected LAT,LON, got "munich"/ },
      { key: 'location', value: '1,2,3', pattern: /expected LAT,LON/ },
      { key: 'location', value: '91,0', pattern: /latitude must be a number within -90\.\.90/ },
      { key: 'location', value: '0,-181', pattern: /longitude must be a number within -180\.\.180/ },
      { key: 'location', value: 'north,0', pattern: /latitude must be a number/ },
      { key: 'lead', value: 'maybe', pattern: /expected true or false, got "maybe"/ },
      { key: 'metricsOpen', value: 'sometimes', pattern: /expected true or false, got "sometimes"/ }
    ]

    for (const { key, value, pattern } of bad) {
      const [flagLabel, envLabel, fileLabel] = LABELS[key]
      const required = key === 'region' ? without(REQUIRED, 'region') : REQUIRED
      const shown = JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)

      it(`${flagLabel} ${shown}`, () => {
        assertConfigError(() => resolveConfig({ flags: { ...required, [key]: value }, env: {}, file: {} }), flagLabel, pattern)
      })

      it(`${envLabel}=${shown}`, () => {
        const env = optionsFromEnv({ [envLabel]: value })
        assert.equal(env[key], value, `${envLabel} should be read as ${key}`)
        assertConfigError(() => resolveConfig({ flags: required, env, file: {} }), envLabel, pattern)
      })

      it(`${fileLabel} ${shown}`, () => {
        assertConfigError(() => resolveConfig({ flags: required, env: {}, file: { [key]: value } }), fileLabel, pattern)
      })
    }

    it('names the source that won, not a lower one that also holds a bad value', () => {
      assertConfigError(() => resolveConfig({ flags: REQUIRED, env: { api: 'bad' }, file: { api: 'worse' } }), 'GROVE_API', /got "bad"/)
    })

    it('names a ticket\'s bad bootstrap address as the --ticket flag\'s --join', () => {
      const ticket = { region: 'home', join: [`/ip4/10.0.0.1/tcp/4100/p2p/${PEER_A.slice(0, -1)}`] }
      assertConfigError(() => resolveConfig({ flags: { dataDir: '/tmp/x' }, env: {}, file: {}, ticket }), '--join', /has an invalid peer ID after \/p2p\//)
    })

    // JSON types in config.json are checked by readConfigFile: see "config.json" below.
  })

  describe('--join accepts', () => {
    const good: Array<{ name: string, addr: string }> = [
      { name: 'an Ed25519 peer ID', addr: `/ip4/10.0.0.1/tcp/4100/p2p/${PEER_A}` },
      { name: 'an RSA-style peer ID', addr: `/ip4/10.0.0.1/tcp/4100/p2p/${RSA_PEER}` },
      { name: 'a DNS address', addr: `/dns4/seed.example/tcp/4100/p2p/${PEER_B}` },
      { name: 'a relayed address, whose relay and target IDs are both valid', addr: `/ip4/10.0.0.1/tcp/4100/p2p/${PEER_A}/p2p-circuit/p2p/${PEER_B}` },
      { name: 'a bare peer ID', addr: `/p2p/${PEER_C}` }
    ]
    for (const { name, addr } of good) {
      it(name, () => {
        assert.deepEqual(resolveConfig({ flags: { ...REQUIRED, join: [addr] }, env: {}, file: {} }).join, [addr])
      })
    }
  })

  describe('timings', () => {
    for (const profile of PROFILES) {
      it(`come from the ${profile} profile`, () => {
        const c = resolveConfig({ flags: { ...REQUIRED, profile }, env: {}, file: {} })
        assert.equal(c.profile, profile)
        assert.deepEqual(c.timings, PROFILE_TIMINGS[profile])
      })

      it(`${profile}: ranges are ordered and probes fit in their interval`, () => {
        const t = PROFILE_TIMINGS[profile]
        assert.ok(t.suspicionMin <= t.suspicionMax)
        assert.ok(t.electionTimeoutMin < t.electionTimeoutMax)
        assert.ok(t.probeTimeout < t.probeInterval)
        assert.ok(t.statusInterval < t.suspectAfter, 'a peer must miss several beats before it is suspect')
        assert.ok(t.summaryInterval < t.summaryStaleAfter)
      })
    }

    it('default to the lan profile', () => {
      assert.deepEqual(resolveConfig({ flags: REQUIRED, env: {}, file: {} }).timings, PROFILE_TIMINGS.lan)
    })

    it('get calmer from local to lan to wan', () => {
      const { local, lan, wan } = PROFILE_TIMINGS
      for (const k of ['statusInterval', 'suspectAfter', 'probeTimeout', 'electionTimeoutMin', 'summaryStaleAfter'] as const) {
        assert.ok(local[k] < lan[k] && lan[k] < wan[k], `${k}: ${local[k]} < ${lan[k]} < ${wan[k]}`)
      }
    })
  })

  describe('parseHostPort', () => {
    const cases: Array<{ input: string, expected: { host: string, port: number } | undefined }> = [
      { input: '127.0.0.1:4180', expected: { host: '127.0.0.1', port: 4180 } },
      { input: '[::1]:80', expected: { host: '::1', port: 80 } },
      { input: '[fe80::1:2]:65535', expected: { host: 'fe80::1:2', port: 65535 } },
      { input: 'localhost:0', expected: { host: 'localhost', port: 0 } },
      { input: '  0.0.0.0:9000  ', expected: { host: '0.0.0.0', port: 9000 } },
      { input: '127.0.0.1:70000', expected: undefined },
      { input: '127.0.0.1:65536', expected: undefined },
      { input: '127.0.0.1:123456', expected: undefined },
      { input: '::1:80', expected: undefined },
      { input: '127.0.0.1', expected: undefined },
      { input: ':80', expected: undefined },
      { input: '127.0.0.1:', expected: undefined },
      { input: 'host:http', expected: undefined },
      { input: 'my host:80', expected: undefined },
      { input: '', expected: undefined }
    ]
    for (const { input, expected } of cases) {
      it(`${JSON.stringify(input)} → ${expected === undefined ? 'rejected' : JSON.stringify(expected)}`, () => {
        assert.deepEqual(parseHostPort(input), expected)
      })
    }
  })

  describe('config.json', () => {
    let dir: string

    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'grove-config-'))
    })

    afterEach(async () => {
      await rm(dir, { recursive: true, force: true })
    })

    describe('readConfigFile', () => {
      it('gives {} when there is no config.json', async () => {
        assert.deepEqual(await readConfigFile(dir), {})
      })

      it('gives {} when the data dir does not exist yet', async () => {
        assert.deepEqual(await readConfigFile(join(dir, 'not-yet')), {})
      })

      it('reads the options the file holds, with their JSON types', async () => {
        const content = { region: 'home', listen: ['/ip4/0.0.0.0/tcp/1'], lead: false, labels: { zone: 'a' }, location: { lat: 1, lon: 2 } }
        await writeFile(join(dir, 'config.json'), JSON.stringify(content))
        assert.deepEqual(await readConfigFile(dir), content)
      })

      it('refuses bad JSON with a ConfigError naming the file', async () => {
        await writeFile(join(dir, 'config.json'), '{ "region": "home", ')
        await assertRejectsConfigError(readConfigFile(dir), new RegExp(`^${escape(join(dir, 'config.json'))} is not valid JSON`))
      })

      for (const text of ['[]', '"home"', 'null', '42']) {
        it(`refuses ${text} (not an object) naming the file`, async () => {
          await writeFile(join(dir, 'config.json'), text)
          await assertRejectsConfigError(readConfigFile(dir), new RegExp(`^${escape(join(dir, 'config.json'))} must hold a JSON object`))
        })
      }

      it('refuses an unknown key, naming it', async () => {
        await writeFile(join(dir, 'config.json'), JSON.stringify({ region: 'home', regoin: 'typo' }))
        await assertRejectsConfigError(readConfigFile(dir), /^config\.json: regoin: unknown option \(known: .*region/)
      })

      it('refuses a config.json it cannot read, naming the file', async () => {
        await mkdir(join(dir, 'config.json'))
        await assertRejectsConfigError(readConfigFile(dir), new RegExp(`^cannot read ${escape(join(dir, 'config.json'))}`))
      })

      it('refuses dataDir, whatever its value', async () => {
        for (const dataDir of ['/elsewhere', null]) {
          await writeFile(join(dir, 'config.json'), JSON.stringify({ dataDir }))
          await assertRejectsConfigError(readConfigFile(dir), /^config\.json: dataDir: cannot be set in the file that lives inside the data directory$/)
        }
      })
    })

    describe('the JSON type of every value is checked when the file is read', () => {
      // A string message is the whole error; a pattern is for text that comes from zod itself.
      const wrong: Array<{ content: Record<string, unknown>, message: string | RegExp }> = [
        { content: { region: null }, message: 'config.json: region: expected a string, got null' },
        { content: { region: 5 }, message: 'config.json: region: expected a string, got 5' },
        { content: { name: null }, message: 'config.json: name: expected a string, got null' },
        { content: { name: 42 }, message: 'config.json: name: expected a string, got 42' },
        { content: { name: ['box'] }, message: 'config.json: name: expected a string, got an array' },
        { content: { api: null }, message: 'config.json: api: expected a string, got null' },
        { content: { api: 4180 }, message: 'config.json: api: expected a string, got 4180' },
        { content: { api: { host: '127.0.0.1', port: 4180 } }, message: 'config.json: api: expected a string, got an object' },
        { content: { profile: null }, message: 'config.json: profile: expected a string, got null' },
        { content: { profile: 7 }, message: 'config.json: profile: expected a string, got 7' },
        { content: { listen: null }, message: 'config.json: listen: expected a string or an array of strings, got null' },
        { content: { listen: 4100 }, message: 'config.json: listen: expected a string or an array of strings, got 4100' },
        { content: { listen: { tcp: 4100 } }, message: 'config.json: listen: expected a string or an array of strings, got an object' },
        { content: { listen: ['/ip4/0.0.0.0/tcp/4100', 4101] }, message: 'config.json: listen: [1]: expected a string, got 4101' },
        { content: { join: null }, message: 'config.json: join: expected a string or an array of strings, got null' },
        { content: { join: [null] }, message: 'config.json: join: [0]: expected a string, got null' },
        { content: { join: true }, message: 'config.json: join: expected a string or an array of strings, got true' },
        { content: { labels: null }, message: 'config.json: labels: expected a string or an object of strings, got null' },
        { content: { labels: ['a=b'] }, message: 'config.json: labels: expected a string or an object of strings, got an array' },
        { content: { labels: 5 }, message: 'config.json: labels: expected a string or an object of strings, got 5' },
        { content: { labels: { zone: 5 } }, message: 'config.json: labels: zone: expected a string, got 5' },
        { content: { labels: { zone: 'eu', tier: null } }, message: 'config.json: labels: tier: expected a string, got null' },
        { content: { location: null }, message: 'config.json: location: expected a "LAT,LON" string or an object {"lat": number, "lon": number}, got null' },
        { content: { location: [48.1, 11.5] }, message: 'config.json: location: expected a "LAT,LON" string or an object {"lat": number, "lon": number}, got an array' },
        { content: { location: 48.1 }, message: 'config.json: location: expected a "LAT,LON" string or an object {"lat": number, "lon": number}, got 48.1' },
        { content: { location: { lat: 'north', lon: 0 } }, message: 'config.json: location: lat: expected a number, got "north"' },
        { content: { location: { lat: '48.1', lon: '11.5' } }, message: 'config.json: location: lat: expected a number, got "48.1"' },
        { content: { location: { lat: 48.1 } }, message: 'config.json: location: lon: expected a number, got nothing' },
        { content: { location: { lat: 48.1, lon: null } }, message: 'config.json: location: lon: expected a number, got null' },
        { content: { location: { lat: 48.1, lng: 11.5 } }, message: /^config\.json: location: / },
        { content: { location: { lat: 48.1, lon: 11.5, alt: 500 } }, message: /^config\.json: location: .*"alt"/ },
        { content: { lead: null }, message: 'config.json: lead: expected true or false, got null' },
        { content: { lead: 0 }, message: 'config.json: lead: expected true or false, got 0' },
        { content: { lead: 'yes' }, message: 'config.json: lead: expected true or false, got "yes"' },
        { content: { lead: 'perhaps' }, message: 'config.json: lead: expected true or false, got "perhaps"' },
        { content: { metricsOpen: null }, message: 'config.json: metricsOpen: expected true or false, got null' },
        { content: { metricsOpen: 1 }, message: 'config.json: metricsOpen: expected true or false, got 1' },
        { content: { metricsOpen: 'on' }, message: 'config.json: metricsOpen: expected true or false, got "on"' }
      ]
      for (const { content, message } of wrong) {
        it(`${JSON.stringify(content)}`, async () => {
          await writeFile(join(dir, 'config.json'), JSON.stringify({ region: 'home', ...content }))
          const check = (err: unknown): true => {
            assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`)
            if (typeof message === 'string') assert.equal(err.message, message)
            else assert.match(err.message, message)
            return true
          }
          await assert.rejects(readConfigFile(dir), check)
          // Before any value is used: a flag that overrides the option does not hide a bad value in the file.
          const flags = { dataDir: dir, region: 'home', name: 'box', api: '127.0.0.1:1', profile: 'lan', lead: true, metricsOpen: true }
          await assert.rejects(loadConfig(flags, {}), check)
        })
      }

      const right: Array<{ content: RawOptions, read: (c: DaemonConfig) => unknown, value: unknown }> = [
        { content: { listen: '/ip4/0.0.0.0/tcp/1' }, read: c => c.listen, value: ['/ip4/0.0.0.0/tcp/1'] },
        { content: { listen: ['/ip4/0.0.0.0/tcp/1', '/ip6/::/tcp/1'] }, read: c => c.listen, value: ['/ip4/0.0.0.0/tcp/1', '/ip6/::/tcp/1'] },
        { content: { join: `/ip4/10.0.0.1/tcp/1/p2p/${PEER_A}` }, read: c => c.join, value: [`/ip4/10.0.0.1/tcp/1/p2p/${PEER_A}`] },
        { content: { join: [] }, read: c => c.join, value: [] },
        { content: { labels: 'zone=eu,tier=1' }, read: c => c.labels, value: { zone: 'eu', tier: '1' } },
        { content: { labels: { zone: 'eu' } }, read: c => c.labels, value: { zone: 'eu' } },
        { content: { labels: {} }, read: c => c.labels, value: {} },
        { content: { location: '48.1,11.5' }, read: c => c.location, value: { lat: 48.1, lon: 11.5 } },
        { content: { location: { lat: -33.9, lon: 151.2 } }, read: c => c.location, value: { lat: -33.9, lon: 151.2 } },
        { content: { lead: false }, read: c => c.lead, value: false },
        { content: { lead: 'false' }, read: c => c.lead, value: false },
        { content: { lead: 'true' }, read: c => c.lead, value: true },
        { content: { metricsOpen: true }, read: c => c.metricsOpen, value: true },
        { content: { metricsOpen: 'true' }, read: c => c.metricsOpen, value: true },
        { content: { metricsOpen: 'false' }, read: c => c.metricsOpen, value: false }
      ]
      for (const { content, read, value } of right) {
        it(`accepts ${JSON.stringify(content)}`, async () => {
          await writeFile(join(dir, 'config.json'), JSON.stringify({ region: 'home', ...content }))
          assert.deepEqual(read(await loadConfig({ dataDir: dir }, {})), value)
        })
      }

      it('checks values of the right type with the flags\' rules, naming config.json', async () => {
        const bad = `/ip4/10.0.0.1/tcp/4100/p2p/${PEER_A.slice(0, -1)}`
        await writeFile(join(dir, 'config.json'), JSON.stringify({ region: 'home', join: [bad] }))
        await assertRejectsConfigError(loadConfig({ dataDir: dir }, {}), new RegExp(`^config\\.json: join: "${escape(bad)}" has an invalid peer ID after /p2p/$`))
      })
    })

    describe('rememberRegion', () => {
      it('creates config.json holding only the region when there is none', async () => {
        await rememberRegion(dir, 'home')
        assert.deepEqual(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')), { region: 'home' })
      })

      it('keeps every other key the user wrote, in the user\'s order', async () => {
        const mine = { name: 'box', labels: { zone: 'a' }, lead: false, listen: ['/ip4/0.0.0.0/tcp/1'], region: 'old' }
        await writeFile(join(dir, 'config.json'), JSON.stringify(mine))
        await rememberRegion(dir, 'new')
        const written = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>
        assert.deepEqual(written, { ...mine, region: 'new' })
        assert.deepEqual(Object.keys(written), Object.keys(mine))
        assert.deepEqual(await readdir(dir), ['config.json'], 'no temporary file is left behind')
      })

      it('does not rewrite the file when the region is already there', async () => {
        const text = '{"region":"home",   "name":"box"}'
        await writeFile(join(dir, 'config.json'), text)
        await rememberRegion(dir, 'home')
        assert.equal(await readFile(join(dir, 'config.json'), 'utf8'), text)
      })

      it('refuses to overwrite a broken config.json', async () => {
        await writeFile(join(dir, 'config.json'), 'not json')
        await assertRejectsConfigError(rememberRegion(dir, 'home'), /is not valid JSON/)
        assert.equal(await readFile(join(dir, 'config.json'), 'utf8'), 'not json')
      })

      it('refuses to overwrite a config.json holding a value of the wrong type', async () => {
        const text = '{"name": null}'
        await writeFile(join(dir, 'config.json'), text)
        await assertRejectsConfigError(rememberRegion(dir, 'home'), /^config\.json: name: expected a string, got null$/)
        assert.equal(await readFile(join(dir, 'config.json'), 'utf8'), text)
      })
    })

    describe('loadConfig', () => {
      it('refuses dataDir inside config.json', async () => {
        await writeFile(join(dir, 'config.json'), JSON.stringify({ region: 'home', dataDir: '/elsewhere' }))
        await assertRejectsConfigError(loadConfig({ dataDir: dir }, {}), /^config\.json: dataDir: /)
      })

      it('requires a data dir from the flags or GROVE_DATA_DIR', async () => {
        await assertRejectsConfigError(loadConfig({ region: 'home' }, {}), /^--data-dir: required/)
        await assertRejectsConfigError(loadConfig({ region: 'home' }, { GROVE_DATA_DIR: '' }), /^--data-dir: required/)
      })

      it('creates the data dir and merges flags, GROVE_* and config.json', async () => {
        const dataDir = join(dir, 'nested', 'data')
        await loadConfig({ dataDir, region: 'home' }, {})
        await writeFile(join(dataDir, 'config.json'), JSON.stringify({ region: 'from-file', name: 'file-name', api: '127.0.0.1:1', profile: 'wan' }))
        const c = await loadConfig({ dataDir, name: 'flag-name' }, { GROVE_API: '127.0.0.1:2', GROVE_NO_LEAD: '1' })
        assert.equal(c.dataDir, dataDir)
        assert.equal(c.region, 'from-file')
        assert.equal(c.name, 'flag-name')
        assert.deepEqual(c.api, { host: '127.0.0.1', port: 2 })
        assert.equal(c.lead, false)
        assert.equal(c.profile, 'wan')
        assert.deepEqual(c.timings, PROFILE_TIMINGS.wan)
      })

      it('finds config.json through GROVE_DATA_DIR', async () => {
        await writeFile(join(dir, 'config.json'), JSON.stringify({ region: 'env-found' }))
        const c = await loadConfig({}, { GROVE_DATA_DIR: dir })
        assert.equal(c.region, 'env-found')
        assert.equal(c.dataDir, dir)
      })

      it('names config.json when a value in it is bad', async () => {
        await writeFile(join(dir, 'config.json'), JSON.stringify({ region: 'home', api: 'nowhere' }))
        await assertRejectsConfigError(loadConfig({ dataDir: dir }, {}), /^config\.json: api: expected HOST:PORT, got "nowhere"/)
      })
    })
  })
})

function escape (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
