// Grove's reader for Oakestra's deployment descriptor (`sla_version: "v2.0"`, application → microservices). An SLA
// document goes in and validated, normalised ApplicationSpecs come out. It does no I/O.
//
// How Oakestra reads an SLA. Sources: oakestra/oakestra root_orchestrator/system-manager-python/sla/schema.py (the
// newest stored version), sla/versioned_sla_parser.py, tests/unit/sla_test.py with its vectors (copied to
// shared/fixtures/oakestra-sla), cluster_orchestrator/cluster-scheduler/calculation.py and the LDP calculation
// (geo_based_scheduling); oakestra/oakestra-net node-net-manager/network/Nat.go (ManageContainerPorts); and
// oakestra/documentation content/docs/reference/app-sla.md.
// - The parser looks up a validator by `sla_version`, so a document without one fails (flawed_1, flawed_3). Only
//   "v2.0" is live, and "v1.0" raises "Deprecated". `api_version` belongs to the older EdgeIO descriptor. No v2.0
//   schema lists it.
// - The schema is JSON Schema without `additionalProperties: false`, so Oakestra ignores fields it does not know.
//   Required fields:
//   - at the top: sla_version, customerID and applications;
//   - in each application: application_name, application_namespace and microservices;
//   - in each microservice: microservice_name, microservice_namespace, virtualization and code.
//   Everything else is optional, and sla_correct_2 has no memory or vcpus. Older schema versions also required
//   applicationID, microserviceID, memory and storage, but sla_correct_4 has no applicationID. The schema puts
//   `exclusiveMinimum: 0` on the microservices array, which does nothing on an array, so an empty list passes.
// - Names and namespaces of applications and microservices must match ^[a-zA-Z0-9]{1,30}$: 1 to 30 letters or
//   digits. The docs say 10, but the schema says 30, and the schema is what runs.
// - memory, vcpus, vgpus, vtpus, bandwidth_in, bandwidth_out and storage are JSON Schema integers. vcpus counts whole
//   cores. memory and storage are in MB, read as MiB. The old docs spell `bandwith_out`, but no schema does. The
//   current docs and the cluster scheduler write `vcpu`/`vgpu`, so Grove reads those as aliases.
// - port is a string of "host:container[/tcp|/udp]" mappings separated by ';'. A lone "80" maps host port 80 to
//   container port 80: ManageContainerPorts uses the one number for both. The protocol defaults to tcp.
// - constraints[].type is required.
//   - "direct" takes a cluster name and node hostnames, "n1;n2".
//   - "geo" takes location "lat,long" (latitude first, as the scheduler splits it) and a threshold in km.
//   - "latency" takes an area and a threshold in ms.
//   - geo and latency also take rigidness (a number) and convergence_time (an integer, seconds).
//   - Oakestra's docs also name "addons" (needs) and "clusters" (allowed).
// - connectivity[] requires target_microservice_id and con_constraints, and every con_constraint requires type,
//   threshold, rigidness and convergence_time (flawed_4).
// - The schema lets virtualization be any string. Oakestra runs "container" and "unikernel".
//
// Where Grove differs, on purpose:
// - It refuses unknown fields, because a typo must not silently drop a requirement. It accepts every field that any
//   version of Oakestra's v2.0 schema lists, even those Grove then ignores. It reports unknown fields only once all of
//   Oakestra's own rules pass, so a document Oakestra rejects is rejected for Oakestra's reason.
// - It requires less. It does not need customerID, because Grove has no customers. microservice_namespace defaults to
//   the application's. virtualization defaults to opts.defaultRuntime, or to container. code may be missing, because
//   a process has no image, and a container without one is a deployment problem (deploymentProblems). microserviceID
//   may be set, though the newest schema pins it to "" ("disabling this for now"). Grove keeps it as externalId.
// - It checks values Oakestra leaves unchecked: amounts must not be negative, and it checks port syntax and ranges,
//   IPv4 syntax of rr_ip/closest_ip, "lat,lon" ranges, and that rigidness is within [0, 1].
// - virtualization must be "container" or "process" (Grove's own runtime). Grove cannot run unikernels.
// - Grove adds its own fields per microservice: replicas, restart and arch. It also takes environment as an object.
//
// The error names the first offending field, found depth-first. Within each object, missing required fields come
// first in schema order, then each present field in schema order. Unknown fields come after everything else, in the
// same walk order.
import { SlaError } from './errors.js'
import type {
  ApplicationSpec, Area, Connectivity, Constraint, GeoPoint, PortMapping, RestartPolicy, ServiceSpec, Virtualization
} from './types.js'

