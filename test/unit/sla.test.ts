import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { SlaError } from '../../scheduler/errors.js'
import { deploymentProblems, parseSla } from '../../scheduler/sla.js'
import type { SlaParseOptions } from '../../scheduler/sla.js'
import type { ApplicationSpec, Area, ServiceSpec } from '../../scheduler/types.js'

// Oakestra's own SLA test vectors. CI clones the repository next to a copy of shared/, so `../shared` from the
// repository root is the contract. From test/unit/ that is three levels up.
const FIXTURES = new URL('../../../shared/fixtures/oakestra-sla/', import.meta.url)

type Doc = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

function fixture (name: string): Doc {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as Doc
}

/** Runs fn, asserts that it throws an SlaError, and returns it. */
function slaError (fn: () => unknown): SlaError {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof SlaError, `expected an SlaError, got ${String(err)}`)
    return err
  }
  assert.fail('expected an SlaError, but nothing was thrown')
}

/** A valid SLA with one application and one microservice, with `ms` merged into the microservice. */
function doc (ms: Doc = {}, app: Doc = {}): Doc {
  return {
    sla_version: 'v2.0',
    customerID: 'Admin',
    applications: [{
      application_name: 'shop',
      application_namespace: 'prod',
      microservices: [{ microservice_name: 'web', virtualization: 'container', code: 'docker.io/library/nginx', ...ms }],
      ...app
    }]
  }
}

function service (ms: Doc = {}, opts?: SlaParseOptions): ServiceSpec {
  return parseSla(doc(ms), opts).applications[0].services[0]
}

/** The path and message of the error for a microservice with `ms` merged in. */
function serviceError (ms: Doc): { path: string, message: string } {
  const err = slaError(() => parseSla(doc(ms)))
  return { path: err.path, message: err.message }
}

const MS = 'applications[0].microservices[0]'

