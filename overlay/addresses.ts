// Service and instance IPs in 10.30.0.0/16, Oakestra's range. Pure: no I/O, no clock, no randomness.
//
// Every address is claimed by one `sip/<ip>` record in the replicated state (an IpClaim). A service needs an rr IP,
// a closest IP and one instance IP per instance number; `plannedClaims()` lists the ones it still lacks.
//
// Determinism. Candidates are a hash of a seed (`<svc>/rr`, `<svc>/closest`, `<svc>/<n>`) and an attempt number, so
// two peers that plan for the same service over the same claims compute the same IPs and write identical claims:
// the LWW merge of two identical values is harmless.
//
// Collisions. Two *different* services planned at the same time on peers that had not seen each other's claims can
// pick the same free IP. Both write `sip/<ip>`; the replicated map keeps one value per key (last writer wins), so
// one service keeps the IP and the other loses its claim. The caller resolves this by re-planning on every `sip/`
// change: the loser's `claimsOf()` no longer contains the IP, the IP is now taken, and `plannedClaims()` gives it
// the next free candidate. Nothing routes to a half-claimed address meanwhile, because routes are built from the
// winning claims only.
import { createHash } from 'node:crypto'
import type { IpClaim, ServiceRecord } from '../node/deploy/records.js'
import { AddressRangeExhaustedError } from './errors.js'

/** 10.30.0.0 as an integer. */
export const RANGE_BASE = (10 << 24 | 30 << 16) >>> 0
export const RANGE_PREFIX_LENGTH = 16
/** Usable addresses: every third octet, last octets 1..254 (.0 and .255 are skipped, as broadcast-looking). */
export const RANGE_SIZE = 256 * 254

/** Hash probes before falling back to a linear scan, which finds the last free address of a nearly full range. */
const MAX_PROBES = 64

/** The IPv4 dotted quad as an unsigned 32-bit integer, or undefined when it is not one. */
export function ipToInt (ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip)
  if (m === null) return undefined
  let n = 0
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i])
    if (octet > 255 || (m[i].length > 1 && m[i].startsWith('0'))) return undefined
    n = n * 256 + octet
  }
  return n
}

