// Deployment commands: deploy, apps, services, ps, scale, undeploy, logs, explain.
import { parseArgs } from 'node:util'
import { readFile } from 'node:fs/promises'
import { apiCall, resolveTarget, type ApiTarget } from './client.js'
import { CliError, duration, printJson, shortId, table } from './output.js'
import { sleep } from '../clock.js'

type Values = Record<string, string | boolean | undefined>

interface InstanceView { n: number, instanceIp: string | null, status: string, peerId: string | null, peerName: string | null, region: string | null, reason: string | null, startedAt: string | null, restarts: number, endpoints: Array<{ host: string, port: number, containerPort: number, protocol: string }> }
interface ServiceView { id: string, name: string, app: string, appName: string | null, replicas: number, deployed: boolean, virtualization: string, image: string | null, cmd: string[], region: string | null, serviceIps: { rr: string | null, closest: string | null }, ports: Array<{ container: number, protocol: string }>, instances: InstanceView[] }
interface AppView { id: string, name: string, namespace: string, createdAt: string, services: ServiceView[] }

export const APPS_USAGE = `deployment commands (each takes --data-dir DIR, or --api URL with --token T, and --json):
  grove deploy FILE.json [--wait] [--timeout S] [--no-deploy]   register an Oakestra SLA and deploy it
  grove apps                                   applications and their services
  grove services [APP]                         services, their region and instances
  grove ps                                     every instance: status, peer, region, age
  grove scale SVC N                            set a service's instance count
  grove undeploy APP|SVC                       remove an application, or every instance of a service
  grove logs SVC[/N] [-f] [--tail N]           an instance's logs, from whichever peer runs it
  grove explain SVC                            why a service is (or is not) placed where it is
  grove connect SVC [--policy rr|closest|instance:N] [--port P]
                                               the local address that reaches the service through the overlay
SVC is a service ID or app.service.`

function parse (argv: string[], options: Record<string, { type: 'string' | 'boolean', short?: string }> = {}): { values: Values, positionals: string[] } {
  try {
    const r = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { 'data-dir': { type: 'string' }, api: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' }, ...options }
    })
    return { values: r.values as Values, positionals: r.positionals }
  } catch (err) {
    throw new CliError((err as Error).message.split('\n')[0], 2)
  }
}

async function target (v: Values): Promise<ApiTarget> {
  return await resolveTarget({ dataDir: v['data-dir'] as string | undefined, api: v.api as string | undefined, token: v.token as string | undefined }, process.env)
}

function positional (positionals: string[], name: string, usage: string): string {
  const v = positionals.shift()
  if (v === undefined) throw new CliError(`${name}: required (${usage})`, 2)
  return v
}

const DONE = new Set(['RUNNING', 'COMPLETED'])
const BAD = new Set(['NO_WORKER_CAPACITY', 'NoActiveClusterWithCapacity', 'TargetClusterNotFound', 'DEAD'])

function age (iso: string | null): string {
  return iso === null ? '-' : duration(Date.now() - Date.parse(iso))
}

