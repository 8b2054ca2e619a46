// Decisions in words, for the API, the CLI and the logs: "placed 2 of 3 instances; not placed: 1. Rejected nodes:
// 3 × insufficient memory, 1 × runtime missing (docker)".
import { runtimeFor } from './filters/common.js'
import type { Decision, RegionRanking, RejectReason, ServiceSpec } from './types.js'

const TEXT: Record<RejectReason, string> = {
  excluded: 'excluded by the caller',
  runtime: 'runtime missing',
  arch: 'architecture not allowed',
  'direct-cluster': 'not in the required region',
  'direct-node': 'not a listed node',
  cpu: 'insufficient cpu',
  memory: 'insufficient memory',
  gpu: 'insufficient gpu',
  disk: 'insufficient disk',
  geo: 'too far from the geo target',
  latency: 'too slow to reach the area',
  connectivity: 'too slow to reach a connected service',
  stale: 'stale summary',
  'unknown-area': 'unknown area'
}

/** The order reasons are listed in when their counts tie: the order of the filter chain. */
const ORDER = Object.keys(TEXT) as RejectReason[]

/**
 * One reason in words. With the spec, the reasons that depend on it name what was asked: "runtime missing (docker)",
 * "architecture not allowed (arm64)", "unknown area (berlin)".
 */
export function reasonText (reason: RejectReason, spec?: ServiceSpec): string {
  const text = TEXT[reason] ?? reason
  if (spec === undefined) return text
  switch (reason) {
    case 'runtime': return `${text} (${runtimeFor(spec)})`
    case 'arch': return spec.arch.length > 0 ? `${text} (${spec.arch.join(', ')})` : text
    case 'unknown-area': {
      const names = spec.constraints.flatMap(c => (c.type === 'geo' || c.type === 'latency') && c.area !== undefined ? [c.area] : [])
      return names.length > 0 ? `${text} (${[...new Set(names)].join(', ')})` : text
    }
    default: return text
  }
}

/** "3 × insufficient memory, 1 × runtime missing": most frequent first, then in chain order. */
function countsText (counts: Partial<Record<RejectReason, number>>, spec?: ServiceSpec): string {
  const entries = ORDER
    .map(r => [r, counts[r] ?? 0] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
  if (entries.length === 0) return 'none'
  return entries.map(([r, n]) => `${n} × ${reasonText(r, spec)}`).join(', ')
}

/**
 * A decision in one line: how many of `count` instances were placed and, when nodes were rejected, how many for
 * what. Pass the spec to name the missing runtime or architecture.
 */
export function explainDecision (d: Decision, count: number, spec?: ServiceSpec): string {
  const placed = d.chosen.length
  let text = `placed ${placed} of ${count} instance${count === 1 ? '' : 's'}`
  if (d.unplaced > 0) text += `; not placed: ${d.unplaced}`
  const rejected = countsText(d.rejected, spec)
  if (rejected !== 'none' || d.unplaced > 0) text += `. Rejected nodes: ${rejected}`
  return text
}

/** A region ranking in one line: "2 regions feasible (eu-west, eu-north); rejected: 1 × insufficient memory". */
export function explainRanking (r: RegionRanking, spec?: ServiceSpec): string {
  const counts: Partial<Record<RejectReason, number>> = {}
  for (const { reason } of r.rejected) counts[reason] = (counts[reason] ?? 0) + 1
  const n = r.ranked.length
  let text = `${n} region${n === 1 ? '' : 's'} feasible`
  if (n > 0) text += ` (${r.ranked.map(x => x.region).join(', ')})`
  if (r.rejected.length > 0) text += `; rejected: ${countsText(counts, spec)}`
  return text
}
