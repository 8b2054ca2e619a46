// Loads dockerode without ssh2. dockerode's docker-modem requires its ssh transport (lib/ssh.js) at load time, which
// requires ssh2, which instantiates a WebAssembly poly1305 at once: ~15 MiB resident in every daemon that drives
// Docker, for a transport (DOCKER_HOST=ssh://...) that is used only when asked for. So before dockerode is required,
// docker-modem's lib/ssh.js is put in the module cache as a stand-in that loads the real one on its first call.
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import type Docker from 'dockerode'

const require = createRequire(import.meta.url)

let loaded: typeof Docker | undefined

/** dockerode's class, required on the first call. */
export function loadDockerode (): typeof Docker {
  if (loaded !== undefined) return loaded
  try {
    const modem = dirname(require.resolve('docker-modem', { paths: [dirname(require.resolve('dockerode'))] }))
    const sshPath = require.resolve('./ssh.js', { paths: [modem] })
    if (require.cache[sshPath] === undefined) {
      const standIn = function (this: unknown, ...args: unknown[]): unknown {
        // First use of the ssh transport: load the real module in place of the stand-in, and hand over to it.
        delete require.cache[sshPath]
        const real = require(sshPath) as (...a: unknown[]) => unknown
        return real.apply(this, args)
      }
      require.cache[sshPath] = { id: sshPath, filename: sshPath, loaded: true, exports: standIn, children: [], paths: [] } as unknown as NodeJS.Module
    }
  } catch {
    // A dockerode laid out differently: load it as it is, ssh2 and all.
  }
  loaded = require('dockerode') as typeof Docker
  return loaded
}
