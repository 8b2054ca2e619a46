// What the process runtime needs to know about Linux processes, read from /proc. Kept apart from process.ts so the
// parsing can be tested on its own and the runtime reads as policy, not as file formats.
import { readFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'

/** USER_HZ: the unit of utime, stime and starttime in /proc/<pid>/stat. 100 on every Linux that Grove targets. */
export const CLOCK_TICKS_PER_SECOND = 100

export interface ProcStat {
  pid: number
  /** R, S, D, Z (zombie), X (dead), ... */
  state: string
  ppid: number
  pgrp: number
  /** CPU time in clock ticks, user + system, of this process alone. */
  cpuTicks: number
  /** Clock ticks after boot at which the process started: with the pid, it names one process for the boot's life. */
  startTime: number
}

/**
 * Parses /proc/<pid>/stat. The second field is the command name in parentheses and may itself hold spaces and
 * parentheses, so the fields are counted from the last ')'.
 */
export function parseProcStat (text: string): ProcStat | undefined {
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  if (open < 0 || close < open) return undefined
  const pid = Number(text.slice(0, open).trim())
  // After ')' come fields 3 (state) onwards: field n is at index n - 3.
  const f = text.slice(close + 2).split(' ')
  const num = (n: number): number => Number(f[n - 3])
  const stat = {
    pid,
    state: f[0] ?? '',
    ppid: num(4),
    pgrp: num(5),
    cpuTicks: num(14) + num(15),
    startTime: num(22)
  }
  if (!Number.isInteger(stat.pid) || !Number.isInteger(stat.pgrp) || !Number.isInteger(stat.startTime)) return undefined
  return stat
}

export async function readProcStat (pid: number): Promise<ProcStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return undefined
  }
}

/** Synchronous, for the one moment it matters: right after spawn(), before the event loop can reap the child. */
export function readProcStatSync (pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return undefined
  }
}

/** A zombie has exited; only its exit status is left for its parent to collect. */
export function isLive (stat: ProcStat | undefined): stat is ProcStat {
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X'
}

/** Every live process in process group `pgid`, read from /proc. */
export async function groupMembers (pgid: number): Promise<ProcStat[]> {
  let entries: string[]
  try {
    entries = await readdir('/proc')
  } catch {
    return []
  }
  const stats = await Promise.all(entries.filter(e => /^\d+$/.test(e)).map(async e => await readProcStat(Number(e))))
  return stats.filter((s): s is ProcStat => isLive(s) && s.pgrp === pgid)
}

/** Resident memory of a process in bytes, from /proc/<pid>/status (VmRSS is in kB whatever the page size). */
export async function residentBytes (pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
    return m === null ? 0 : Number(m[1]) * 1024
  } catch {
    return 0
  }
}