export interface SlaParseOptions {
  /**
   * The runtime of a microservice that gives no `virtualization`.
   * @default 'container'
   */
  defaultRuntime?: Virtualization
}

export interface ParsedSla {
  slaVersion: string
  customerId?: string
  applications: ApplicationSpec[]
}

/** A reason an application cannot be deployed, at a path relative to the application (`microservices[0].cmd`). */
export interface DeploymentProblem { path: string, message: string }

/** Service IPs come from Oakestra's range, 10.30.0.0/16. */
const SERVICE_IP_PREFIX = '10.30.'
/** More replicas than this is almost certainly a typo, and would flood the placement state. */
const MAX_REPLICAS = 1000

// Each object's fields in the schema's order, which is also the order they are checked in.
const TOP_FIELDS = ['sla_version', 'customerID', 'applications', 'args']
const APPLICATION_FIELDS = [
  'applicationID', 'application_name', 'application_namespace', 'application_desc', 'microservices', 'net_service'
]
const MICROSERVICE_FIELDS = [
  'microserviceID', 'microservice_name', 'microservice_namespace', 'virtualization', 'memory', 'vcpus', 'vgpus',
  'vtpus', 'bandwidth_in', 'bandwidth_out', 'storage', 'code', 'state', 'port', 'ns_ref', 'one_shot', 'privileged',
  'cmd', 'environment', 'sla_violation_strategy', 'target_node', 'addresses', 'added_files', 'args', 'constraints',
  'connectivity',
  // In Oakestra's docs and cluster scheduler, not in its schema.
  'vcpu', 'vgpu',
  // Grove's extensions.
  'replicas', 'restart', 'arch'
]
const ADDRESS_FIELDS = ['rr_ip', 'rr_ip_v6', 'closest_ip', 'closest_ip_v6', 'instances']
const ADDRESS_INSTANCE_FIELDS = ['from', 'to', 'start']
/** Oakestra's constraint fields. Each type uses some of them, and Grove refuses the others. */
const OAKESTRA_CONSTRAINT_FIELDS = [
  'type', 'area', 'cluster', 'node', 'location', 'threshold', 'rigidness', 'convergence_time', 'needs', 'allowed'
]
const CONSTRAINT_TYPES = new Map<string, { fields: string[], required: string[] }>([
  ['direct', { fields: ['type', 'cluster', 'node'], required: [] }],
  ['geo', {
    fields: ['type', 'location', 'area', 'threshold', 'rigidness', 'convergence_time'],
    required: ['threshold']
  }],
  ['latency', {
    fields: ['type', 'area', 'threshold', 'rigidness', 'convergence_time'],
    required: ['area', 'threshold']
  }]
])
const CONNECTIVITY_FIELDS = ['target_microservice_id', 'con_constraints']
const CON_CONSTRAINT_FIELDS = ['type', 'threshold', 'rigidness', 'convergence_time']

