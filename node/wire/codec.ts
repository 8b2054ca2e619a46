// JSON codec with byte limits. Every message that crosses the network is decoded here and then checked against
// its schema: the result is either a typed value or a WireError that says which field was wrong.
import type { z } from 'zod'

export class WireError extends Error {
  static readonly NAME = 'WireError'
  override name = WireError.NAME
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function encode (value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value))
}

/** Decodes and validates; throws WireError naming the first bad field. */
export function decode<S extends z.ZodType> (bytes: Uint8Array, schema: S, maxBytes: number): z.infer<S> {
  if (bytes.byteLength > maxBytes) throw new WireError(`message of ${bytes.byteLength} bytes exceeds the limit of ${maxBytes}`)
  let raw: unknown
  try {
    raw = JSON.parse(decoder.decode(bytes))
  } catch {
    throw new WireError('message is not valid UTF-8 JSON')
  }
  const parsed = schema.safeParse(raw)
  if (!parsed.success) throw new WireError(describeIssue(parsed.error))
  return parsed.data
}

/** "field.path: message" for the first issue of a zod error. */
export function describeIssue (error: z.ZodError): string {
  const issue = error.issues[0]
  if (issue === undefined) return 'invalid message'
  const path = issue.path.map((p, i) => typeof p === 'number' ? `[${p}]` : (i === 0 ? String(p) : `.${String(p)}`)).join('')
  return path === '' ? issue.message : `${path}: ${issue.message}`
}
