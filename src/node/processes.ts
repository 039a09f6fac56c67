// Processes of this host by pid (Node only): whether one still runs, and when it started (Linux's
// /proc), for telling the files a killed process left from a live one's.
import { readFileSync } from 'node:fs';

/** Whether process `pid` runs (as any user), a zombie counting as dead: it holds nothing any more. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // running, as another user
  }
  return !['Z', 'X'].includes(statFields(pid)?.[0] ?? ''); // a zombie, or dead
}

/** When process `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat); null where that cannot be read (not Linux, no such process). */
export function startTicksOf(pid: number): number | null {
  const ticks = Number(statFields(pid)?.[19]);
  return Number.isSafeInteger(ticks) ? ticks : null;
}

/** The fields of /proc/<pid>/stat from the third (the state) on; null where it cannot be read (not Linux, no such process). */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' '); // after "pid (comm) ", whose comm may hold spaces and parentheses
  } catch {
    return null;
  }
}