const OAKESTRA_NAME = /^[a-zA-Z0-9]{1,30}$/
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`)
const PORT_MAPPING = /^(\d{1,5})(?::(\d{1,5}))?(?:\/(tcp|udp))?$/
const DECIMAL = /^-?\d+(?:\.\d+)?$/
const RESTART_POLICIES: readonly RestartPolicy[] = ['always', 'on-failure', 'never']

type Json = Record<string, unknown>
type Read<T> = (value: unknown, path: string) => T

/** One parse's state. It holds the first unknown field seen, which is thrown only if nothing else is wrong. */
interface Walk { unknown: SlaError | undefined, defaultRuntime: Virtualization }

/**
 * Validates an Oakestra SLA (`sla_version: "v2.0"`) and normalises it into ApplicationSpecs.
 * @throws SlaError naming the first offending field, e.g. `applications[0].microservices[0].microservice_name`.
 */
export function parseSla (doc: unknown, opts: SlaParseOptions = {}): ParsedSla {
  const walk: Walk = { unknown: undefined, defaultRuntime: opts.defaultRuntime ?? 'container' }
  const top = object(doc, '', 'a JSON object (an Oakestra SLA)')
  fields(walk, top, '', ['sla_version', 'applications'], TOP_FIELDS)
  const slaVersion = req(top, '', 'sla_version', slaVersionOf)
  const customerId = opt(top, '', 'customerID', string)
  const applications = req(top, '', 'applications', each((app, path) => application(walk, app, path)))
  opt(top, '', 'args', strings)
  if (walk.unknown !== undefined) throw walk.unknown
  return customerId === undefined ? { slaVersion, applications } : { slaVersion, customerId, applications }
}

function application (walk: Walk, value: unknown, path: string): ApplicationSpec {
  const app = object(value, path, 'an object (an application)')
  fields(walk, app, path, ['application_name', 'application_namespace', 'microservices'], APPLICATION_FIELDS)
  const externalId = opt(app, path, 'applicationID', string)
  const name = req(app, path, 'application_name', oakestraName)
  const namespace = req(app, path, 'application_namespace', oakestraName)
  const description = opt(app, path, 'application_desc', string) ?? ''
  const services = req(app, path, 'microservices', each((ms, p) => service(walk, ms, p, namespace)))
  // A network-service chain (newest schema). Grove has no such thing yet: checked for shape, then ignored.
  opt(app, path, 'net_service', (v, p) => v === null ? null : object(v, p, 'an object or null'))
  return { name, namespace, description, ...(externalId ? { externalId } : {}), services }
}

function service (walk: Walk, value: unknown, path: string, appNamespace: string): ServiceSpec {
  const ms = object(value, path, 'an object (a microservice)')
  fields(walk, ms, path, ['microservice_name'], MICROSERVICE_FIELDS)
  const externalId = opt(ms, path, 'microserviceID', string)
  const name = req(ms, path, 'microservice_name', oakestraName)
  const namespace = opt(ms, path, 'microservice_namespace', oakestraName) ?? appNamespace
  const virtualization = opt(ms, path, 'virtualization', runtimeOf) ?? walk.defaultRuntime
  const memory = opt(ms, path, 'memory', count) ?? 0
  const vcpus = aliased(ms, path, 'vcpus', 'vcpu') ?? 0
  const vgpus = aliased(ms, path, 'vgpus', 'vgpu') ?? 0
  for (const ignored of ['vtpus', 'bandwidth_in', 'bandwidth_out']) opt(ms, path, ignored, count)
  const storage = opt(ms, path, 'storage', count) ?? 0
  const code = opt(ms, path, 'code', string)
  opt(ms, path, 'state', string)
  const ports = opt(ms, path, 'port', portsOf) ?? []
  opt(ms, path, 'ns_ref', string)
  const oneShot = opt(ms, path, 'one_shot', boolean) ?? false
  opt(ms, path, 'privileged', unprivileged)
  const cmd = opt(ms, path, 'cmd', strings) ?? []
  const environment = opt(ms, path, 'environment', environmentOf) ?? []
  opt(ms, path, 'sla_violation_strategy', string)
  const targetNode = opt(ms, path, 'target_node', string)
  const addresses = opt(ms, path, 'addresses', (v, p) => addressesOf(walk, v, p)) ?? {}
  opt(ms, path, 'added_files', strings)
  opt(ms, path, 'args', strings)
  const constraints = opt(ms, path, 'constraints', each((c, p) => constraintOf(walk, c, p))) ?? []
  const connectivity = opt(ms, path, 'connectivity', each((c, p) => connectivityOf(walk, c, p))) ?? []
  const replicas = opt(ms, path, 'replicas', count) ?? 1
  const restart = opt(ms, path, 'restart', (v, p) => restartOf(v, p, oneShot)) ?? (oneShot ? 'never' : 'always')
  const arch = opt(ms, path, 'arch', each(nonEmpty)) ?? []
  // Oakestra's target_node pins the service to one worker. That is a direct constraint, appended last so that the
  // indexes of the listed constraints stay as written.
  if (targetNode) constraints.push({ type: 'direct', nodes: [targetNode] })
  return {
    name,
    namespace,
    ...(externalId ? { externalId } : {}),
    virtualization,
    // A process has no image. Its `code` is an Oakestra field that Grove ignores.
    ...(virtualization === 'container' && code ? { image: code } : {}),
    cmd,
    environment,
    memory,
    vcpus,
    vgpus,
    storage,
    replicas,
    restart,
    oneShot,
    arch,
    ports,
    addresses,
    constraints,
    connectivity
  }
}

function addressesOf (walk: Walk, value: unknown, path: string): ServiceSpec['addresses'] {
  const addresses = object(value, path, 'an object with rr_ip and/or closest_ip')
  fields(walk, addresses, path, [], ADDRESS_FIELDS)
  const rrIp = opt(addresses, path, 'rr_ip', ipv4)
  opt(addresses, path, 'rr_ip_v6', string)
  const closestIp = opt(addresses, path, 'closest_ip', ipv4)
  opt(addresses, path, 'closest_ip_v6', string)
  opt(addresses, path, 'instances', each((v, p) => {
    const instance = object(v, p, 'an object with from, to and start')
    fields(walk, instance, p, [], ADDRESS_INSTANCE_FIELDS)
    for (const key of ADDRESS_INSTANCE_FIELDS) opt(instance, p, key, string)
  }))
  return { ...(rrIp !== undefined ? { rrIp } : {}), ...(closestIp !== undefined ? { closestIp } : {}) }
}

function constraintOf (walk: Walk, value: unknown, path: string): Constraint {
  const c = object(value, path, 'an object with a type')
  const type = req(c, path, 'type', string)
  const shape = CONSTRAINT_TYPES.get(type)
  if (shape === undefined) {
    const oakestras = type === 'addons' || type === 'clusters'
    const why = oakestras ? `: Grove does not support Oakestra's "${type}" constraints` : ''
    fail(at(path, 'type'), `must be "direct", "geo" or "latency"${why}`, type)
  }
  for (const key of shape.required) {
    if (get(c, key) === undefined) fail(at(path, key), `is required in a ${type} constraint`, undefined)
  }
  fields(walk, c, path, [], shape.fields, key =>
    OAKESTRA_CONSTRAINT_FIELDS.includes(key) ? `does not apply to a ${type} constraint` : undefined)

  if (type === 'direct') {
    const cluster = opt(c, path, 'cluster', nonEmpty)
    const nodes = opt(c, path, 'node', nodeNames)
    if (cluster === undefined && nodes === undefined) {
      fail(path, 'a direct constraint needs a cluster, a node, or both', c)
    }
    return { type, ...(cluster !== undefined ? { cluster } : {}), ...(nodes !== undefined ? { nodes } : {}) }
  }
  if (type === 'latency') {
    const area = req(c, path, 'area', nonEmpty)
    const thresholdMs = req(c, path, 'threshold', nonNegative)
    const rigidness = opt(c, path, 'rigidness', fraction)
    const convergenceTime = opt(c, path, 'convergence_time', count)
    return {
      type,
      area,
      thresholdMs,
      ...(rigidness !== undefined ? { rigidness } : {}),
      ...(convergenceTime !== undefined ? { convergenceTime } : {})
    }
  }
  // geo. Oakestra's own form is a location. An area (a named circle from the configuration) is Grove's addition.
  // Grove's geo constraint has no convergence time, so convergence_time is checked and then ignored.
  const location = opt(c, path, 'location', latLon)
  const area = opt(c, path, 'area', nonEmpty)
  const thresholdKm = req(c, path, 'threshold', nonNegative)
  const rigidness = opt(c, path, 'rigidness', fraction)
  opt(c, path, 'convergence_time', count)
  if (location === undefined && area === undefined) {
    fail(path, 'a geo constraint needs a location ("lat,lon") or an area', c)
  }
  if (location !== undefined && area !== undefined) {
    fail(at(path, 'area'), 'cannot be given together with location: give one', area)
  }
  return {
    type: 'geo',
    ...(location !== undefined ? { location } : { area }),
    thresholdKm,
    ...(rigidness !== undefined ? { rigidness } : {})
  }
}

