// bootstrap/: founding a region, joining one, and the mesh's shared secret.
export { makeTicket, parseTicket, TicketError, TICKET_PREFIX, type Ticket } from './ticket.js'
export { createSwarmKey, loadSwarmKey, saveSwarmKey, swarmKeyHex, swarmKeyFromHex, SwarmKeyError, SWARM_KEY_FILE } from './swarm-key.js'
export { directoryValidator, directorySelector, openDirectory, signDirectory, DirectoryError, type DirectoryRecord } from './directory.js'
export { ticketAddrs } from './addrs.js'
