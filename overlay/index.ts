// The semantic overlay network: service and instance IPs in 10.30.0.0/16, a service proxy on every peer, and the
// /grove/overlay/{tcp,udp}/1.0.0 stream protocols that carry flows to the peer hosting the chosen instance.
// Other folders import the overlay from here only.
export { Overlay } from './proxy.js'
export type { OverlayInit, OverlayLibp2p, OverlayEndpoint, OverlayFlow, PathCounts } from './proxy.js'
export {
  RANGE_BASE, RANGE_SIZE, allocate, candidateIp, claimsOf, inServiceRange, intToIp, ipToInt, isAllocatable, plannedClaims
} from './addresses.js'
export type { PlannedClaims, ServiceClaims } from './addresses.js'
export { Picker, buildRoutes, endpointFor, resolveLocal } from './routes.js'
export type { Backend, PickContext, Protocol, Route, RouteInput, RouteKind } from './routes.js'
export { MAX_OVERLAY_STREAMS, STREAM_OPTIONS, openTcp, pathOf, tcpHandler } from './tcp.js'
export type { FlowPath, InboundFlow, ResolveLocal, TcpServerInit, Tunnel } from './tcp.js'
export { DEFAULT_UDP_IDLE_MS, DatagramTunnel, openUdp, udpHandler } from './udp.js'
export type { DatagramFlow, InboundUdpFlow, UdpServerInit } from './udp.js'
export { pipeSocketStream, pipeSockets } from './pipe.js'
export type { Pipe } from './pipe.js'
export { ipCommandAddresses } from './host-addresses.js'
export type { AddressManager } from './host-addresses.js'
export { AddressRangeExhaustedError, FlowClosedError, OverlayError, OverlayProtocolError, OverlayRefusedError } from './errors.js'