function connectivityOf (walk: Walk, value: unknown, path: string): Connectivity {
  const c = object(value, path, 'an object with target_microservice_id and con_constraints')
  fields(walk, c, path, CONNECTIVITY_FIELDS, CONNECTIVITY_FIELDS)
  const target = req(c, path, 'target_microservice_id', nonEmpty)
  const bounds = req(c, path, 'con_constraints', each((cc, p) => latencyBound(walk, cc, p)))
  // Several bounds on one link: the tightest one holds, as Oakestra's SLA notes say for contradicting links.
  return bounds.length === 0 ? { target } : { target, latencyMs: Math.min(...bounds) }
}

/** A con_constraint, which Oakestra requires complete. Returns its latency bound in ms. */
function latencyBound (walk: Walk, value: unknown, path: string): number {
  const c = object(value, path, 'an object with type, threshold, rigidness and convergence_time')
  fields(walk, c, path, CON_CONSTRAINT_FIELDS, CON_CONSTRAINT_FIELDS)
  const type = req(c, path, 'type', string)
  if (type !== 'latency') {
    const why = type === 'geo' ? ': Grove does not support geo bounds between services yet' : ''
    fail(at(path, 'type'), `must be "latency"${why}`, type)
  }
  const threshold = req(c, path, 'threshold', nonNegative)
  req(c, path, 'rigidness', fraction)
  req(c, path, 'convergence_time', count)
  return threshold
}

