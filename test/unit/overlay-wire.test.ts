// The overlay's framing, path classification and `ip addr` parsing: pure, table-driven.
import assert from 'node:assert/strict'
import { multiaddr } from '@multiformats/multiaddr'
import { FrameDecoder, MAX_CONTROL_BYTES, decodeControl, encodeControl, frame, headerSchema } from '../../overlay/wire.js'
import { pathOf } from '../../overlay/tcp.js'
import { parseIpAddrShow } from '../../overlay/host-addresses.js'
import { OverlayProtocolError } from '../../overlay/errors.js'

const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs)

describe('overlay wire', function () {
  describe('FrameDecoder', function () {
    const cases: Array<{ name: string, chunks: Uint8Array[], frames: number[][], rest: number }> = [
      { name: 'one frame in one chunk', chunks: [bytes(0, 2, 7, 8)], frames: [[7, 8]], rest: 0 },
      { name: 'a frame split inside its length', chunks: [bytes(0), bytes(3, 1, 2), bytes(3)], frames: [[1, 2, 3]], rest: 0 },
      { name: 'two frames and the start of a third', chunks: [bytes(0, 1, 9, 0, 0, 0, 5, 1)], frames: [[9], []], rest: 3 },
      { name: 'an incomplete frame waits', chunks: [bytes(0, 4, 1, 2)], frames: [], rest: 4 },
      { name: 'a frame spread over many chunks', chunks: [bytes(0, 5), bytes(1), bytes(2, 3), bytes(4), bytes(5, 0xaa)], frames: [[1, 2, 3, 4, 5]], rest: 1 }
    ]
    for (const c of cases) {
      it(c.name, function () {
        const d = new FrameDecoder()
        const got: number[][] = []
        for (const chunk of c.chunks) {
          d.push(chunk)
          for (let f = d.next(); f !== undefined; f = d.next()) got.push([...f])
        }
        assert.deepEqual(got, c.frames)
        assert.equal(d.buffered, c.rest)
        assert.equal(d.rest().reduce((n, x) => n + x.byteLength, 0), c.rest)
        assert.equal(d.buffered, 0)
      })
    }

    it('refuses a frame over its limit as soon as the length is known', function () {
      const d = new FrameDecoder(MAX_CONTROL_BYTES)
      d.push(bytes(0xff, 0xff))
      assert.throws(() => d.next(), (err: Error) => err.name === OverlayProtocolError.NAME && /65535 bytes exceeds the limit of 1024/.test(err.message))
    })

    it('frame() round-trips the largest datagram and refuses a larger one', function () {
      const payload = new Uint8Array(0xffff).fill(7)
      const d = new FrameDecoder()
      d.push(frame(payload))
      assert.deepEqual(d.next(), payload)
      assert.throws(() => frame(new Uint8Array(0x10000)), (err: Error) => err.name === OverlayProtocolError.NAME)
    })
  })

  describe('control messages', function () {
    const good = { v: 1 as const, ip: '10.30.1.2', port: 80 }
    it('a header round-trips', function () {
      const d = new FrameDecoder()
      d.push(encodeControl(good))
      assert.deepEqual(decodeControl(d.next()!, headerSchema, 'header'), good)
    })
    const bad: Array<[string, unknown, RegExp]> = [
      ['another version', { ...good, v: 2 }, /header: v/],
      ['a port out of range', { ...good, port: 70000 }, /header: port/],
      ['a host name instead of an IP', { ...good, ip: 'example.com' }, /header: ip must be an IPv4 address/],
      ['not an object', 'hello', /header/]
    ]
    for (const [name, value, re] of bad) {
      it(`refuses ${name}`, function () {
        const d = new FrameDecoder()
        d.push(frame(new TextEncoder().encode(JSON.stringify(value))))
        assert.throws(() => decodeControl(d.next()!, headerSchema, 'header'), (err: Error) => err.name === OverlayProtocolError.NAME && re.test(err.message))
      })
    }
    it('refuses bytes that are not JSON', function () {
      assert.throws(() => decodeControl(bytes(0xff, 0xfe), headerSchema, 'header'), /not UTF-8 JSON/)
    })
  })

  describe('pathOf', function () {
    const P = '12D3KooWGzh7sCdqMWqaEfHY3TR6hsZGfzL8uUyp3N6sD7sWZQpE'
    const Q = '12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'
    const cases: Array<[string, string, boolean, 'direct' | 'relay']> = [
      ['a TCP connection', '/ip4/127.0.0.1/tcp/4001', false, 'direct'],
      ['a circuit address', `/ip4/127.0.0.1/tcp/4001/p2p/${P}/p2p-circuit/p2p/${Q}`, false, 'relay'],
      ['a connection with relay limits', '/ip4/127.0.0.1/tcp/4001', true, 'relay']
    ]
    for (const [name, addr, limited, want] of cases) {
      it(`${name} is ${want}`, function () {
        assert.equal(pathOf({ remoteAddr: multiaddr(addr), limits: limited ? { bytes: 1n << 17n } : undefined }), want)
      })
    }
  })

  it('parseIpAddrShow reads the IPv4 addresses of `ip -o -4 addr show`', function () {
    const out = [
      '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
      '1: lo    inet 10.30.255.253/32 scope global lo\\       valid_lft forever preferred_lft forever',
      ''
    ].join('\n')
    assert.deepEqual(parseIpAddrShow(out), ['127.0.0.1', '10.30.255.253'])
    assert.deepEqual(parseIpAddrShow(''), [])
  })
})
