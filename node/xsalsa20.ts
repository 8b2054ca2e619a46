// The swarm-key cipher (XSalsa20) of @libp2p/pnet, on libsodium. pnet imports the `xsalsa20` package, a
// WebAssembly build that runs at ~700 MiB/s here and was a third of a sender's CPU on the overlay's data path;
// libsodium (sodium-native's prebuilt addon) runs the same stream at ~2.4 GB/s. The `grove` bundle aliases
// `xsalsa20` to this module (package.json's `bundle` script), so pnet's code and wire format are unchanged: the
// two produce the same bytes, and a peer on either one talks to a peer on the other. Where the addon cannot load
// (no prebuild for the platform), the WebAssembly package is used.
import { createRequire } from 'node:module'

/** The shape of the `xsalsa20` package's instances, which pnet calls. */
export interface XorStream {
  update: (input: Uint8Array, output?: Uint8Array) => Uint8Array
  finalize: () => void
}

interface Sodium {
  crypto_stream_xor_STATEBYTES: number
  crypto_stream_xor_init: (state: Uint8Array, nonce: Uint8Array, key: Uint8Array) => void
  crypto_stream_xor_update: (state: Uint8Array, out: Uint8Array, input: Uint8Array) => void
  crypto_stream_xor_final: (state: Uint8Array) => void
}

const require = createRequire(import.meta.url)

function load (): { sodium: Sodium } | { wasm: (nonce: Uint8Array, key: Uint8Array) => XorStream } {
  try {
    return { sodium: require('sodium-native') as Sodium }
  } catch {
    // A name the bundler does not follow: `xsalsa20` itself is aliased to this module there.
    const wasm = 'xsalsa20'
    return { wasm: require(wasm) as (nonce: Uint8Array, key: Uint8Array) => XorStream }
  }
}

const impl = load()

/** Which implementation this process runs. */
export const XSALSA20_IMPLEMENTATION: 'libsodium' | 'wasm' = 'sodium' in impl ? 'libsodium' : 'wasm'

class SodiumXor implements XorStream {
  private readonly state: Uint8Array

  constructor (private readonly sodium: Sodium, nonce: Uint8Array, key: Uint8Array) {
    if (nonce.byteLength < 24) throw new Error('nonce must be at least 24 bytes')
    if (key.byteLength < 32) throw new Error('key must be at least 32 bytes')
    this.state = new Uint8Array(sodium.crypto_stream_xor_STATEBYTES)
    sodium.crypto_stream_xor_init(this.state, nonce.subarray(0, 24), key.subarray(0, 32))
  }

  update (input: Uint8Array, output: Uint8Array = Buffer.allocUnsafe(input.byteLength)): Uint8Array {
    if (input.byteLength > 0) this.sodium.crypto_stream_xor_update(this.state, output.subarray(0, input.byteLength), input)
    return output
  }

  finalize (): void {
    this.sodium.crypto_stream_xor_final(this.state)
  }
}

/** `xsalsa20(nonce, key)`: an XSalsa20 key stream XORed over successive updates, as the `xsalsa20` package's. */
export default function xsalsa20 (nonce: Uint8Array, key: Uint8Array): XorStream {
  return 'sodium' in impl ? new SodiumXor(impl.sodium, nonce, key) : impl.wasm(nonce, key)
}
