// The part of the replicated state that deployment code uses. ReplicatedState implements it over the mesh;
// unit tests can use MemoryStateMap.

export interface StateMap {
  get<T> (key: string): T | undefined
  /** Live entries under a prefix, sorted by key. */
  entries<T> (prefix: string): Array<[string, T]>
  put (key: string, value: unknown, opts?: { term?: number }): Promise<unknown>
  del (key: string, opts?: { term?: number }): Promise<void>
  /** Every change that took effect, local or remote; value undefined for a deletion. */
  onChange (listener: (key: string, value: unknown) => void): () => void
}

export class MemoryStateMap implements StateMap {
  private readonly map = new Map<string, unknown>()
  private readonly listeners = new Set<(key: string, value: unknown) => void>()

  get<T> (key: string): T | undefined { return this.map.get(key) as T | undefined }
  entries<T> (prefix: string): Array<[string, T]> {
    return [...this.map.entries()].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => a.localeCompare(b)) as Array<[string, T]>
  }

  async put (key: string, value: unknown): Promise<unknown> {
    this.map.set(key, structuredClone(value))
    for (const l of this.listeners) l(key, value)
    return value
  }

  async del (key: string): Promise<void> {
    if (!this.map.delete(key)) return
    for (const l of this.listeners) l(key, undefined)
  }

  onChange (listener: (key: string, value: unknown) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
