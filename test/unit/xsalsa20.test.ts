// The libsodium swarm-key cipher must produce exactly the bytes of the `xsalsa20` package pnet was written for,
// however the stream is cut: peers on either one share a mesh.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import xsalsa20, { XSALSA20_IMPLEMENTATION, type XorStream } from '../../node/xsalsa20.js'

const wasm = createRequire(import.meta.url)('xsalsa20') as (nonce: Uint8Array, key: Uint8Array) => XorStream

describe('swarm-key cipher (XSalsa20 on libsodium)', function () {
  it('runs on libsodium on this machine', function () {
    assert.equal(XSALSA20_IMPLEMENTATION, 'libsodium')
  })

  it('produces the bytes of the xsalsa20 package over updates of every size, across 64-byte block edges', function () {
    for (let trial = 0; trial < 20; trial++) {
      const nonce = randomBytes(24)
      const key = randomBytes(32)
      const ours = xsalsa20(nonce, key)
      const theirs = wasm(nonce, key)
      for (const size of [0, 1, 63, 64, 65, 3, 1000, 64 * 1024, 70_001, 7, 128, Math.floor(Math.random() * 5000)]) {
        const input = randomBytes(size)
        assert.deepEqual(Buffer.from(ours.update(input)), Buffer.from(theirs.update(input)), `trial ${trial}, update of ${size} bytes`)
      }
      ours.finalize()
      theirs.finalize()
    }
  })

  it('writes into a given output buffer, and decrypts what it encrypted', function () {
    const nonce = randomBytes(24)
    const key = randomBytes(32)
    const plain = randomBytes(10_000)
    const out = new Uint8Array(plain.byteLength)
    assert.equal(xsalsa20(nonce, key).update(plain, out), out)
    assert.deepEqual(Buffer.from(xsalsa20(nonce, key).update(out)), plain)
  })

  it('refuses a short nonce or key', function () {
    assert.throws(() => xsalsa20(randomBytes(23), randomBytes(32)), /nonce/)
    assert.throws(() => xsalsa20(randomBytes(24), randomBytes(31)), /key/)
  })
})