describe('parseSla: Oakestra test vectors', () => {
  const CORRECT = ['example_curl_nginx.json', 'sla_correct_1.json', 'sla_correct_2.json', 'sla_correct_3.json', 'sla_correct_4.json']
  // Oakestra's README for the vectors lists each one's flaws. Grove reports the first one it meets (see the top of
  // scheduler/sla.ts for the order).
  const FLAWED: Record<string, { path: string, reason: RegExp }> = {
    'sla_flawed_1.json': { path: 'sla_version', reason: /is required \(got nothing\)$/ },
    'sla_flawed_2.json': { path: 'applications[0].application_namespace', reason: /is required/ },
    'sla_flawed_3.json': { path: 'sla_version', reason: /is required/ },
    'sla_flawed_4.json': { path: 'applications[0].application_namespace', reason: /is required/ },
    'sla_flawed_5.json': { path: `${MS}.microservice_name`, reason: /letters or digits.*\(got "test\.special\.char"\)$/ }
  }

  it('has an expectation for every vector in the fixtures folder', () => {
    const files = readdirSync(FIXTURES).filter(f => f.endsWith('.json')).sort()
    assert.deepEqual(files, [...CORRECT, ...Object.keys(FLAWED)].sort())
  })

  for (const name of CORRECT) {
    it(`accepts ${name}`, () => {
      const sla = parseSla(fixture(name))
      assert.equal(sla.slaVersion, 'v2.0')
    })
  }

  for (const [name, expected] of Object.entries(FLAWED)) {
    it(`rejects ${name} at ${expected.path}`, () => {
      const err = slaError(() => parseSla(fixture(name)))
      assert.equal(err.path, expected.path)
      assert.equal(err.code, 'invalid_sla')
      assert.ok(err.message.startsWith(`${expected.path}: `), err.message)
      assert.match(err.message, expected.reason)
    })
  }

  it('reads example_curl_nginx.json: a lone port is host and container port, rr_ip is kept', () => {
    const sla = parseSla(fixture('example_curl_nginx.json'))
    assert.equal(sla.customerId, 'Admin')
    const [app] = sla.applications
    assert.deepEqual({ name: app.name, namespace: app.namespace, externalId: app.externalId }, { name: 'clientserver', namespace: 'test', externalId: undefined })
    assert.equal(app.description, 'Simple demo with curl client and Nginx server')
    const [curl, nginx] = app.services
    assert.equal(curl.name, 'curl')
    assert.equal(curl.image, 'docker.io/curlimages/curl:7.82.0')
    assert.deepEqual(curl.cmd, ['sh', '-c', 'tail -f /dev/null'])
    assert.deepEqual(curl.ports, [{ host: 9080, container: 9080, protocol: 'tcp' }])
    assert.deepEqual([curl.memory, curl.vcpus, curl.vgpus, curl.storage], [100, 1, 0, 0])
    assert.deepEqual(curl.addresses, {})
    assert.equal(nginx.name, 'nginx')
    assert.deepEqual(nginx.cmd, [])
    assert.deepEqual(nginx.ports, [{ host: 6080, container: 60, protocol: 'tcp' }])
    assert.deepEqual(nginx.addresses, { rrIp: '10.30.30.30' })
    assert.deepEqual(deploymentProblems(app, { areas: {} }), [])
  })

  it('reads sla_correct_1.json: latency constraints and connectivity', () => {
    const sla = parseSla(fixture('sla_correct_1.json'))
    assert.equal(sla.customerId, '10000000001')
    const [app] = sla.applications
    assert.equal(app.name, 'ExampleApplication33')
    assert.equal(app.externalId, '1000010001')
    const [svc] = app.services
    assert.deepEqual(svc, {
      name: 'MicroA4',
      namespace: 'test',
      virtualization: 'container',
      image: 'https://example.com/repositories/example/code.py',
      cmd: ['ls', '-al'],
      environment: [],
      memory: 4096,
      vcpus: 2,
      vgpus: 0,
      storage: 1000,
      replicas: 1,
      restart: 'always',
      oneShot: false,
      arch: [],
      ports: [{ host: 80, container: 80, protocol: 'tcp' }],
      addresses: { rrIp: '192.168.178.4' },
      constraints: [
        { type: 'latency', area: 'munich-1', thresholdMs: 100, rigidness: 0.99, convergenceTime: 300 },
        { type: 'latency', area: 'berlin-1', thresholdMs: 100, rigidness: 0.99, convergenceTime: 300 }
      ],
      connectivity: [{ target: '1' }, { target: '2', latencyMs: 50 }]
    })
  })

  it('reads sla_correct_1.json as schema-valid but not deployable, naming each reason', () => {
    const [app] = parseSla(fixture('sla_correct_1.json')).applications
    const areas: Record<string, Area> = { 'berlin-1': { name: 'berlin-1', center: { lat: 52.52, lon: 13.4 }, radiusKm: 20 } }
    assert.deepEqual(deploymentProblems(app, { areas }).map(p => p.path), [
      'microservices[0].addresses.rr_ip',
      'microservices[0].constraints[0].area',
      'microservices[0].connectivity[0].target_microservice_id',
      'microservices[0].connectivity[1].target_microservice_id'
    ])
  })

  it('reads sla_correct_2.json: no memory or vcpus means 0, "80:80" maps one port', () => {
    const svc = parseSla(fixture('sla_correct_2.json')).applications[0].services[0]
    assert.deepEqual([svc.memory, svc.vcpus, svc.storage], [0, 0, 0])
    assert.deepEqual(svc.ports, [{ host: 80, container: 80, protocol: 'tcp' }])
    assert.equal(svc.externalId, undefined)
    assert.deepEqual([svc.constraints, svc.connectivity], [[], []])
  })

  it('reads sla_correct_3.json: no application_desc means an empty description', () => {
    const [app] = parseSla(fixture('sla_correct_3.json')).applications
    assert.equal(app.description, '')
    assert.equal(app.services[0].image, 'docker.io/library/nginx')
  })

  it('reads sla_correct_4.json: no applicationID, no microservices', () => {
    const [app] = parseSla(fixture('sla_correct_4.json')).applications
    assert.deepEqual(app, { name: 'test', namespace: 'test', description: '', services: [] })
  })

  // Repairing each reported flaw in turn shows every flaw of a vector is found, in a stable order.
  const repairs: Array<{ name: string, steps: Array<{ path: string, fix: (d: Doc) => void }> }> = [
    {
      name: 'sla_flawed_1.json',
      steps: [
        { path: 'sla_version', fix: d => { d.sla_version = 'v2.0' } },
        { path: 'applications[0].application_namespace', fix: d => { d.applications[0].application_namespace = 'test' } },
        { path: 'applications[0].application_name', fix: d => { d.applications[0].application_name = 'ExampleApp' } },
        { path: `${MS}.microservice_name`, fix: d => { d.applications[0].microservices[0].microservice_name = 'MicroA4' } },
        {
          path: `${MS}.connectivity[0].target_microservice_id`,
          fix: d => { for (const c of d.applications[0].microservices[0].connectivity) c.target_microservice_id = String(c.target_microservice_id) }
        },
        { path: 'api_version', fix: d => { delete d.api_version } },
        { path: `${MS}.bandwith_out`, fix: d => { delete d.applications[0].microservices[0].bandwith_out } }
      ]
    },
    {
      name: 'sla_flawed_2.json',
      steps: [
        { path: 'applications[0].application_namespace', fix: d => { d.applications[0].application_namespace = 'test' } },
        { path: 'applications[0].application_name', fix: d => { d.applications[0].application_name = 'ExampleApp' } },
        { path: `${MS}.microservice_name`, fix: d => { d.applications[0].microservices[0].microservice_name = 'MicroA4' } },
        { path: `${MS}.port`, fix: d => { d.applications[0].microservices[0].port = '80' } },
        { path: 'api_version', fix: d => { delete d.api_version } },
        { path: `${MS}.bandwith_out`, fix: d => { delete d.applications[0].microservices[0].bandwith_out } }
      ]
    },
    {
      name: 'sla_flawed_4.json',
      steps: [
        { path: 'applications[0].application_namespace', fix: d => { d.applications[0].application_namespace = 'test' } },
        { path: 'applications[0].application_name', fix: d => { d.applications[0].application_name = 'ExampleApp' } },
        { path: `${MS}.microservice_name`, fix: d => { d.applications[0].microservices[0].microservice_name = 'MicroA4' } },
        {
          path: `${MS}.connectivity[0].con_constraints[0].type`,
          fix: d => { d.applications[0].microservices[0].connectivity[0].con_constraints[0].type = 'latency' }
        },
        { path: 'api_version', fix: d => { delete d.api_version } },
        { path: `${MS}.bandwith_out`, fix: d => { delete d.applications[0].microservices[0].bandwith_out } }
      ]
    },
    {
      name: 'sla_flawed_5.json',
      steps: [{ path: `${MS}.microservice_name`, fix: d => { d.applications[0].microservices[0].microservice_name = 'testspecialchar' } }]
    }
  ]
  for (const { name, steps } of repairs) {
    it(`finds every flaw of ${name}, one repair at a time`, () => {
      const d = fixture(name)
      for (const step of steps) {
        assert.equal(slaError(() => parseSla(d)).path, step.path)
        step.fix(d)
      }
      assert.doesNotThrow(() => parseSla(d))
    })
  }
})

