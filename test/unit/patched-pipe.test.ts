// The patched @libp2p/utils pipe (patches/, applied by patch-package): circuit relay v2 relays with
// pipe(src, dst, src), which used to give src a second duplex whose queue nobody read, so the relay kept every byte.
import assert from 'node:assert/strict'
import '../../node/polyfill.js'
import { messageStreamToDuplex, pipe, streamPair } from '@libp2p/utils'
import { eventually } from '../../testnet/daemons.js'

describe('patched @libp2p/utils pipe, as a relay uses it', function () {
  it('relays both ways with one message listener per stream', async function () {
    const [client, relaySrc] = await streamPair()
    const [relayDst, target] = await streamPair()
    void pipe(relaySrc, relayDst, relaySrc).catch(() => {})
    let atTarget = 0
    let atClient = 0
    target.addEventListener('message', (e) => { atTarget += e.data.byteLength })
    client.addEventListener('message', (e) => { atClient += e.data.byteLength })
    const chunk = new Uint8Array(64 * 1024).fill(7)
    for (let i = 0; i < 16; i++) client.send(chunk)
    target.send(new Uint8Array(1000))
    await eventually(() => atTarget === 16 * chunk.byteLength && atClient === 1000, 10_000, 'both directions delivered')
    // One duplex per stream: a second one queued every message of the stream where nothing read it.
    assert.equal(relaySrc.listenerCount('message'), 1)
    assert.equal(relayDst.listenerCount('message'), 1)
  })

  it('pauses a stream whose duplex is not read, and delivers everything once it is', async function () {
    const [sender, receiver] = await streamPair()
    const duplex = messageStreamToDuplex(receiver)
    const chunk = new Uint8Array(64 * 1024).fill(3)
    const total = 256 * chunk.byteLength // 16 MiB, past the 4 MiB high-water mark
    let sent = 0
    const sending = (async () => {
      while (sent < total) {
        sent += chunk.byteLength
        if (!sender.send(chunk)) await new Promise(resolve => sender.addEventListener('drain', resolve, { once: true }))
      }
    })()
    // Nobody reads the duplex: the stream is paused rather than queueing without bound.
    await eventually(() => receiver.readStatus === 'paused', 10_000, 'the stream to be paused')
    let got = 0
    for await (const c of duplex.source) {
      got += c.byteLength
      if (got >= total) break
    }
    await sending
    assert.equal(got, total)
  })
})