export async function runDeploy (argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { wait: { type: 'boolean' }, timeout: { type: 'string' }, 'no-deploy': { type: 'boolean' } })
  const file = positional(positionals, 'FILE', 'grove deploy FILE.json')
  let sla: unknown
  try {
    sla = JSON.parse(await readFile(file, 'utf8'))
  } catch (err) {
    throw new CliError(`FILE: ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`, 2)
  }
  const t = await target(values)
  const deploy = values['no-deploy'] !== true
  const res = await apiCall<{ apps: Array<{ id: string, name: string, services: Array<{ id: string, name: string }> }> }>(t, 'POST', `/api/v1/apps${deploy ? '' : '?deploy=false'}`, sla)
  const services = res.apps.flatMap(a => a.services.map(s => ({ ...s, label: `${a.name}.${s.name}` })))
  if (values.wait !== true || !deploy) {
    if (values.json === true) printJson(res)
    else for (const a of res.apps) process.stdout.write(`${deploy ? 'deploying' : 'registered'} ${a.name} (${a.id}): ${a.services.map(s => `${a.name}.${s.name}`).join(', ')}\n`)
    return
  }
  const timeoutS = Number(values.timeout ?? 120)
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new CliError('--timeout: seconds, a positive number', 2)
  const started = Date.now()
  const seen = new Map<string, string>()
  // An instance that keeps failing (on one peer, or moved from peer to peer) has failed: say why and stop waiting.
  const failedTimes = new Map<string, number>()
  const log = (line: string): void => { if (values.json !== true) process.stdout.write(line + '\n') }
  log(`deploying ${res.apps.map(a => a.name).join(', ')}: ${services.length} service(s)`)
  for (;;) {
    const views = await Promise.all(services.map(async s => ({ s, v: await apiCall<ServiceView>(t, 'GET', `/api/v1/services/${s.id}`) })))
    let done = true
    const failures: string[] = []
    for (const { s, v } of views) {
      for (const i of v.instances) {
        const where = i.peerName ?? shortId(i.peerId)
        const key = `${s.label}/${i.n}`
        const line = `${i.status}${i.region === null ? '' : ` in ${i.region}`}${i.peerId === null ? '' : ` on ${where}`}`
        if (seen.get(key) !== line) {
          seen.set(key, line)
          if (i.status === 'FAILED') failedTimes.set(key, (failedTimes.get(key) ?? 0) + 1)
          log(`  ${duration(Date.now() - started).padStart(6)}  ${key.padEnd(24)} ${line}${i.reason !== null && !DONE.has(i.status) ? ` (${i.reason})` : ''}`)
        }
        if (!DONE.has(i.status)) done = false
        if (BAD.has(i.status) || (i.status === 'FAILED' && (failedTimes.get(key) ?? 0) >= 3)) failures.push(`${key}: ${i.status}${i.reason === null ? '' : `: ${i.reason}`}`)
      }
    }
    if (failures.length > 0) {
      if (values.json === true) printJson({ apps: res.apps, services: views.map(x => x.v) })
      throw new CliError(`deployment failed: ${failures[0]}${failures.length > 1 ? ` (and ${failures.length - 1} more)` : ''}; see grove explain ${services[0].label}`)
    }
    if (done) {
      if (values.json === true) printJson({ apps: res.apps, services: views.map(x => x.v) })
      else log(`all instances running after ${duration(Date.now() - started)}`)
      return
    }
    if (Date.now() - started > timeoutS * 1000) throw new CliError(`timed out after ${timeoutS} s with instances not running; see grove ps and grove explain ${services[0].label}`)
    await sleep(150)
  }
}

export async function runApps (argv: string[]): Promise<void> {
  const { values } = parse(argv)
  const res = await apiCall<{ apps: AppView[] }>(await target(values), 'GET', '/api/v1/apps')
  if (values.json === true) { printJson(res); return }
  if (res.apps.length === 0) { process.stdout.write('no applications (deploy one with grove deploy FILE.json)\n'); return }
  process.stdout.write(table(['APP', 'ID', 'NAMESPACE', 'SERVICES', 'RUNNING', 'AGE'], res.apps.map(a => {
    const instances = a.services.flatMap(s => s.instances)
    return [a.name, a.id, a.namespace, a.services.map(s => s.name).join(','), `${instances.filter(i => i.status === 'RUNNING').length}/${instances.length}`, age(a.createdAt)]
  })) + '\n')
}

export async function runServices (argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv)
  const res = await apiCall<{ services: ServiceView[] }>(await target(values), 'GET', '/api/v1/services')
  const app = positionals[0]
  const services = app === undefined ? res.services : res.services.filter(s => s.appName === app || s.app === app)
  if (values.json === true) { printJson({ services }); return }
  if (services.length === 0) { process.stdout.write('no services\n'); return }
  process.stdout.write(table(['SERVICE', 'ID', 'REGION', 'REPLICAS', 'RUNNING', 'RR IP', 'CLOSEST IP', 'PORTS', 'RUNTIME', 'IMAGE/CMD'], services.map(s => [
    `${s.appName ?? '?'}.${s.name}`, s.id, s.region ?? '-', String(s.replicas),
    String(s.instances.filter(i => i.status === 'RUNNING').length),
    s.serviceIps.rr ?? '-', s.serviceIps.closest ?? '-',
    s.ports.map(p => `${p.container}/${p.protocol}`).join(',') || '-',
    s.virtualization,
    (s.image ?? s.cmd.join(' ')).slice(0, 40)
  ])) + '\n')
}