describe('parseSla: the document and applications', () => {
  const cases: Array<{ name: string, doc: unknown, path: string, reason: RegExp }> = [
    { name: 'null', doc: null, path: '', reason: /^\(document\): must be a JSON object .*\(got null\)$/ },
    { name: 'an array', doc: [], path: '', reason: /must be a JSON object/ },
    { name: 'a v1.0 SLA', doc: { ...doc(), sla_version: 'v1.0' }, path: 'sla_version', reason: /deprecated.*\(got "v1.0"\)/ },
    { name: 'a v3 SLA', doc: { ...doc(), sla_version: 'v3' }, path: 'sla_version', reason: /must be "v2.0"/ },
    { name: 'a numeric sla_version', doc: { ...doc(), sla_version: 2 }, path: 'sla_version', reason: /must be a string \(got 2\)/ },
    { name: 'no applications', doc: { sla_version: 'v2.0' }, path: 'applications', reason: /is required/ },
    { name: 'applications not a list', doc: { ...doc(), applications: {} }, path: 'applications', reason: /must be a list/ },
    { name: 'a numeric customerID', doc: { ...doc(), customerID: 7 }, path: 'customerID', reason: /must be a string/ },
    { name: 'args of numbers', doc: { ...doc(), args: [1] }, path: 'args[0]', reason: /must be a string/ },
    { name: 'a namespace with a dash', doc: doc({}, { application_namespace: 'my-ns' }), path: 'applications[0].application_namespace', reason: /letters or digits/ },
    { name: 'a 31-character name', doc: doc({}, { application_name: 'a'.repeat(31) }), path: 'applications[0].application_name', reason: /1 to 30/ },
    { name: 'an empty name', doc: doc({}, { application_name: '' }), path: 'applications[0].application_name', reason: /1 to 30/ },
    { name: 'a microservice that is not an object', doc: doc({}, { microservices: ['web'] }), path: `${MS}`, reason: /must be an object/ },
    { name: 'a microservice without a name', doc: doc({ microservice_name: undefined }), path: `${MS}.microservice_name`, reason: /is required/ },
    { name: 'net_service of the wrong type', doc: doc({}, { net_service: 'x' }), path: 'applications[0].net_service', reason: /object or null/ }
  ]
  for (const c of cases) {
    it(`refuses ${c.name} at ${c.path === '' ? 'the document' : c.path}`, () => {
      const err = slaError(() => parseSla(JSON.parse(JSON.stringify(c.doc)) as unknown))
      assert.equal(err.path, c.path)
      assert.match(err.message, c.reason)
    })
  }

  it('accepts a 30-character name, no customerID, and a null net_service', () => {
    const d = doc({}, { application_name: 'a'.repeat(30), net_service: null })
    delete d.customerID
    const sla = parseSla(d)
    assert.equal(sla.customerId, undefined)
    assert.equal('customerId' in sla, false)
    assert.equal(sla.applications[0].name, 'a'.repeat(30))
  })

  it('gives a microservice without a namespace its application\'s', () => {
    assert.equal(service().namespace, 'prod')
    assert.equal(service({ microservice_namespace: 'canary' }).namespace, 'canary')
  })
})

