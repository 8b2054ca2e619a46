// scheduler/: pure placement. The only module other folders may import from scheduler/.
//
// - selectRegions: the entry peer ranks regions from their summaries.
// - selectNodes: the region leader places instances on nodes (policies ROM and LDP).
// - explainDecision / reasonText: a decision in words.
// - parseSla / deploymentProblems: validating an Oakestra SLA into ApplicationSpecs.
//
// Nothing here does I/O, reads a clock or draws randomness the caller did not seed.
export { selectNodes, selectRegions } from './stack.js'
export { explainDecision, explainRanking, reasonText } from './explain.js'
export { mulberry32 } from './random.js'
export { haversineKm, vivaldiMs, fibreRttMs } from './geo.js'
export { parseSla, deploymentProblems, type ParsedSla } from './sla.js'
export { SlaError } from './errors.js'
export type * from './types.js'