export async function runPs (argv: string[]): Promise<void> {
  const { values } = parse(argv)
  const res = await apiCall<{ services: ServiceView[] }>(await target(values), 'GET', '/api/v1/services')
  const rows = res.services.flatMap(s => s.instances.map(i => ({ s, i })))
  if (values.json === true) { printJson({ instances: rows.map(({ s, i }) => ({ service: s.id, name: `${s.appName}.${s.name}`, ...i })) }); return }
  if (rows.length === 0) { process.stdout.write('no instances\n'); return }
  process.stdout.write(table(['INSTANCE', 'STATUS', 'PEER', 'REGION', 'INSTANCE IP', 'AGE', 'RESTARTS', 'ENDPOINT'], rows.map(({ s, i }) => [
    `${s.appName ?? '?'}.${s.name}/${i.n}`, i.status, i.peerName ?? shortId(i.peerId), i.region ?? '-', i.instanceIp ?? '-',
    i.status === 'RUNNING' ? age(i.startedAt) : '-', String(i.restarts),
    i.endpoints.map(e => `${e.host}:${e.port}->${e.containerPort}/${e.protocol}`).join(',') || '-'
  ])) + '\n')
}

export async function runScale (argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv)
  const svc = positional(positionals, 'SVC', 'grove scale SVC N')
  const n = Number(positional(positionals, 'N', 'grove scale SVC N'))
  if (!Number.isInteger(n) || n < 0 || n > 1000) throw new CliError('N: an instance count from 0 to 1000', 2)
  const v = await apiCall<ServiceView>(await target(values), 'POST', `/api/v1/services/${encodeURIComponent(svc)}/scale`, { replicas: n })
  if (values.json === true) printJson(v)
  else process.stdout.write(`${v.appName}.${v.name} scaled to ${v.replicas}\n`)
}

export async function runUndeploy (argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv)
  const ref = positional(positionals, 'APP|SVC', 'grove undeploy APP|SVC')
  const t = await target(values)
  const apps = await apiCall<{ apps: AppView[] }>(t, 'GET', '/api/v1/apps')
  const app = apps.apps.find(a => a.id === ref || a.name === ref)
  if (app !== undefined) {
    await apiCall(t, 'DELETE', `/api/v1/apps/${app.id}`)
    if (values.json === true) printJson({ deleted: app.id })
    else process.stdout.write(`undeployed and removed application ${app.name} (${app.id})\n`)
    return
  }
  const v = await apiCall<ServiceView>(t, 'POST', `/api/v1/services/${encodeURIComponent(ref)}/scale`, { replicas: 0 })
  if (values.json === true) printJson(v)
  else process.stdout.write(`undeployed every instance of ${v.appName}.${v.name}\n`)
}

export async function runLogs (argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { follow: { type: 'boolean', short: 'f' }, tail: { type: 'string' } })
  const ref = positional(positionals, 'SVC', 'grove logs SVC[/N]')
  const slash = ref.lastIndexOf('/')
  const svc = slash > 0 && /^\d+$/.test(ref.slice(slash + 1)) ? ref.slice(0, slash) : ref
  const n = slash > 0 && /^\d+$/.test(ref.slice(slash + 1)) ? Number(ref.slice(slash + 1)) : 0
  const t = await target(values)
  const query = new URLSearchParams()
  if (values.tail !== undefined) query.set('tail', String(values.tail))
  if (values.follow === true) query.set('follow', '1')
  const controller = new AbortController()
  process.once('SIGINT', () => { controller.abort() })
  let res: Response
  try {
    res = await fetch(`${t.url}/api/v1/services/${encodeURIComponent(svc)}/instances/${n}/logs?${query.toString()}`, {
      headers: t.token === undefined ? {} : { authorization: `Bearer ${t.token}` },
      signal: controller.signal
    })
  } catch (err) {
    if ((err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') throw new CliError(t.hint)
    throw new CliError(`cannot reach the daemon: ${(err as Error).message}`)
  }
  if (!res.ok) {
    const body = await res.json().catch(() => ({})) as { error?: { message?: string } }
    throw new CliError(body.error?.message ?? `HTTP ${res.status}`)
  }
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) process.stdout.write(chunk)
  } catch (err) {
    if (!controller.signal.aborted) throw new CliError(`log stream ended: ${(err as Error).message}`)
  }
}

