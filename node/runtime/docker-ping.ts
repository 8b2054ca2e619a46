// "Is a Docker engine there?", asked without dockerode. Loading dockerode pulls in ssh2, whose WebAssembly
// poly1305 costs every daemon ~15 MiB of resident memory; a daemon only needs it once it drives containers. So
// the resource monitor's periodic probe, and the Docker runtime's checks before it first talks to the engine, send
// a plain `GET /_ping` to the place dockerode would go:
//
//   an explicit socketPath → that socket;
//   DOCKER_HOST unix:///path → that socket; tcp://host:port (no TLS) → HTTP there;
//   DOCKER_HOST with TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) or another scheme → undefined: let dockerode ask;
//   no DOCKER_HOST → /var/run/docker.sock.
import { request } from 'node:http'

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock'

/** Where a plain HTTP ping reaches the engine. */
export type EngineAddress = { socketPath: string } | { host: string, port: number }

/** Where `GET /_ping` goes, or undefined when only dockerode knows how to reach the engine (TLS, ssh, npipe). */
export function engineAddress (socketPath: string | undefined, env: NodeJS.ProcessEnv = process.env): EngineAddress | undefined {
  if (socketPath !== undefined) return { socketPath }
  const host = env.DOCKER_HOST
  if (host === undefined || host === '') return { socketPath: DEFAULT_DOCKER_SOCKET }
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) }
  const tls = (env.DOCKER_TLS_VERIFY ?? '') !== '' || (env.DOCKER_CERT_PATH ?? '') !== ''
  if (!host.startsWith('tcp://') || tls) return undefined
  try {
    const url = new URL(`http://${host.slice('tcp://'.length)}`)
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 2375 : Number(url.port) }
  } catch {
    return undefined
  }
}

/** True when the engine at `at` answers `GET /_ping` with 200 before the signal aborts; false otherwise. Never rejects. */
export async function pingEngine (at: EngineAddress, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false
  return await new Promise<boolean>(resolve => {
    const req = request({ ...at, path: '/_ping', method: 'GET', signal, headers: { host: 'docker' } }, res => {
      res.resume()
      res.once('end', () => { resolve(res.statusCode === 200) })
      res.once('error', () => { resolve(false) })
    })
    req.once('error', () => { resolve(false) })
    req.end()
  })
}