describe('parseSla: microservice fields and Grove extensions', () => {
  it('fills in the defaults', () => {
    assert.deepEqual(service({ virtualization: undefined }), {
      name: 'web',
      namespace: 'prod',
      virtualization: 'container',
      image: 'docker.io/library/nginx',
      cmd: [],
      environment: [],
      memory: 0,
      vcpus: 0,
      vgpus: 0,
      storage: 0,
      replicas: 1,
      restart: 'always',
      oneShot: false,
      arch: [],
      ports: [],
      addresses: {},
      constraints: [],
      connectivity: []
    })
  })

  const accepted: Array<{ name: string, ms: Doc, opts?: SlaParseOptions, expect: Partial<ServiceSpec> }> = [
    { name: 'a process service (its code ignored)', ms: { virtualization: 'process', cmd: ['node', 'app.js'], code: 'x' }, expect: { virtualization: 'process', image: undefined, cmd: ['node', 'app.js'] } },
    { name: 'the default runtime for a service that names none', ms: { virtualization: undefined }, opts: { defaultRuntime: 'process' }, expect: { virtualization: 'process', image: undefined } },
    { name: 'an explicit runtime over the default', ms: { virtualization: 'container' }, opts: { defaultRuntime: 'process' }, expect: { virtualization: 'container' } },
    { name: 'replicas', ms: { replicas: 3 }, expect: { replicas: 3 } },
    { name: 'zero replicas', ms: { replicas: 0 }, expect: { replicas: 0 } },
    { name: 'restart on-failure', ms: { restart: 'on-failure' }, expect: { restart: 'on-failure', oneShot: false } },
    { name: 'one_shot, which restarts never by default', ms: { one_shot: true }, expect: { oneShot: true, restart: 'never' } },
    { name: 'one_shot with restart on-failure', ms: { one_shot: true, restart: 'on-failure' }, expect: { oneShot: true, restart: 'on-failure' } },
    { name: 'arch', ms: { arch: ['amd64', 'arm64'] }, expect: { arch: ['amd64', 'arm64'] } },
    { name: 'environment as KEY=VALUE strings', ms: { environment: ['A=1', 'B=x=y', 'C='] }, expect: { environment: ['A=1', 'B=x=y', 'C='] } },
    { name: 'environment as an object', ms: { environment: { A: 1, B: 'two', C: true } }, expect: { environment: ['A=1', 'B=two', 'C=true'] } },
    { name: 'resources', ms: { memory: 512, vcpus: 2, vgpus: 1, storage: 2048 }, expect: { memory: 512, vcpus: 2, vgpus: 1, storage: 2048 } },
    { name: 'the docs\' vcpu and vgpu', ms: { vcpu: 4, vgpu: 1 }, expect: { vcpus: 4, vgpus: 1 } },
    { name: 'vcpus and vcpu that agree', ms: { vcpus: 2, vcpu: 2 }, expect: { vcpus: 2 } },
    { name: 'a microserviceID', ms: { microserviceID: 'abc' }, expect: { externalId: 'abc' } },
    { name: 'an empty microserviceID', ms: { microserviceID: '' }, expect: { externalId: undefined } },
    { name: 'target_node, as a direct constraint', ms: { target_node: 'xavier1' }, expect: { constraints: [{ type: 'direct', nodes: ['xavier1'] }] } },
    { name: 'an empty target_node', ms: { target_node: '' }, expect: { constraints: [] } },
    { name: 'privileged false', ms: { privileged: false }, expect: {} },
    { name: 'a container without code (a deployment problem, not a schema error)', ms: { code: undefined }, expect: { image: undefined } },
    {
      name: 'every Oakestra field Grove ignores',
      ms: {
        vtpus: 0, bandwidth_in: 10, bandwidth_out: 10, state: '', ns_ref: 'x', sla_violation_strategy: 'migrate', added_files: ['f'], args: ['a'],
        addresses: { rr_ip_v6: 'fdff::1', closest_ip_v6: 'fdff::2', instances: [{ from: '10.30.0.1', to: '10.30.0.9', start: '10.30.0.1' }] }
      },
      expect: { addresses: {} }
    }
  ]
  for (const c of accepted) {
    it(`accepts ${c.name}`, () => {
      const svc = service(c.ms, c.opts)
      for (const [key, value] of Object.entries(c.expect)) assert.deepEqual(svc[key as keyof ServiceSpec], value, key)
    })
  }

  const refused: Array<{ name: string, ms: Doc, path: string, reason: RegExp }> = [
    { name: 'a unikernel', ms: { virtualization: 'unikernel' }, path: 'virtualization', reason: /"container" or "process": Grove cannot run unikernels/ },
    { name: 'virtualization docker', ms: { virtualization: 'docker' }, path: 'virtualization', reason: /must be "container" or "process" \(got "docker"\)/ },
    { name: 'negative replicas', ms: { replicas: -1 }, path: 'replicas', reason: /non-negative integer \(got -1\)/ },
    { name: 'fractional replicas', ms: { replicas: 1.5 }, path: 'replicas', reason: /non-negative integer/ },
    { name: 'replicas as a string', ms: { replicas: '2' }, path: 'replicas', reason: /non-negative integer \(got "2"\)/ },
    { name: 'an unknown restart policy', ms: { restart: 'unless-stopped' }, path: 'restart', reason: /"always", "on-failure" or "never"/ },
    { name: 'a one_shot that restarts always', ms: { one_shot: true, restart: 'always' }, path: 'restart', reason: /one_shot/ },
    { name: 'one_shot as a string', ms: { one_shot: 'yes' }, path: 'one_shot', reason: /true or false/ },
    { name: 'arch as a string', ms: { arch: 'amd64' }, path: 'arch', reason: /must be a list/ },
    { name: 'an empty arch name', ms: { arch: [''] }, path: 'arch[0]', reason: /non-empty string/ },
    { name: 'an environment entry without =', ms: { environment: ['A'] }, path: 'environment[0]', reason: /KEY=VALUE/ },
    { name: 'an environment entry with an empty key', ms: { environment: ['=1'] }, path: 'environment[0]', reason: /KEY=VALUE/ },
    { name: 'an environment key with a space', ms: { environment: ['MY VAR=1'] }, path: 'environment[0]', reason: /no spaces/ },
    { name: 'an environment key set twice', ms: { environment: ['A=1', 'A=2'] }, path: 'environment[1]', reason: /sets A a second time/ },
    { name: 'an environment object value that is an object', ms: { environment: { A: {} } }, path: 'environment.A', reason: /string, number or boolean/ },
    { name: 'an environment object key with =', ms: { environment: { 'A=B': 1 } }, path: 'environment["A=B"]', reason: /not a variable name/ },
    { name: 'environment as a string', ms: { environment: 'A=1' }, path: 'environment', reason: /list of "KEY=VALUE" strings or an object/ },
    { name: 'memory as a string', ms: { memory: 'lots' }, path: 'memory', reason: /non-negative integer \(got "lots"\)/ },
    { name: 'negative memory', ms: { memory: -5 }, path: 'memory', reason: /non-negative integer/ },
    { name: 'fractional vcpus (Oakestra counts whole cores)', ms: { vcpus: 0.5 }, path: 'vcpus', reason: /non-negative integer \(got 0.5\)/ },
    { name: 'vcpus and vcpu that disagree', ms: { vcpus: 2, vcpu: 3 }, path: 'vcpu', reason: /contradicts vcpus \(2\)/ },
    { name: 'a string vtpus', ms: { vtpus: 'x' }, path: 'vtpus', reason: /non-negative integer/ },
    { name: 'cmd as a string', ms: { cmd: 'ls -al' }, path: 'cmd', reason: /must be a list/ },
    { name: 'a numeric cmd word', ms: { cmd: ['sleep', 5] }, path: 'cmd[1]', reason: /must be a string \(got 5\)/ },
    { name: 'a numeric code', ms: { code: 5 }, path: 'code', reason: /must be a string/ },
    { name: 'privileged true', ms: { privileged: true }, path: 'privileged', reason: /Grove does not run privileged containers/ },
    { name: 'a numeric microserviceID', ms: { microserviceID: 4 }, path: 'microserviceID', reason: /must be a string/ },
    { name: 'added_files of numbers', ms: { added_files: [1] }, path: 'added_files[0]', reason: /must be a string/ },
    { name: 'a microservice namespace with a dot', ms: { microservice_namespace: 'a.b' }, path: 'microservice_namespace', reason: /letters or digits/ }
  ]
  for (const c of refused) {
    it(`refuses ${c.name}`, () => {
      const err = serviceError(c.ms)
      assert.equal(err.path, `${MS}.${c.path}`)
      assert.match(err.message, c.reason)
    })
  }
})