/**
 * The semantic checks made at deploy time, after parseSla accepted the document. Paths are relative to the
 * application: prefix them with `applications[i].`. An empty list means nothing here stands in the way. Whether an
 * address is already taken is checked elsewhere.
 */
export function deploymentProblems (app: ApplicationSpec, ctx: { areas: Record<string, Area> }): DeploymentProblem[] {
  const problems: DeploymentProblem[] = []
  const names = new Set(app.services.map(s => s.name))
  const firstIndex = new Map<string, number>()
  app.services.forEach((svc, i) => {
    const path = `microservices[${i}]`
    const first = firstIndex.get(svc.name)
    if (first === undefined) {
      firstIndex.set(svc.name, i)
    } else {
      problems.push({
        path: `${path}.microservice_name`,
        message: `"${svc.name}" is already the name of microservices[${first}]: names must be unique within an application`
      })
    }
    if (svc.replicas > MAX_REPLICAS) {
      problems.push({
        path: `${path}.replicas`,
        message: `${svc.replicas} replicas is more than the ${MAX_REPLICAS} allowed`
      })
    }
    if (svc.virtualization === 'process' && svc.cmd.length === 0) {
      problems.push({ path: `${path}.cmd`, message: 'a process service needs a cmd to run' })
    }
    if (svc.virtualization === 'container' && (svc.image === undefined || svc.image === '')) {
      problems.push({ path: `${path}.code`, message: 'a container service needs an image in code' })
    }
    const ips: Array<[string, string | undefined]> = [
      ['rr_ip', svc.addresses.rrIp],
      ['closest_ip', svc.addresses.closestIp]
    ]
    for (const [field, ip] of ips) {
      if (ip !== undefined && !ip.startsWith(SERVICE_IP_PREFIX)) {
        problems.push({
          path: `${path}.addresses.${field}`,
          message: `${ip} is outside 10.30.0.0/16, the range service IPs come from`
        })
      }
    }
    svc.constraints.forEach((c, j) => {
      if (c.type !== 'direct' && c.area !== undefined && !Object.hasOwn(ctx.areas, c.area)) {
        problems.push({ path: `${path}.constraints[${j}].area`, message: unknownArea(c.area, ctx.areas) })
      }
    })
    svc.connectivity.forEach((c, j) => {
      if (!names.has(c.target)) {
        problems.push({
          path: `${path}.connectivity[${j}].target_microservice_id`,
          message: `"${c.target}" is not the name of a microservice of application ${app.name}`
        })
      }
    })
  })
  return problems
}

function unknownArea (area: string, areas: Record<string, Area>): string {
  const known = Object.keys(areas).sort()
  const more = known.length > 10 ? ', …' : ''
  const list = known.length === 0 ? 'none are configured' : `configured: ${known.slice(0, 10).join(', ')}${more}`
  return `area "${area}" is not a configured area (${list})`
}

// ---- Field values ----

function slaVersionOf (value: unknown, path: string): string {
  const version = string(value, path)
  if (version === 'v1.0') fail(path, 'must be "v2.0": v1.0 is deprecated, in Oakestra too', version)
  if (version !== 'v2.0') fail(path, 'must be "v2.0", the only SLA version Grove reads', version)
  return version
}

function oakestraName (value: unknown, path: string): string {
  const name = string(value, path)
  if (!OAKESTRA_NAME.test(name)) {
    fail(path, 'must be 1 to 30 letters or digits, without spaces, dots, dashes or brackets', name)
  }
  return name
}

function runtimeOf (value: unknown, path: string): Virtualization {
  const runtime = string(value, path)
  if (runtime === 'container' || runtime === 'process') return runtime
  const why = runtime === 'unikernel' || runtime === 'vm' ? `: Grove cannot run ${runtime}s` : ''
  fail(path, `must be "container" or "process"${why}`, runtime)
}

