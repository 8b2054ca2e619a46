// The replicated state's public surface.
export { ReplicatedState, ENTRY_PREFIX, PURGED_PREFIX } from './state.js'
export type { ReplicatedStateInit, ChangeListener, SyncResult, StateStats } from './state.js'
export { HybridClock, compareHlc, DEFAULT_MAX_DRIFT_MS } from './hlc.js'
export type { Hlc, HybridClockOptions } from './hlc.js'
export { wins, compareVersions, digestOf, diff } from './merge.js'
export type { Entry, Version } from './merge.js'
export { MAX_KEY_CHARS, MAX_VALUE_BYTES, checkKey, checkValue } from './schema.js'
export { StateError, InvalidEntryError, StaleWriteError } from './errors.js'
