// The libp2p host: TCP, Noise, Yamux, identify, ping, gossipsub and a private kad-dht, plus the optional swarm-key
// connection protector. Everything Grove-specific on top of it lives in the membership, election and regions
// services.
import './polyfill.js'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify, type Identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { kadDHT, type KadDHT } from '@libp2p/kad-dht'
import { bootstrap } from '@libp2p/bootstrap'
import { preSharedKey } from '@libp2p/pnet'
import { circuitRelayServer, circuitRelayTransport, type CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { isLoopback } from '@libp2p/utils'
import type { ConnectionProtector, PeerInfo, PrivateKey } from '@libp2p/interface'
import { delayingProtector, type DelaySpec } from './emulate-delay.js'
import { chunkedProtector } from './pnet-chunks.js'
import { applyPatches } from './patches.js'
import type { Datastore } from 'interface-datastore'
import { DHT_PROTOCOL } from './protocols.js'
import { directoryValidator, directorySelector } from '../bootstrap/directory.js'

export type GroveServices = {
  identify: Identify
  ping: Ping
  pubsub: GossipSub
  dht: KadDHT
  relay: CircuitRelayService
}

export type GroveLibp2p = Libp2p<GroveServices>

export interface HostInit {
  privateKey: PrivateKey
  datastore: Datastore
  listen: string[]
  /** Multiaddrs with /p2p/<id> to dial at start. */
  bootstrap: string[]
  /** Gossipsub heartbeat in ms. */
  gossipHeartbeatMs: number
  dialTimeoutMs: number
  /** The mesh's pre-shared key in @libp2p/pnet's file format; peers without it cannot connect. */
  swarmKey?: Uint8Array
  /** Testnet latency emulation (GROVE_EMULATE_DELAY). */
  delay?: DelaySpec
  /**
   * Dial only these peers (GROVE_DIAL_ONLY): emulates a peer behind a firewall that lets it reach its relay and
   * nothing else, so the others can only reach it through the relay. For tests and drills.
   */
  dialOnly?: string[]
}

function protector (init: HostInit): ((components: unknown) => ConnectionProtector) | undefined {
  const psk = init.swarmKey === undefined ? undefined : chunkedProtector(preSharedKey({ psk: init.swarmKey }) as (components: unknown) => ConnectionProtector)
  return init.delay === undefined ? psk : delayingProtector(init.delay, psk)
}

/**
 * Keeps a peer's loopback addresses only when it has no other kind. On one host (a testnet) every peer listens on
 * 127.0.0.1 and must keep it; on a LAN a remote peer's 127.0.0.1 would point at ourselves, so it is dropped.
 * Private LAN addresses are kept either way: the kad-dht default mapper removes them, which leaves the routing
 * table empty on a LAN.
 */
export function lanAndLoopbackMapper (info: PeerInfo): PeerInfo {
  const others = info.multiaddrs.filter(ma => !isLoopback(ma))
  return others.length > 0 ? { ...info, multiaddrs: others } : info
}

export async function createHost (init: HostInit): Promise<GroveLibp2p> {
  applyPatches()
  return await createLibp2p<GroveServices>({
    privateKey: init.privateKey,
    datastore: init.datastore,
    start: false,
    addresses: { listen: init.listen },
    // The relay transport lets a peer that cannot be dialled directly (behind NAT, or listening only on
    // /p2p-circuit) be reached through any peer that runs the relay service: the overlay's tunnel fallback.
    transports: [tcp(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: protector(init) as never,
    connectionManager: { dialTimeout: init.dialTimeoutMs },
    connectionGater: init.dialOnly === undefined
      ? undefined
      : { denyDialPeer: (peer: { toString: () => string }) => !init.dialOnly!.includes(peer.toString()) },
    // libp2p's connection monitor pings every connection on its own streams; Grove's probes already watch the
    // peers that matter, and a lost connection is reported by the transport. Off, it saves about 1 KB/s per peer.
    connectionMonitor: { enabled: false },
    peerDiscovery: init.bootstrap.length > 0 ? [bootstrap({ list: init.bootstrap, timeout: 50 })] : [],
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        // Regions are small meshes of peers that are all connected to each other. A low degree keeps the
        // duplicate deliveries of every heartbeat (and so the control traffic) down, and no IHAVE gossip is sent
        // to peers outside the mesh; /grove/sync and the state sync repair whatever gossip loses.
        D: 2,
        Dlo: 1,
        Dhi: 3,
        Dout: 0,
        Dlazy: 0,
        gossipFactor: 0,
        floodPublish: false,
        heartbeatInterval: init.gossipHeartbeatMs,
        globalSignaturePolicy: 'StrictSign',
        // Gossipsub's IP-colocation penalty (P6) is a Sybil defence for public networks: more than 10 peers on one
        // address push each other's scores below the gossip and publish thresholds. Peers of a testnet share
        // 127.0.0.1, and several daemons may share a host's LAN address; in a mesh that only members can join, the
        // penalty would only silence healthy peers.
        scoreParams: { IPColocationFactorWeight: 0 },
        maxInboundDataLength: 256 * 1024
      }),
      // Every peer can relay. In a private mesh only members can reach it at all (the swarm key), so the default
      // limits (128 KiB, 2 minutes per relayed connection: enough for hole punching, useless for a data tunnel) are
      // lifted; a public mesh keeps them.
      relay: circuitRelayServer({
        reservations: { applyDefaultLimit: init.swarmKey === undefined, maxReservations: 256 },
        maxInboundHopStreams: 256,
        maxOutboundStopStreams: 256
      }),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        peerInfoMapper: lanAndLoopbackMapper,
        validators: { grove: directoryValidator },
        selectors: { grove: directorySelector },
        initialQuerySelfInterval: 500
      })
    }
  })
}
