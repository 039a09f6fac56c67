// Faults: bad input that only a kernel can see (an index computed on the GPU that is out of range).
// The kernel does something safe (clamps) and sets its fault's bit in a device-wide word; the next
// read or sync reports every fault raised since the previous one as an error, so a wrong result
// cannot pass silently and no dispatch ever waits on a readback for it.
const messages: string[] = [];

/** Declares a fault once (at module load); returns its bit for kernels to set. */
export function defineFault(message: string): number {
  const existing = messages.indexOf(message);
  if (existing >= 0) return 1 << existing;
  if (messages.length === 32) throw new Error('defineFault: at most 32 faults');
  return 1 << (messages.push(message) - 1);
}

/** One line naming every fault whose bit is set. */
export function describeFaults(bits: number): string {
  const set = messages.filter((_, i) => bits & (1 << i));
  return set.length ? set.join('; ') : `unknown kernel fault bits 0x${(bits >>> 0).toString(16)}`;
}
