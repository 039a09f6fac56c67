// Device loss: a driver reset, a TDR on Windows, the browser's GPU process crashing, another
// process taking the memory, or destroy(). Nothing on a lost device can be used again and what its
// buffers held is gone, yet WebGPU lets most calls on it pass as no-ops, and what a readback gives
// is the implementation's choice (Dawn: an empty AbortError): the device layer checks for the loss
// itself and throws this.
export class DeviceLostError extends Error {
  constructor(
    /** GPUDeviceLostInfo's reason: 'destroyed' or 'unknown'. */
    readonly reason: string,
    /** What the driver said. */
    readonly detail: string,
    /** The op or read that met the loss, where one did. */
    what?: string,
  ) {
    super();
    this.name = 'DeviceLostError';
    this.by(what);
  }

  /** Says that `op` met the loss: the op called, over the allocation or inner op that met it first. */
  by(op: string | undefined): void {
    this.message = `${op ? `${op}: ` : ''}${this.summary}: what it held is gone; start again (restart the program, or reload the page): what was saved is kept`;
  }

  /** 'the GPU device was lost (reason, what the driver said)', for messages of their own. */
  get summary(): string {
    return lostDevice(this.reason, this.detail);
  }
}

function lostDevice(reason: string, detail: string): string {
  return `the GPU device was lost (${reason}, ${detail.trim().replace(/\s+/g, ' ') || 'no message'})`;
}
