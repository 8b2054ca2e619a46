// The runtime port: what the node agent uses to run instances. Everything else in this folder is private.
import { DockerRuntime } from './docker.js'
import type { DockerRuntimeInit } from './docker.js'
import { MemoryRuntime } from './memory.js'
import type { MemoryRuntimeInit } from './memory.js'
import { ProcessRuntime } from './process.js'
import type { ProcessRuntimeInit } from './process.js'
import { RuntimeError } from './types.js'
import type { Runtime, RuntimeKind } from './types.js'

export * from './types.js'
export { DockerRuntime, LABEL_INSTANCE, LABEL_PEER, LABEL_SERVICE } from './docker.js'
export type { DockerRuntimeInit } from './docker.js'
export { MemoryEngine, MemoryRuntime } from './memory.js'
export type { FakeInstance, FakeProgram, FakeProgramHandle, MemoryRuntimeInit } from './memory.js'
export { ProcessRuntime } from './process.js'
export type { ProcessRuntimeInit } from './process.js'

/** The options of every kind together, for when the kind comes from configuration. */
export type CreateRuntimeOptions = Partial<ProcessRuntimeInit> & DockerRuntimeInit & MemoryRuntimeInit

/** Makes the runtime of a kind. The process runtime needs a dataDir; the others need nothing. */
export function createRuntime (kind: 'process', opts: ProcessRuntimeInit): ProcessRuntime
export function createRuntime (kind: 'docker', opts?: DockerRuntimeInit): DockerRuntime
export function createRuntime (kind: 'memory', opts?: MemoryRuntimeInit): MemoryRuntime
export function createRuntime (kind: RuntimeKind, opts?: CreateRuntimeOptions): Runtime
export function createRuntime (kind: RuntimeKind, opts: CreateRuntimeOptions = {}): Runtime {
  switch (kind) {
    case 'process': {
      if (opts.dataDir === undefined) throw new RuntimeError('the process runtime needs a dataDir', 'other')
      return new ProcessRuntime({ dataDir: opts.dataDir, pollIntervalMs: opts.pollIntervalMs })
    }
    case 'docker':
      return new DockerRuntime({ socketPath: opts.socketPath, docker: opts.docker, pullTimeoutMs: opts.pullTimeoutMs, eventsRetryMs: opts.eventsRetryMs })
    case 'memory':
      return new MemoryRuntime({ engine: opts.engine, program: opts.program, available: opts.available })
    default:
      throw new RuntimeError(`unknown runtime kind ${JSON.stringify(kind)}`, 'other')
  }
}
