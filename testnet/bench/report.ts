// Shared helpers for the benchmark suites: statistics, the printed table, progress lines and the JSON results that a
// later run can be compared with.
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { groveBin } from '../daemons.js'

/**
 * The p-th percentile (0..100) by linear interpolation between the closest ranks, so that the median of an even
 * count is the mean of the middle two. NaN for no samples, so that an empty measure cannot pass as 0.
 */
export function percentile (samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = (p / 100) * (sorted.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.ceil(rank)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo)
}

export function median (samples: readonly number[]): number {
  return percentile(samples, 50)
}

export function max (samples: readonly number[]): number {
  return samples.length === 0 ? NaN : Math.max(...samples)
}

/** One measure as the JSON keeps it: the statistics next to the target they were judged against. */
export interface Summary {
  measure: string
  unit: string
  n: number
  median: number
  p90: number
  max: number
  /** The upper bound the measure must stay within; null for figures printed for information only. */
  target: number | null
  /** Which statistic the target applies to. */
  judgedOn: 'median' | 'max'
  pass: boolean | null
  /** Runs that never completed, counted at their timeout. */
  timedOut?: number
}

export function summarise (measure: string, unit: string, samples: readonly number[], target: number | null, judgedOn: 'median' | 'max'): Summary {
  const m = median(samples)
  const top = max(samples)
  const judged = judgedOn === 'median' ? m : top
  return {
    measure,
    unit,
    n: samples.length,
    median: m,
    p90: percentile(samples, 90),
    max: top,
    target,
    judgedOn,
    // NaN (no samples) fails rather than passes: a measure that produced nothing has not met its target.
    pass: target === null ? null : Number.isFinite(judged) && judged <= target
  }
}

/** A plain-text table with aligned columns, in Markdown's pipe syntax so that it pastes into docs as it is. */
export function formatTable (headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  return [line(headers), `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n')
}

export interface Progress {
  /** One line of progress. */
  (message: string): void
  /**
   * A line that updates in place on a terminal. Elsewhere (a log file, CI) only the updates marked `keep` are
   * printed, so that a 300 s soak does not write 300 lines.
   */
  live: (message: string, keep: boolean) => void
}

/** Progress goes to stderr, so that stdout carries only the table and can be redirected on its own. */
export function progress (suite: string): Progress {
  const tty = process.stderr.isTTY
  let open = false
  const say = ((message: string) => {
    if (open) process.stderr.write('\n')
    open = false
    process.stderr.write(`[${suite}] ${message}\n`)
  }) as Progress
  say.live = (message, keep) => {
    if (tty) {
      process.stderr.write(`\r\x1b[K[${suite}] ${message}`)
      // The line stays open: the next update overwrites it, the next say() ends it.
      open = true
    } else if (keep) {
      process.stderr.write(`[${suite}] ${message}\n`)
    }
  }
  return say
}

/** bench-results/ at the repository root, wherever the benchmark runs from (dist/ or tsx). */
export function resultsDir (): string {
  // groveBin() is <root>/dist/cli/grove.js in both cases.
  return resolve(groveBin(), '..', '..', '..', 'bench-results')
}

/**
 * Writes `<suite>-<timestamp>.json`, and `<suite>-latest.json` unless the run did not complete (a partial run must
 * not become the figure the next run is compared with). The timestamp is ISO 8601 with the colons replaced by
 * dashes, which some file systems and tools refuse.
 */
export async function writeResults (suite: string, data: unknown, opts: { complete: boolean }): Promise<string[]> {
  const dir = resultsDir()
  await mkdir(dir, { recursive: true })
  const stamp = new Date().toISOString().replaceAll(':', '-')
  const text = JSON.stringify(data, null, 2) + '\n'
  const paths = [join(dir, `${suite}-${stamp}.json`)]
  if (opts.complete) paths.push(join(dir, `${suite}-latest.json`))
  for (const path of paths) await writeFile(path, text)
  return paths
}

/** A bad command line: main prints the message and the usage, and exits 2. */
export class UsageError extends Error {
  static readonly NAME = 'UsageError'
  override name = UsageError.NAME
}
