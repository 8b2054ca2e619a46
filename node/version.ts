// The package's root directory and version, found once by walking up from this file to grove's package.json. The
// walk works from node/ (tsx), dist/node/ (tsc) and dist/cli/chunks/ (the bundle) alike.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findPackage (): { root: string, version: string } | undefined {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'grove' && typeof pkg.version === 'string') return { root: dir, version: pkg.version }
    } catch {}
    dir = dirname(dir)
  }
  return undefined
}

const found = findPackage()

export const VERSION = found?.version ?? '0.0.0'

/** Grove's root directory (where package.json is); undefined when this file was copied out of the package. */
export const PACKAGE_ROOT: string | undefined = found?.root
