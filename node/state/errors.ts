/** A misuse of the replicated state: writing while stopped, or a value that could not be replicated. */
export class StateError extends Error {
  static readonly NAME: string = 'StateError'
  override name: string = StateError.NAME
}

/** A key or value that peers would refuse: too long, too large, not JSON, or refused by the `validate` hook. */
export class InvalidEntryError extends StateError {
  static override readonly NAME: string = 'InvalidEntryError'
  override name: string = InvalidEntryError.NAME
}

/**
 * A local write that could not win: the key is fenced by a higher term than the writer's (the writer is no longer
 * the region leader) or by a term at all when the writer passed none.
 */
export class StaleWriteError extends StateError {
  static override readonly NAME: string = 'StaleWriteError'
  override name: string = StaleWriteError.NAME
}