describe('parseSla: port syntax', () => {
  const accepted: Array<[string, ServiceSpec['ports']]> = [
    ['', []],
    ['80', [{ host: 80, container: 80, protocol: 'tcp' }]],
    ['80:80', [{ host: 80, container: 80, protocol: 'tcp' }]],
    ['6080:60/tcp', [{ host: 6080, container: 60, protocol: 'tcp' }]],
    ['53/udp', [{ host: 53, container: 53, protocol: 'udp' }]],
    ['5353:53/udp', [{ host: 5353, container: 53, protocol: 'udp' }]],
    ['0:80', [{ container: 80, protocol: 'tcp' }]],
    ['8080:80;8443:443/tcp; 53:53/udp', [
      { host: 8080, container: 80, protocol: 'tcp' },
      { host: 8443, container: 443, protocol: 'tcp' },
      { host: 53, container: 53, protocol: 'udp' }
    ]],
    ['53:53/tcp;53:53/udp', [{ host: 53, container: 53, protocol: 'tcp' }, { host: 53, container: 53, protocol: 'udp' }]],
    ['0:80;0:81', [{ container: 80, protocol: 'tcp' }, { container: 81, protocol: 'tcp' }]],
    ['65535:1', [{ host: 65535, container: 1, protocol: 'tcp' }]]
  ]
  for (const [port, ports] of accepted) {
    it(`reads ${JSON.stringify(port)}`, () => assert.deepEqual(service({ port }).ports, ports))
  }

  const refused: Array<[unknown, RegExp]> = [
    [80, /must be a string like "80"/],
    ['0', /container port 0/],
    ['80:0', /container port 0/],
    ['65536', /container port 65536/],
    ['70000:80', /host port 70000/],
    ['80/sctp', /"80\/sctp" must be "port" or "host:container"/],
    ['80/TCP', /must be "port" or "host:container"/],
    ['http', /"http" must be/],
    ['80:80:80', /must be "port"/],
    ['-1', /must be "port"/],
    ['80;', /"" must be "port"/],
    ['80;;81', /"" must be "port"/],
    ['8080:80;8080:81', /maps host port 8080\/tcp twice/]
  ]
  for (const [port, reason] of refused) {
    it(`refuses ${JSON.stringify(port)}`, () => {
      const err = serviceError({ port })
      assert.equal(err.path, `${MS}.port`)
      assert.match(err.message, reason)
      assert.ok(err.message.endsWith(`(got ${JSON.stringify(port)})`), err.message)
    })
  }
})

