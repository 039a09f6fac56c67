// What every download of ours gives up on (Node only): a server that stalls (sends no headers, or
// no next bytes of the body, for stallMs) and one that sends more than it may (maxBytes); and why a
// fetch failed, in words. Shared by `--data URL` (src/cli/corpus.ts) and the hub's cache
// (src/node/hub-cache.ts).

/** What a download may take: the most bytes, and the longest wait for headers or the next bytes of the body. */
export interface DownloadLimits {
  maxBytes: number;
  stallMs: number;
}

/** How long a server may send nothing before a download of ours gives up: undici's own wait is 300 s, holding a run (and its --out-dir's lock) that long. */
export const STALL_MS = 30_000;

/** A fetch's abort signal that fires once nothing has arrived for `stallMs`: call progressed() at each arrival, close() at the end (it aborts too, closing a body left unread). */
export interface StallWatch {
  signal: AbortSignal;
  progressed(): void;
  readonly stalled: boolean;
  close(): void;
}

export function stallWatch(stallMs: number): StallWatch {
  const controller = new AbortController();
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const watch = {
    signal: controller.signal,
    progressed() {
      clearTimeout(timer);
      timer = setTimeout(() => ((stalled = true), controller.abort()), stallMs);
    },
    get stalled() {
      return stalled;
    },
    close() {
      clearTimeout(timer);
      controller.abort();
    },
  };
  watch.progressed();
  return watch;
}

/** Why a fetch watched by `watch` failed with `e`: the stall, else the network's code (ECONNREFUSED, ENOTFOUND: fetch's own message says only "fetch failed"), else the message. */
export function fetchFailure(e: unknown, watch: StallWatch, stallMs: number): string {
  if (watch.stalled) return `no data from the server for ${stallMs / 1000} s`;
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code === 'UND_ERR_SOCKET') return `the server closed the connection mid-answer (${cause.message ?? cause.code})`; // undici's code alone says little
  return cause?.code ?? cause?.message ?? (e as Error).message;
}
