// The HTTP API: node:http and a small route table. A framework would add several MiB of RSS to a daemon whose budget
// is 90 MiB, for a dozen routes. Every /api/ call and /metrics need the bearer token from <data-dir>/api-token.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { timingSafeEqual } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { ApiError } from './errors.js'
import { routes, type Route, type RouteContext } from './routes.js'
import type { Peer } from '../peer.js'
import { logger } from '../log.js'

const log = logger('api')
const MAX_BODY = 1024 * 1024

export interface ApiServerInit {
  peer: Peer
  host: string
  port: number
  token: string
  metricsOpen: boolean
}

export class ApiServer {
  private server: Server | undefined
  private readonly table: Route[]

  constructor (private readonly init: ApiServerInit) {
    this.table = routes()
  }

  get address (): string {
    const a = this.server?.address() as AddressInfo | null | undefined
    if (a == null) return `${this.init.host}:${this.init.port}`
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`
  }

  async start (): Promise<void> {
    const server = createServer((req, res) => { void this.serve(req, res) })
    server.keepAliveTimeout = 5000
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'EADDRINUSE'
          ? new Error(`--api: ${this.init.host}:${this.init.port} is already in use (is another grove daemon running? pick another port with --api)`)
          : err)
      })
      server.listen(this.init.port, this.init.host, () => { resolve() })
    })
    this.server = server
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => { resolve() }))
  }

  private authorized (req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? ''
    const m = /^Bearer\s+(\S+)$/i.exec(header)
    if (m === null) return false
    const given = Buffer.from(m[1])
    const want = Buffer.from(this.init.token)
    return given.length === want.length && timingSafeEqual(given, want)
  }

  private async serve (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    try {
      const needsToken = (url.pathname.startsWith('/api/') && url.pathname !== '/api/auth/login') || (url.pathname === '/metrics' && !this.init.metricsOpen)
      if (needsToken && !this.authorized(req)) {
        throw new ApiError('unauthorized', 'missing or wrong bearer token: send "Authorization: Bearer <token>" with the token from <data-dir>/api-token')
      }
      const match = this.match(req.method ?? 'GET', url.pathname)
      const body = await readBody(req)
      const ctx: RouteContext = { peer: this.init.peer, params: match.params, query: url.searchParams, body }
      const result = await match.route.handler(ctx)
      if (typeof result === 'object' && result !== null && 'stream' in result) {
        await this.stream(req, res, result as { stream: (signal: AbortSignal) => AsyncIterable<string>, contentType: string })
        return
      }
      if (typeof result === 'object' && result !== null && 'raw' in result) {
        const raw = result as { raw: string, contentType: string }
        res.writeHead(200, { 'content-type': raw.contentType })
        res.end(raw.raw)
        return
      }
      send(res, match.route.status ?? 200, result)
    } catch (err) {
      const apiError = err instanceof ApiError ? err : new ApiError('internal', (err as Error).message)
      if (apiError.code === 'internal') log.error('%s %s failed: %s', req.method, url.pathname, (err as Error).stack)
      send(res, apiError.status, apiError.toJSON())
    }
  }

  /** Streams lines (logs) until the source ends or the client goes away. */
  private async stream (req: IncomingMessage, res: ServerResponse, result: { stream: (signal: AbortSignal) => AsyncIterable<string>, contentType: string }): Promise<void> {
    const controller = new AbortController()
    res.on('close', () => { controller.abort() })
    let started = false
    try {
      for await (const line of result.stream(controller.signal)) {
        if (!started) {
          res.writeHead(200, { 'content-type': result.contentType })
          started = true
        }
        if (!res.write(line + '\n')) await new Promise(resolve => res.once('drain', resolve))
      }
      if (!started) res.writeHead(200, { 'content-type': result.contentType })
      res.end()
    } catch (err) {
      if (controller.signal.aborted) return
      if (!started) {
        send(res, 502, new ApiError('region_unreachable', `cannot read the logs: ${(err as Error).message}`).toJSON())
      } else {
        res.end(`\n[grove: log stream ended: ${(err as Error).message}]\n`)
      }
    }
  }

  private match (method: string, path: string): { route: Route, params: Record<string, string> } {
    let pathMatched = false
    for (const route of this.table) {
      const m = route.pattern.exec(path)
      if (m === null) continue
      pathMatched = true
      if (route.method !== method) continue
      return { route, params: m.groups ?? {} }
    }
    if (pathMatched) throw new ApiError('method_not_allowed', `${method} is not allowed on ${path}`)
    throw new ApiError('not_found', `no such endpoint: ${method} ${path}`)
  }
}

function send (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

async function readBody (req: IncomingMessage): Promise<unknown> {
  if (req.method === 'GET' || req.method === 'HEAD') {
    req.resume()
    return undefined
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY) throw new ApiError('payload_too_large', `request body larger than ${MAX_BODY} bytes`)
    chunks.push(chunk as Buffer)
  }
  if (size === 0) return undefined
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch (err) {
    throw new ApiError('bad_request', `request body is not valid JSON: ${(err as Error).message}`)
  }
}
