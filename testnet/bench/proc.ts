// What the kernel says about a process: memory from /proc/<pid>/status, CPU time from /proc/<pid>/stat, TCP byte
// counters from `ss`, and CPU affinity through `taskset`. Linux only, like the rest of the testnet.
import { execFile, execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Clock ticks per second, the unit of utime and stime; 100 on every mainstream kernel, but asked rather than assumed. */
export function clockTicks (): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    return Number.isInteger(n) && n > 0 ? n : 100
  } catch {
    return 100
  }
}

/** Resident set size in bytes (VmRSS: anonymous + file-backed + shared memory pages actually in RAM). */
export async function rssBytes (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status (a zombie?)`)
  return Number(m[1]) * 1024
}

/** utime + stime of the whole thread group, in clock ticks. */
export async function cpuTicks (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) is in parentheses and may itself hold spaces or parentheses: split after the last ')'.
  // What follows starts at field 3, so fields 14 and 15 are at indices 11 and 12.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`cannot parse /proc/${pid}/stat`)
  return utime + stime
}

export interface Endpoint { host: string, port: number }

/** One TCP socket as `ss -tinpH` shows it. */
export interface TcpSocket {
  state: string
  local: Endpoint
  peer: Endpoint
  /** Every process holding the socket (more than one after a fork that shares it). */
  pids: number[]
  bytesSent: number
  bytesReceived: number
}

function endpoint (text: string): Endpoint {
  // 127.0.0.1:4100, [::ffff:127.0.0.1]:4100, *:4100: the port is after the last colon.
  const i = text.lastIndexOf(':')
  return { host: text.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(text.slice(i + 1)) }
}

/**
 * Parses `ss -tinpH`: each socket is a summary line (state, queues, local, peer, users) followed by an indented line
 * of TCP_INFO fields. The byte counters are missing while they are zero.
 */
export function parseSs (text: string): TcpSocket[] {
  const out: TcpSocket[] = []
  let current: TcpSocket | undefined
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    if (/^\s/.test(line)) {
      if (current === undefined) continue
      current.bytesSent = Number(/\bbytes_sent:(\d+)/.exec(line)?.[1] ?? 0)
      current.bytesReceived = Number(/\bbytes_received:(\d+)/.exec(line)?.[1] ?? 0)
      continue
    }
    const cols = line.trim().split(/\s+/)
    if (cols.length < 5) continue
    current = {
      state: cols[0],
      local: endpoint(cols[3]),
      peer: endpoint(cols[4]),
      pids: [...line.matchAll(/pid=(\d+)/g)].map(m => Number(m[1])),
      bytesSent: 0,
      bytesReceived: 0
    }
    out.push(current)
  }
  return out
}

/** Every TCP socket on the host with its byte counters; sockets of other users' processes show no pids. */
export async function tcpSockets (): Promise<TcpSocket[]> {
  const { stdout } = await run('ss', ['-tinpH'], { maxBuffer: 64 * 1024 * 1024 })
  return parseSs(stdout)
}

/** Pins every thread of a running process (-a) to the given CPUs, e.g. "1" or "0-1". */
export async function pin (pid: number, cpus: string): Promise<void> {
  await run('taskset', ['-a', '-p', '-c', cpus, String(pid)])
}

/** The host's CPU time since boot in clock ticks, all CPUs together, from the first line of /proc/stat. */
export async function hostTicks (): Promise<{ busy: number, total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]
  // cpu user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user and nice.
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number)
  const total = user + nice + system + idle + iowait + irq + softirq + steal
  return { busy: total - idle - iowait, total }
}