describe('parseSla: constraints', () => {
  const accepted: Array<[string, Doc, ServiceSpec['constraints'][number]]> = [
    ['direct: a cluster', { type: 'direct', cluster: 'gpu' }, { type: 'direct', cluster: 'gpu' }],
    ['direct: a node in a cluster', { type: 'direct', node: 'xavier1', cluster: 'cluster1' }, { type: 'direct', cluster: 'cluster1', nodes: ['xavier1'] }],
    ['direct: Oakestra\'s "n1;n2"', { type: 'direct', node: 'n1; n2' }, { type: 'direct', nodes: ['n1', 'n2'] }],
    ['direct: a list of nodes', { type: 'direct', node: ['n1', 'n2'] }, { type: 'direct', nodes: ['n1', 'n2'] }],
    ['geo: a location', { type: 'geo', location: '48.14,11.58', threshold: 50 }, { type: 'geo', location: { lat: 48.14, lon: 11.58 }, thresholdKm: 50 }],
    ['geo: a location with spaces and rigidness', { type: 'geo', location: ' -33.9 , 151.2 ', threshold: 0, rigidness: 1, convergence_time: 60 }, { type: 'geo', location: { lat: -33.9, lon: 151.2 }, thresholdKm: 0, rigidness: 1 }],
    ['geo: an area', { type: 'geo', area: 'munich', threshold: 10 }, { type: 'geo', area: 'munich', thresholdKm: 10 }],
    ['latency: all fields', { type: 'latency', area: 'munich-1', threshold: 100, rigidness: 0.99, convergence_time: 300 }, { type: 'latency', area: 'munich-1', thresholdMs: 100, rigidness: 0.99, convergenceTime: 300 }],
    ['latency: area and threshold only', { type: 'latency', area: 'berlin', threshold: 20.5 }, { type: 'latency', area: 'berlin', thresholdMs: 20.5 }]
  ]
  for (const [name, constraint, expected] of accepted) {
    it(`maps ${name}`, () => assert.deepEqual(service({ constraints: [constraint] }).constraints, [expected]))
  }

  it('keeps the listed order and appends target_node last', () => {
    const svc = service({ target_node: 'n9', constraints: [{ type: 'direct', cluster: 'a' }, { type: 'latency', area: 'x', threshold: 5 }] })
    assert.deepEqual(svc.constraints.map(c => c.type), ['direct', 'latency', 'direct'])
    assert.deepEqual(svc.constraints[2], { type: 'direct', nodes: ['n9'] })
  })

  const refused: Array<[string, Doc, string, RegExp]> = [
    ['no type', { area: 'x', threshold: 5 }, 'constraints[0].type', /is required/],
    ['an unknown type', { type: 'nearby' }, 'constraints[0].type', /must be "direct", "geo" or "latency" \(got "nearby"\)/],
    ['Oakestra\'s addons type', { type: 'addons', needs: ['gpu'] }, 'constraints[0].type', /does not support Oakestra's "addons" constraints/],
    ['Oakestra\'s clusters type', { type: 'clusters', allowed: ['a'] }, 'constraints[0].type', /"clusters"/],
    ['a numeric type', { type: 1 }, 'constraints[0].type', /must be a string/],
    ['direct without cluster or node', { type: 'direct' }, 'constraints[0]', /needs a cluster, a node, or both/],
    ['direct with an empty cluster', { type: 'direct', cluster: '' }, 'constraints[0].cluster', /non-empty/],
    ['direct with an empty node name', { type: 'direct', node: 'a;;b' }, 'constraints[0].node', /no empty name/],
    ['direct with an empty node list', { type: 'direct', node: [] }, 'constraints[0].node', /at least one node/],
    ['direct with a numeric node', { type: 'direct', node: 5 }, 'constraints[0].node', /node names separated by ";"/],
    ['geo without threshold', { type: 'geo', location: '1,2' }, 'constraints[0].threshold', /is required in a geo constraint/],
    ['geo without location or area', { type: 'geo', threshold: 5 }, 'constraints[0]', /needs a location \("lat,lon"\) or an area/],
    ['geo with location and area', { type: 'geo', location: '1,2', area: 'x', threshold: 5 }, 'constraints[0].area', /together with location/],
    ['geo with one coordinate', { type: 'geo', location: '48.1', threshold: 5 }, 'constraints[0].location', /"lat,lon"/],
    ['geo with a word', { type: 'geo', location: 'munich,x', threshold: 5 }, 'constraints[0].location', /"lat,lon"/],
    ['geo with a hex coordinate', { type: 'geo', location: '0x10,1', threshold: 5 }, 'constraints[0].location', /decimal degrees/],
    ['geo with three coordinates', { type: 'geo', location: '1,2,3', threshold: 5 }, 'constraints[0].location', /"lat,lon"/],
    ['geo with latitude 91', { type: 'geo', location: '91,0', threshold: 5 }, 'constraints[0].location', /±90/],
    ['geo with longitude -181', { type: 'geo', location: '0,-181', threshold: 5 }, 'constraints[0].location', /±180/],
    ['geo with a negative threshold', { type: 'geo', location: '1,2', threshold: -1 }, 'constraints[0].threshold', /non-negative number/],
    ['latency without area', { type: 'latency', threshold: 5 }, 'constraints[0].area', /is required in a latency constraint/],
    ['latency without threshold', { type: 'latency', area: 'x' }, 'constraints[0].threshold', /is required in a latency constraint/],
    ['latency with a string threshold', { type: 'latency', area: 'x', threshold: '5ms' }, 'constraints[0].threshold', /non-negative number/],
    ['latency with rigidness above 1', { type: 'latency', area: 'x', threshold: 5, rigidness: 99 }, 'constraints[0].rigidness', /from 0 to 1/],
    ['latency with a fractional convergence_time', { type: 'latency', area: 'x', threshold: 5, convergence_time: 1.5 }, 'constraints[0].convergence_time', /non-negative integer/],
    ['latency with a location', { type: 'latency', area: 'x', threshold: 5, location: '1,2' }, 'constraints[0].location', /does not apply to a latency constraint/],
    ['direct with a threshold', { type: 'direct', cluster: 'a', threshold: 5 }, 'constraints[0].threshold', /does not apply to a direct constraint/],
    ['an unknown constraint field', { type: 'direct', cluster: 'a', zone: 'z' }, 'constraints[0].zone', /unknown field/],
    ['a constraint that is not an object', 'direct' as unknown as Doc, 'constraints[0]', /must be an object with a type/]
  ]
  for (const [name, constraint, path, reason] of refused) {
    it(`refuses ${name} at ${path}`, () => {
      const err = serviceError({ constraints: [constraint] })
      assert.equal(err.path, `${MS}.${path}`)
      assert.match(err.message, reason)
    })
  }

  it('refuses constraints that are not a list', () => {
    assert.equal(serviceError({ constraints: { type: 'direct' } }).path, `${MS}.constraints`)
  })
})

describe('parseSla: connectivity', () => {
  const latency = (threshold: number): Doc => ({ type: 'latency', threshold, rigidness: 0.9, convergence_time: 300 })

  it('maps links with and without a latency bound, taking the tightest of several', () => {
    const svc = service({
      connectivity: [
        { target_microservice_id: 'db', con_constraints: [] },
        { target_microservice_id: 'cache', con_constraints: [latency(50), latency(20)] }
      ]
    })
    assert.deepEqual(svc.connectivity, [{ target: 'db' }, { target: 'cache', latencyMs: 20 }])
  })

  const refused: Array<[string, Doc, string, RegExp]> = [
    ['a numeric target', { target_microservice_id: 1, con_constraints: [] }, 'connectivity[0].target_microservice_id', /must be a non-empty string \(got 1\)/],
    ['no target', { con_constraints: [] }, 'connectivity[0].target_microservice_id', /is required/],
    ['no con_constraints', { target_microservice_id: 'db' }, 'connectivity[0].con_constraints', /is required/],
    ['a con_constraint without type', { target_microservice_id: 'db', con_constraints: [{ threshold: 5, rigidness: 1, convergence_time: 1 }] }, 'connectivity[0].con_constraints[0].type', /is required/],
    ['a con_constraint without rigidness', { target_microservice_id: 'db', con_constraints: [{ type: 'latency', threshold: 5, convergence_time: 1 }] }, 'connectivity[0].con_constraints[0].rigidness', /is required/],
    ['a geo con_constraint', { target_microservice_id: 'db', con_constraints: [{ ...latency(5), type: 'geo' }] }, 'connectivity[0].con_constraints[0].type', /must be "latency": Grove does not support geo bounds/],
    ['a bandwidth con_constraint', { target_microservice_id: 'db', con_constraints: [{ ...latency(5), type: 'bandwidth' }] }, 'connectivity[0].con_constraints[0].type', /must be "latency" \(got "bandwidth"\)/],
    ['an unknown con_constraint field', { target_microservice_id: 'db', con_constraints: [{ ...latency(5), area: 'x' }] }, 'connectivity[0].con_constraints[0].area', /unknown field/],
    ['an unknown connectivity field', { target_microservice_id: 'db', con_constraints: [], weight: 1 }, 'connectivity[0].weight', /unknown field/]
  ]
  for (const [name, link, path, reason] of refused) {
    it(`refuses ${name} at ${path}`, () => {
      const err = serviceError({ connectivity: [link] })
      assert.equal(err.path, `${MS}.${path}`)
      assert.match(err.message, reason)
    })
  }
})

describe('parseSla: addresses', () => {
  it('keeps rr_ip and closest_ip, whatever their range (that is a deployment check)', () => {
    assert.deepEqual(service({ addresses: { rr_ip: '10.30.0.5', closest_ip: '192.168.1.1' } }).addresses, { rrIp: '10.30.0.5', closestIp: '192.168.1.1' })
  })

  const refused: Array<[string, Doc, string, RegExp]> = [
    ['an rr_ip with three octets', { rr_ip: '10.30.0' }, 'addresses.rr_ip', /IPv4 address/],
    ['an rr_ip octet over 255', { rr_ip: '10.30.0.256' }, 'addresses.rr_ip', /IPv4 address/],
    ['an rr_ip with a leading zero', { rr_ip: '10.30.0.05' }, 'addresses.rr_ip', /IPv4 address/],
    ['an IPv6 rr_ip', { rr_ip: 'fdff::1' }, 'addresses.rr_ip', /IPv4 address/],
    ['a numeric closest_ip', { closest_ip: 10 }, 'addresses.closest_ip', /must be a string/],
    ['an unknown address field', { rr_ip: '10.30.0.1', vip: 'x' }, 'addresses.vip', /unknown field/],
    ['an instance with an unknown field', { instances: [{ from: 'a', size: 2 }] }, 'addresses.instances[0].size', /unknown field/]
  ]
  for (const [name, addresses, path, reason] of refused) {
    it(`refuses ${name}`, () => {
      const err = serviceError({ addresses })
      assert.equal(err.path, `${MS}.${path}`)
      assert.match(err.message, reason)
    })
  }

  it('refuses addresses that are not an object', () => {
    assert.equal(serviceError({ addresses: '10.30.0.1' }).path, `${MS}.addresses`)
  })
})

describe('parseSla: unknown fields', () => {
  it('refuses an unknown top-level field, such as the old api_version', () => {
    const err = slaError(() => parseSla({ ...doc(), api_version: 'v0.3.0' }))
    assert.equal(err.path, 'api_version')
    assert.equal(err.message, 'api_version: unknown field (got "v0.3.0")')
  })

  it('refuses Oakestra\'s old misspelling bandwith_out and suggests the right name', () => {
    const err = serviceError({ bandwith_out: 8000 })
    assert.equal(err.path, `${MS}.bandwith_out`)
    assert.equal(err.message, `${MS}.bandwith_out: unknown field (did you mean "bandwidth_out"?) (got 8000)`)
  })

  it('suggests the closest field for a typo in an application', () => {
    const err = slaError(() => parseSla(doc({}, { application_dsc: 'x' })))
    assert.equal(err.path, 'applications[0].application_dsc')
    assert.match(err.message, /did you mean "application_desc"\?/)
  })

  it('quotes a field name that is not an identifier', () => {
    const err = serviceError({ 'my field': 1 })
    assert.equal(err.path, `${MS}["my field"]`)
  })

  it('reports an unknown field only after Oakestra\'s own rules, then the first in walk order', () => {
    const d = doc({ replica: 2, memory: 'lots' }, { colour: 'blue' })
    assert.equal(slaError(() => parseSla(d)).path, `${MS}.memory`)
    d.applications[0].microservices[0].memory = 1
    assert.equal(slaError(() => parseSla(d)).path, 'applications[0].colour')
    delete d.applications[0].colour
    const err = slaError(() => parseSla(d))
    assert.equal(err.path, `${MS}.replica`)
    assert.match(err.message, /did you mean "replicas"\?/)
  })

  it('accepts every field in Oakestra\'s schema', () => {
    const d = doc({
      microserviceID: '', microservice_namespace: 'prod', virtualization: 'container', memory: 1, vcpus: 1, vgpus: 0, vtpus: 0,
      bandwidth_in: 0, bandwidth_out: 0, storage: 0, code: 'img', state: '', port: '80', ns_ref: '', one_shot: false,
      privileged: false, cmd: [], environment: [], sla_violation_strategy: '', target_node: '', added_files: [], args: [],
      addresses: { rr_ip: '10.30.0.1', rr_ip_v6: '', closest_ip: '10.30.0.2', closest_ip_v6: '', instances: [] },
      constraints: [], connectivity: []
    }, { applicationID: '', application_desc: '', net_service: null })
    d.args = []
    assert.doesNotThrow(() => parseSla(d))
  })
})

describe('SlaError', () => {
  it('is told apart by name and code, and has a one-line message', () => {
    const err = serviceError({ environment: ['A\nB'] })
    assert.equal(err.path, `${MS}.environment[0]`)
    assert.ok(!err.message.includes('\n'), err.message)
    const thrown = slaError(() => parseSla(doc({ memory: -1 })))
    assert.equal(thrown.name, 'SlaError')
    assert.equal(thrown.code, 'invalid_sla')
    assert.equal(thrown.reason, 'must be a non-negative integer')
    assert.equal(thrown.message, `${MS}.memory: must be a non-negative integer (got -1)`)
  })

  it('shortens a long value', () => {
    const err = serviceError({ cmd: 'x'.repeat(500) })
    assert.ok(err.message.length < 150, err.message)
    assert.match(err.message, /…\)$/)
  })
})

