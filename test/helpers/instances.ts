// A daemon that stops leaves its process instances running, for its next life to adopt. A test's daemon has no
// next life: this stops what it left, so test runs do not leak service processes.
import { ProcessRuntime } from '../../node/runtime/index.js'

export async function stopLeftInstances (dataDir: string, peerId: string): Promise<number> {
  const runtime = new ProcessRuntime({ dataDir })
  let stopped = 0
  try {
    for (const inst of await runtime.list(peerId)) {
      await runtime.stop(inst.id, { timeoutMs: 2000 })
      stopped++
    }
  } finally {
    await runtime.close()
  }
  return stopped
}
