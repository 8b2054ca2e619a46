// The overlay's API: which local address serves each service IP on this peer, and the flows through it.
import { ApiError } from './errors.js'
import type { Route } from './routes.js'
import type { Peer } from '../peer.js'

function overlayOf (peer: Peer): NonNullable<Peer['overlay']> {
  if (peer.overlay === undefined) throw new ApiError('not_found', 'the service proxy is off on this peer (start the daemon with --overlay unprivileged or privileged)')
  return peer.overlay
}

export function overlayRoutes (): Route[] {
  return [
    {
      method: 'GET',
      pattern: /^\/api\/v1\/overlay\/endpoints$/,
      handler: ({ peer }) => {
        const overlay = overlayOf(peer)
        return { mode: peer.config.overlay, endpoints: overlay.endpoints() }
      }
    },
    {
      method: 'GET',
      pattern: /^\/api\/v1\/overlay\/flows$/,
      handler: ({ peer }) => {
        const overlay = overlayOf(peer)
        return { flows: overlay.flows(), paths: overlay.pathCounts() }
      }
    }
  ]
}
