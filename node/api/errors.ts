// The API's error catalogue: a stable code per kind of failure, the HTTP status it maps to, and the JSON body
// `{ error: { code, message, path? } }` that clients (and the CLI) read.

export type ErrorCode =
  | 'unauthorized'
  | 'not_found'
  | 'method_not_allowed'
  | 'bad_request'
  | 'unknown_region'
  | 'region_unreachable'
  | 'payload_too_large'
  | 'invalid_sla'
  | 'undeployable'
  | 'conflict'
  | 'internal'

const STATUS: Record<ErrorCode, number> = {
  unauthorized: 401,
  not_found: 404,
  method_not_allowed: 405,
  bad_request: 400,
  unknown_region: 404,
  region_unreachable: 502,
  payload_too_large: 413,
  invalid_sla: 400,
  undeployable: 422,
  conflict: 409,
  internal: 500
}

export class ApiError extends Error {
  static readonly NAME = 'ApiError'
  override name = ApiError.NAME

  constructor (readonly code: ErrorCode, message: string, readonly path?: string) {
    super(message)
  }

  get status (): number { return STATUS[this.code] }

  toJSON (): { error: { code: ErrorCode, message: string, path?: string } } {
    return { error: { code: this.code, message: this.message, ...(this.path === undefined ? {} : { path: this.path }) } }
  }
}
