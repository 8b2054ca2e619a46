import { strict as assert } from 'node:assert'
import { matches, parseDelaySpec } from '../../node/emulate-delay.js'

describe('GROVE_EMULATE_DELAY', () => {
  it('parses milliseconds and subnets', () => {
    const spec = parseDelaySpec('20@10.70.1.0/24,10.70.2.7')
    assert.equal(spec.ms, 20)
    const table: Array<[string, boolean]> = [
      ['10.70.1.0', true], ['10.70.1.255', true], ['10.70.2.7', true], ['10.70.2.8', false], ['10.70.0.9', false], ['nonsense', false]
    ]
    for (const [ip, want] of table) assert.equal(matches(spec, ip), want, ip)
    assert.ok(matches(parseDelaySpec('1@0.0.0.0/0'), '8.8.8.8'))
  })

  for (const bad of ['20', 'x@10.0.0.0/8', '20@10.0.0/8', '20@10.0.0.0/33', '20@300.0.0.0/8']) {
    it(`refuses "${bad}", naming the variable`, () => {
      assert.throws(() => parseDelaySpec(bad), /^Error: GROVE_EMULATE_DELAY: /)
    })
  }
})
