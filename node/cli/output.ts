// Output helpers shared by the CLI commands: aligned tables, sizes, durations, and the one-line error.

export class CliError extends Error {
  static readonly NAME = 'CliError'
  override name = CliError.NAME
  /** Exit status: 2 for bad usage or options, 1 for everything else. */
  constructor (message: string, readonly exitCode = 1) {
    super(message)
  }
}

export function table (headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i])).join('  ').trimEnd()
  return [line(headers), ...rows.map(line)].join('\n')
}

export function bytes (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${n >= 100 || i === 0 ? Math.round(n) : n.toFixed(1)}${units[i]}`
}

export function duration (ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`
  const m = s / 60
  if (m < 60) return `${Math.floor(m)}m${Math.floor(s % 60)}s`
  const h = m / 60
  if (h < 48) return `${Math.floor(h)}h${Math.floor(m % 60)}m`
  return `${Math.floor(h / 24)}d`
}

export function shortId (peerId: string | null | undefined): string {
  if (peerId == null) return '-'
  return peerId.length > 12 ? `…${peerId.slice(-8)}` : peerId
}

export function printJson (value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}