function restartOf (value: unknown, path: string, oneShot: boolean): RestartPolicy {
  const policy = string(value, path)
  if (!(RESTART_POLICIES as readonly string[]).includes(policy)) {
    fail(path, 'must be "always", "on-failure" or "never"', policy)
  }
  if (oneShot && policy === 'always') {
    fail(path, 'cannot be "always" for a one_shot service: use "never" or "on-failure"', policy)
  }
  return policy as RestartPolicy
}

/** Oakestra's `privileged`: Grove has no way to grant it, so only false passes. */
function unprivileged (value: unknown, path: string): false {
  if (boolean(value, path)) fail(path, 'must be false: Grove does not run privileged containers', value)
  return false
}

/** Oakestra's port syntax (see the top of this file). A host port of 0 is Grove's way to let the runtime choose. */
function portsOf (value: unknown, path: string): PortMapping[] {
  const text = string(value, path, 'must be a string like "80", "8080:80/tcp" or "53:53/udp;80:80"')
  if (text.trim() === '') return []
  const taken = new Set<string>()
  return text.split(';').map(part => {
    const match = PORT_MAPPING.exec(part.trim())
    if (match === null) {
      const syntax = '"port" or "host:container", optionally with "/tcp" or "/udp", mappings separated by ";"'
      fail(path, `"${part}" must be ${syntax}`, text)
    }
    const host = Number(match[1])
    const container = Number(match[2] ?? match[1])
    const protocol = match[3] === 'udp' ? 'udp' : 'tcp'
    if (container < 1 || container > 65535) {
      fail(path, `container port ${container} in "${part}" must be 1 to 65535`, text)
    }
    if (host > 65535) {
      fail(path, `host port ${host} in "${part}" must be 1 to 65535, or 0 to let the runtime choose`, text)
    }
    if (host === 0) return { container, protocol }
    if (taken.has(`${host}/${protocol}`)) fail(path, `maps host port ${host}/${protocol} twice`, text)
    taken.add(`${host}/${protocol}`)
    return { host, container, protocol }
  })
}

/** "KEY=VALUE" strings, as Oakestra writes them, or an object {KEY: value}. Either way a KEY may appear once. */
function environmentOf (value: unknown, path: string): string[] {
  const entries: Array<{ key: string, entry: string, path: string }> = []
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      const p = at(path, i)
      const entry = string(item, p, 'must be a "KEY=VALUE" string')
      const eq = entry.indexOf('=')
      const key = entry.slice(0, eq)
      if (eq < 1 || /\s/.test(key)) {
        fail(p, 'must be "KEY=VALUE", with a KEY that is not empty and has no spaces', entry)
      }
      entries.push({ key, entry, path: p })
    })
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, v] of Object.entries(value)) {
      const p = at(path, key)
      if (key === '' || key.includes('=') || /\s/.test(key)) {
        fail(p, 'is not a variable name: it must not be empty or have "=" or spaces', v)
      }
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
        fail(p, 'must be a string, number or boolean', v)
      }
      entries.push({ key, entry: `${key}=${String(v)}`, path: p })
    }
  } else {
    fail(path, 'must be a list of "KEY=VALUE" strings or an object of KEY: value', value)
  }
  const seen = new Set<string>()
  for (const { key, entry, path: p } of entries) {
    if (seen.has(key)) fail(p, `sets ${key} a second time`, entry)
    seen.add(key)
  }
  return entries.map(e => e.entry)
}

/** Oakestra's "node1;node2" or, Grove's addition, a list of names. */
function nodeNames (value: unknown, path: string): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) fail(path, 'must name at least one node', value)
    return value.map((v, i) => nonEmpty(v, at(path, i)))
  }
  const text = string(value, path, 'must be node names separated by ";", or a list of them')
  const nodes = text.split(';').map(n => n.trim())
  if (nodes.some(n => n === '')) fail(path, 'must be node names separated by ";", with no empty name', value)
  return nodes
}

