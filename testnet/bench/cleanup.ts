// Everything a benchmark starts is registered here, so that one call undoes it all: on success, on an error and on
// Ctrl-C. A benchmark that leaves ten daemons and a busy loop behind ruins the next run's figures.
import type { ChildProcess } from 'node:child_process'
import { readdir, readFile, rm } from 'node:fs/promises'
import { stopDaemon, type RunningDaemon } from '../daemons.js'

export class Cleanup {
  private readonly daemons = new Set<RunningDaemon>()
  private readonly children = new Set<ChildProcess>()
  private readonly dirs = new Set<string>()
  private running: Promise<void> | undefined
  /** Kept data dirs (--keep), reported instead of removed. */
  keepDirs = false

  get closed (): boolean {
    return this.running !== undefined
  }

  /** Registers a daemon; one that starts after cleanup began (a restart racing Ctrl-C) is stopped at once. */
  daemon (d: RunningDaemon): RunningDaemon {
    if (this.closed) void stopDaemon(d, 2000)
    else this.daemons.add(d)
    return d
  }

  forget (d: RunningDaemon): void {
    this.daemons.delete(d)
  }

  child (proc: ChildProcess): ChildProcess {
    if (this.closed) proc.kill('SIGKILL')
    else this.children.add(proc)
    return proc
  }

  dir (path: string): string {
    this.dirs.add(path)
    return path
  }

  /** Idempotent: every caller (finally blocks, the signal handler) awaits the same run. */
  async run (): Promise<void> {
    this.running ??= this.sweep()
    await this.running
  }

  private async sweep (): Promise<void> {
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    }
    // SIGTERM lets each daemon leave its region; SIGKILL after 5 s whatever hangs.
    await Promise.all([...this.daemons].map(async d => await stopDaemon(d, 5000).catch(() => null)))
    await this.reapStragglers()
    for (const dir of this.dirs) {
      if (this.keepDirs) process.stderr.write(`kept ${dir}\n`)
      else await rm(dir, { recursive: true, force: true }).catch(() => {})
    }
  }

  /**
   * A daemon whose start was still in flight when cleanup began, or whose start timed out, was never registered. It
   * is our child and names one of our temp dirs on its command line, which singles it out; it is killed by its pid,
   * never by name.
   */
  async reapStragglers (): Promise<void> {
    if (this.dirs.size === 0) return
    let entries: string[]
    try {
      entries = await readdir('/proc')
    } catch {
      return
    }
    for (const entry of entries) {
      if (!/^\d+$/.test(entry)) continue
      try {
        const stat = await readFile(`/proc/${entry}/stat`, 'utf8')
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
        if (ppid !== process.pid) continue
        const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0')
        if (cmdline.some(arg => [...this.dirs].some(dir => arg.startsWith(dir)))) process.kill(Number(entry), 'SIGKILL')
      } catch {}
    }
  }
}