interface ExplainView {
  service: { id: string, name: string }
  schedule: null | { at: number, regions: { ranked: Array<{ region: string, score: number }>, rejected: Array<{ region: string, reason: string }> }, attempts: Array<{ region: string, ok: boolean, placed: number, unplaced: number, explain: string }>, outcome: string }
  owner: null | { region: string, leader: string, term: number, epoch: number }
  instances: Array<{ n: number, status: string, region: string | null, peerName: string | null, reason: string | null }>
}

export async function runExplain (argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv)
  const ref = positional(positionals, 'SVC', 'grove explain SVC')
  const e = await apiCall<ExplainView>(await target(values), 'GET', `/api/v1/services/${encodeURIComponent(ref)}/explain`)
  if (values.json === true) { printJson(e); return }
  const out: string[] = [`service ${e.service.name} (${e.service.id})`]
  if (e.owner !== null) out.push(`held by region ${e.owner.region} (leader ${shortId(e.owner.leader)}, term ${e.owner.term}, epoch ${e.owner.epoch})`)
  if (e.schedule === null) {
    out.push('not scheduled yet')
  } else {
    const s = e.schedule
    out.push(`last scheduled ${duration(Date.now() - s.at)} ago: ${s.outcome}`)
    out.push(`  regions ranked: ${s.regions.ranked.map(r => `${r.region} (${r.score.toFixed(2)})`).join(', ') || 'none'}`)
    for (const r of s.regions.rejected) out.push(`  region ${r.region} rejected: ${r.reason}`)
    for (const a of s.attempts) out.push(`  asked ${a.region}: ${a.ok ? 'accepted' : 'declined'}: ${a.explain}`)
  }
  for (const i of e.instances) out.push(`  instance ${i.n}: ${i.status}${i.region === null ? '' : ` in ${i.region}`}${i.peerName === null ? '' : ` on ${i.peerName}`}${i.reason === null ? '' : ` (${i.reason})`}`)
  process.stdout.write(out.join('\n') + '\n')
}

interface EndpointView { ip: string, port: number, protocol: string, policy: string, svc: string, n?: number, local: { host: string, port: number } }

/** `grove connect SVC [--policy rr|closest|instance:N] [--port P]`: the local address to reach a service at. */
export async function runConnect (argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { policy: { type: 'string' }, port: { type: 'string' } })
  const ref = positional(positionals, 'SVC', 'grove connect SVC [--policy rr|closest|instance:N]')
  const policy = String(values.policy ?? 'rr')
  const m = /^(rr|closest|instance:(\d+))$/.exec(policy)
  if (m === null) throw new CliError(`--policy: rr, closest or instance:N (got "${policy}")`, 2)
  const t = await target(values)
  const svc = await apiCall<ServiceView & { instances: Array<InstanceView & { instanceIp: string | null }> }>(t, 'GET', `/api/v1/services/${encodeURIComponent(ref)}`)
  const ip = m[2] !== undefined
    ? svc.instances.find(i => i.n === Number(m[2]))?.instanceIp
    : policy === 'rr' ? svc.serviceIps.rr : svc.serviceIps.closest
  if (ip == null) throw new CliError(`${svc.appName}.${svc.name} has no ${m[2] !== undefined ? `instance ${m[2]}` : `${policy} IP`} yet`)
  const { endpoints } = await apiCall<{ endpoints: EndpointView[] }>(t, 'GET', '/api/v1/overlay/endpoints')
  const wanted = values.port === undefined ? undefined : Number(values.port)
  if (wanted !== undefined && !Number.isInteger(wanted)) throw new CliError('--port: a port number', 2)
  const e = endpoints.find(x => x.ip === ip && (wanted === undefined || x.port === wanted))
  if (e === undefined) throw new CliError(`this peer has no listener for ${ip}${wanted === undefined ? '' : `:${wanted}`} yet (the service declares no port, or its routes are still arriving)`)
  if (values.json === true) printJson({ service: svc.id, policy, ip, port: e.port, protocol: e.protocol, host: e.local.host, localPort: e.local.port })
  else process.stdout.write(`${e.local.host}:${e.local.port}\n`)
}