function latLon (value: unknown, path: string): GeoPoint {
  const reason = 'must be "lat,lon" in decimal degrees, e.g. "48.14,11.58"'
  const parts = string(value, path, reason).split(',').map(s => s.trim())
  if (parts.length !== 2 || !parts.every(s => DECIMAL.test(s))) fail(path, reason, value)
  const [lat, lon] = parts.map(Number)
  if (Math.abs(lat) > 90 || Math.abs(lon) > 180) {
    fail(path, 'must have a latitude within ±90 and a longitude within ±180', value)
  }
  return { lat, lon }
}

function ipv4 (value: unknown, path: string): string {
  const ip = string(value, path)
  if (!IPV4.test(ip)) fail(path, 'must be an IPv4 address like "10.30.0.5"', ip)
  return ip
}

// ---- Generic readers ----

function fail (path: string, reason: string, value: unknown): never {
  throw new SlaError(path, reason, value)
}

/** `path.key`, `path[3]`, or `path["odd key"]`. */
function at (path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`
  return path === '' ? key : `${path}.${key}`
}

function get (obj: Json, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined
}

function object (value: unknown, path: string, what: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, `must be ${what}`, value)
  return value as Json
}

/**
 * Fails on the first missing required field, and notes the first field outside `known` to report later (see Walk).
 * `why` gives the reason for a field Oakestra knows but that does not belong here.
 */
function fields (
  walk: Walk, obj: Json, path: string, required: string[], known: readonly string[], why?: (key: string) => string | undefined
): void {
  for (const key of required) {
    if (get(obj, key) === undefined) fail(at(path, key), 'is required', undefined)
  }
  noteUnknown(walk, obj, path, known, why)
}

function noteUnknown (
  walk: Walk, obj: Json, path: string, known: readonly string[], why?: (key: string) => string | undefined
): void {
  if (walk.unknown !== undefined) return
  const key = Object.keys(obj).find(k => !known.includes(k))
  if (key === undefined) return
  const suggestion = closest(key, known)
  const reason = why?.(key) ?? `unknown field${suggestion !== undefined ? ` (did you mean "${suggestion}"?)` : ''}`
  walk.unknown = new SlaError(at(path, key), reason, obj[key])
}

/** The known name within two edits of a misspelt one, if any. */
function closest (key: string, known: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const name of known) {
    const d = editDistance(key, name)
    if (d < bestDistance) { best = name; bestDistance = d }
  }
  return key.length > 3 ? best : undefined
}

function editDistance (a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = row
  }
  return previous[b.length]
}

function opt<T> (obj: Json, path: string, key: string, read: Read<T>): T | undefined {
  const value = get(obj, key)
  return value === undefined ? undefined : read(value, at(path, key))
}

/** Reads a field whose presence `fields` (or a caller's own check) made sure of, or fails. */
function req<T> (obj: Json, path: string, key: string, read: Read<T>): T {
  const value = get(obj, key)
  if (value === undefined) fail(at(path, key), 'is required', undefined)
  return read(value, at(path, key))
}

/** Oakestra's field with its docs' alias (vcpus/vcpu); both may be given only if they agree. */
function aliased (obj: Json, path: string, key: string, alias: string): number | undefined {
  const value = opt(obj, path, key, count)
  const aliasValue = opt(obj, path, alias, count)
  if (value !== undefined && aliasValue !== undefined && value !== aliasValue) {
    fail(at(path, alias), `contradicts ${key} (${value}): give one of them`, aliasValue)
  }
  return value ?? aliasValue
}

function each<T> (read: Read<T>): Read<T[]> {
  return (value, path) => {
    if (!Array.isArray(value)) fail(path, 'must be a list', value)
    return value.map((item, i) => read(item, at(path, i)))
  }
}

function string (value: unknown, path: string, reason = 'must be a string'): string {
  if (typeof value !== 'string') fail(path, reason, value)
  return value
}

function nonEmpty (value: unknown, path: string): string {
  if (string(value, path, 'must be a non-empty string') === '') fail(path, 'must be a non-empty string', value)
  return value as string
}

const strings: Read<string[]> = each((v, p) => string(v, p))

function boolean (value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') fail(path, 'must be true or false', value)
  return value
}

/** A JSON Schema integer that cannot be negative: amounts, counts, seconds. */
function count (value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    fail(path, 'must be a non-negative integer', value)
  }
  return value
}

function nonNegative (value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(path, 'must be a non-negative number', value)
  }
  return value
}

/** Oakestra's rigidness: the share of requests that must meet the bound. */
function fraction (value: unknown, path: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) fail(path, 'must be a number from 0 to 1', value)
  return value
}