describe('deploymentProblems', () => {
  const AREAS: Record<string, Area> = { munich: { name: 'munich', center: { lat: 48.14, lon: 11.58 }, radiusKm: 15 } }

  /** The application of doc(ms) after parsing, with `change` applied to its first service. */
  function app (ms: Doc = {}, change: (svc: ServiceSpec) => void = () => {}): ApplicationSpec {
    const parsed = parseSla(doc(ms)).applications[0]
    change(parsed.services[0])
    return parsed
  }

  it('finds nothing wrong with a plain container service', () => {
    assert.deepEqual(deploymentProblems(app(), { areas: AREAS }), [])
  })

  const problems: Array<[string, ApplicationSpec, string, RegExp]> = [
    ['an rr_ip outside 10.30.0.0/16', app({ addresses: { rr_ip: '192.168.178.4' } }), 'microservices[0].addresses.rr_ip', /192\.168\.178\.4 is outside 10\.30\.0\.0\/16/],
    ['a closest_ip outside 10.30.0.0/16', app({ addresses: { closest_ip: '10.31.0.1' } }), 'microservices[0].addresses.closest_ip', /10\.31\.0\.1 is outside/],
    ['a latency constraint on an unknown area', app({ constraints: [{ type: 'latency', area: 'munich-1', threshold: 100 }] }), 'microservices[0].constraints[0].area', /area "munich-1" is not a configured area \(configured: munich\)/],
    ['a geo constraint on an unknown area', app({ constraints: [{ type: 'direct', cluster: 'a' }, { type: 'geo', area: 'paris', threshold: 5 }] }), 'microservices[0].constraints[1].area', /area "paris"/],
    ['a process service without cmd', app({ virtualization: 'process' }), 'microservices[0].cmd', /process service needs a cmd/],
    ['a container service without an image', app({ code: undefined }), 'microservices[0].code', /container service needs an image/],
    ['a container service with an empty image', app({}, svc => { svc.image = '' }), 'microservices[0].code', /needs an image/],
    ['more than 1000 replicas', app({ replicas: 1001 }), 'microservices[0].replicas', /1001 replicas is more than the 1000 allowed/],
    ['a connectivity target that is not a service of the app', app({ connectivity: [{ target_microservice_id: 'db', con_constraints: [] }] }), 'microservices[0].connectivity[0].target_microservice_id', /"db" is not the name of a microservice of application shop/]
  ]
  for (const [name, application, path, message] of problems) {
    it(`finds ${name}`, () => {
      const found = deploymentProblems(application, { areas: AREAS })
      assert.equal(found.length, 1, JSON.stringify(found))
      assert.equal(found[0].path, path)
      assert.match(found[0].message, message)
    })
  }

  it('finds two services with one name, at the second', () => {
    const application = app()
    application.services.push({ ...application.services[0], namespace: 'other' })
    assert.deepEqual(deploymentProblems(application, { areas: AREAS }), [{
      path: 'microservices[1].microservice_name',
      message: '"web" is already the name of microservices[0]: names must be unique within an application'
    }])
  })

  it('accepts what sits at the edges: 1000 replicas, 10.30.255.255, known areas, a process with cmd, a link to a sibling', () => {
    const application = app({
      replicas: 1000,
      addresses: { rr_ip: '10.30.255.255', closest_ip: '10.30.0.0' },
      constraints: [{ type: 'latency', area: 'munich', threshold: 5 }, { type: 'geo', location: '1,2', threshold: 5 }],
      connectivity: [{ target_microservice_id: 'web', con_constraints: [] }]
    })
    application.services.push({ ...application.services[0], name: 'worker', virtualization: 'process', image: undefined, cmd: ['run'], connectivity: [] })
    assert.deepEqual(deploymentProblems(application, { areas: AREAS }), [])
  })

  it('says when no areas are configured, and lists every problem of an application', () => {
    const found = deploymentProblems(app({
      virtualization: 'process',
      addresses: { rr_ip: '1.2.3.4' },
      constraints: [{ type: 'latency', area: 'x', threshold: 1 }]
    }), { areas: {} })
    assert.deepEqual(found.map(p => p.path), ['microservices[0].cmd', 'microservices[0].addresses.rr_ip', 'microservices[0].constraints[0].area'])
    assert.match(found[2].message, /none are configured/)
  })
})