export function intToIp (n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/** Whether `ip` is inside 10.30.0.0/16 (any address, including .0 and .255 last octets). */
export function inServiceRange (ip: string): boolean {
  const n = ipToInt(ip)
  return n !== undefined && (n & 0xffff0000) >>> 0 === RANGE_BASE
}

/** Whether `ip` is an address this module would hand out: inside the range, last octet 1..254. */
export function isAllocatable (ip: string): boolean {
  const n = ipToInt(ip)
  if (n === undefined || !inServiceRange(ip)) return false
  const last = n & 255
  return last !== 0 && last !== 255
}

/** The i-th allocatable address, 0 <= i < RANGE_SIZE. */
function nth (i: number): string {
  return intToIp(RANGE_BASE + Math.floor(i / 254) * 256 + (i % 254) + 1)
}

function candidateIndex (seed: string, attempt: number): number {
  const digest = createHash('sha256').update(`${seed}\u0000${attempt}`).digest()
  return digest.readUInt32BE(0) % RANGE_SIZE
}

/** The attempt-th candidate for `seed`: the same on every peer, spread over 10.30.0.1–10.30.255.254. */
export function candidateIp (seed: string, attempt: number): string {
  return nth(candidateIndex(seed, attempt))
}

/**
 * The first free candidate for `seed`. After a few hash probes it scans the range linearly from the first
 * candidate, so it still finds the last free address, and stays deterministic.
 * @throws AddressRangeExhaustedError when no address is free
 */
export function allocate (taken: ReadonlySet<string>, seed: string): string {
  for (let attempt = 0; attempt < MAX_PROBES; attempt++) {
    const ip = candidateIp(seed, attempt)
    if (!taken.has(ip)) return ip
  }
  const start = candidateIndex(seed, 0)
  for (let k = 1; k < RANGE_SIZE; k++) {
    const ip = nth((start + k) % RANGE_SIZE)
    if (!taken.has(ip)) return ip
  }
  throw new AddressRangeExhaustedError(`no free address left in 10.30.0.0/16 for ${seed}`)
}

export interface ServiceClaims {
  rr?: string
  closest?: string
  /** Instance number → instance IP. */
  instances: Map<number, string>
}

/** Orders duplicate claims of one role: the oldest wins, then the lowest address, the same on every peer. */
function older (a: IpClaim, b: IpClaim): boolean {
  if (a.at !== b.at) return a.at < b.at
  return (ipToInt(a.ip) ?? 0) < (ipToInt(b.ip) ?? 0)
}

/**
 * The addresses a service holds. A role claimed twice (a re-plan raced with an older claim) resolves to the oldest
 * claim, so every peer agrees which one is the service's.
 */
export function claimsOf (svcId: string, claims: readonly IpClaim[]): ServiceClaims {
  let rr: IpClaim | undefined
  let closest: IpClaim | undefined
  const instances = new Map<number, IpClaim>()
  for (const c of claims) {
    if (c.svc !== svcId) continue
    if (c.kind === 'rr') {
      if (rr === undefined || older(c, rr)) rr = c
    } else if (c.kind === 'closest') {
      if (closest === undefined || older(c, closest)) closest = c
    } else if (c.n !== undefined) {
      const prev = instances.get(c.n)
      if (prev === undefined || older(c, prev)) instances.set(c.n, c)
    }
  }
  return {
    ...(rr === undefined ? {} : { rr: rr.ip }),
    ...(closest === undefined ? {} : { closest: closest.ip }),
    instances: new Map([...instances].map(([n, c]) => [n, c.ip]))
  }
}

export interface PlannedClaims {
  /** Claims to write, each under `sip/<ip>`. */
  claims: IpClaim[]
  /** Why an address the SLA asked for was not used; the service still gets an allocated one. */
  problems: string[]
}

/**
 * The claims `svc` still needs: its rr and closest IPs, and one instance IP per number in `svc.instances`. An
 * address given in the SLA (`spec.addresses.rrIp`, `closestIp`) is used when it is a free address of the range;
 * otherwise a problem names it and an address is allocated instead (the caller may treat problems as fatal).
 * Never returns an IP that is already claimed, nor the same IP twice.
 */
export function plannedClaims (svc: ServiceRecord, claims: readonly IpClaim[], opts: { by: string, at: number }): PlannedClaims {
  const have = claimsOf(svc.id, claims)
  const owner = new Map(claims.map(c => [c.ip, c]))
  const taken = new Set(owner.keys())
  const out: IpClaim[] = []
  const problems: string[] = []

  const claim = (ip: string, kind: IpClaim['kind'], n?: number): void => {
    taken.add(ip)
    out.push({ ip, svc: svc.id, kind, ...(n === undefined ? {} : { n }), by: opts.by, at: opts.at })
  }

  const serviceIp = (kind: 'rr' | 'closest', wanted: string | undefined): void => {
    if (have[kind] !== undefined) return
    const field = kind === 'rr' ? 'spec.addresses.rrIp' : 'spec.addresses.closestIp'
    if (wanted !== undefined) {
      if (!isAllocatable(wanted)) {
        problems.push(`${field} ${wanted} is not an address of 10.30.0.0/16 (last octet 1..254)`)
      } else if (taken.has(wanted)) {
        const holder = owner.get(wanted)
        problems.push(holder === undefined
          ? `${field} ${wanted} is already used by this service`
          : `${field} ${wanted} is taken by service ${holder.svc} (${holder.kind}${holder.n === undefined ? '' : ` ${holder.n}`})`)
      } else {
        claim(wanted, kind)
        return
      }
    }
    claim(allocate(taken, `${svc.id}/${kind}`), kind)
  }

  serviceIp('rr', svc.spec.addresses.rrIp)
  serviceIp('closest', svc.spec.addresses.closestIp)
  for (const n of [...new Set(svc.instances)].sort((a, b) => a - b)) {
    if (have.instances.has(n)) continue
    claim(allocate(taken, `${svc.id}/${n}`), 'instance', n)
  }
  return { claims: out, problems }
}
