// A guard in front of the swarm-key protector (@libp2p/pnet). pnet encrypts whatever libp2p's send queue hands it
// in one XSalsa20 update, and under backpressure that is the whole queued buffer, megabytes at a time. The
// xsalsa20 package behind it (WebAssembly) grows its memory for such an update, and with two instances per
// connection (one per direction) each grow invalidates the other's view of that memory until growth fails with
// "WebAssembly.Memory.grow(): Maximum memory size exceeded", thrown from a socket handler: the daemon dies. Cutting
// every write into pieces that fit the cipher's initial memory keeps it from ever growing. The guard also leaves
// relayed connections to Noise alone: the hops they run over are protected already.
import type { ConnectionProtector, MessageStream, AbortOptions } from '@libp2p/interface'

/**
 * Below the cipher's initial 640 KiB of memory. Not 64 KiB: Noise's frames are 65,537 bytes (2-byte length, 65,519
 * bytes, 16-byte tag), so a 64 KiB cap cut every frame into 65,536 bytes and 1 byte, and the lone byte cost a
 * cipher call and a socket write of its own (13,000 one-byte writes per 64 MiB on a relay).
 */
export const MAX_PROTECTED_WRITE = 256 * 1024

/**
 * Wraps a protector so that it never encrypts more than MAX_PROTECTED_WRITE at once: the protected stream's send
 * queue (an AbstractMessageStream) cuts its queued bytes into messages of at most maxMessageSize before each
 * sendData, which is where pnet runs the cipher.
 */
export function chunkedProtector (inner: (components: unknown) => ConnectionProtector): (components: unknown) => ConnectionProtector {
  return (components) => {
    const protector = inner(components)
    return {
      async protect (connection: MessageStream, options?: AbortOptions): Promise<MessageStream> {
        // A relayed connection runs inside a stream of two connections that the swarm key already protects, and
        // only mesh members can reach a relay: a second XSalsa20 pass at each end bought nothing and cost a
        // relayed flow ~0.4 ms of CPU per MiB at each end. Both ends see `/p2p-circuit` in the remote address.
        if (isRelayed(connection)) return connection
        const stream = await protector.protect(connection, options)
        ;(stream as { maxMessageSize?: number }).maxMessageSize = MAX_PROTECTED_WRITE
        return stream
      }
    }
  }
}

function isRelayed (connection: MessageStream): boolean {
  const remoteAddr = (connection as { remoteAddr?: { toString: () => string } }).remoteAddr
  return remoteAddr?.toString().includes('/p2p-circuit') === true
}
