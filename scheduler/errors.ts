// The scheduler folder's errors, told apart by `.name` (and a stable `.code` for the API).

/**
 * An SLA that Grove refuses. `path` names the first offending field the way the user wrote it
 * (`applications[0].microservices[1].memory`, or '' for the document itself), and the message is one line:
 * `<path>: <reason> (got <short JSON of the value>)`.
 */
export class SlaError extends Error {
  static readonly NAME = 'SlaError'
  override name = SlaError.NAME
  readonly code = 'invalid_sla' as const
  readonly path: string
  readonly reason: string

  constructor (path: string, reason: string, value: unknown) {
    super(`${path === '' ? '(document)' : path}: ${reason} (got ${shortJson(value)})`)
    this.path = path
    this.reason = reason
  }
}

/** A value as compact JSON for an error message, cut to `max` characters; `nothing` for a missing value. */
export function shortJson (value: unknown, max = 60): string {
  if (value === undefined) return 'nothing'
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = String(value)
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}
