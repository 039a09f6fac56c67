// `gpt serve --checkpoint DIR` of a Hugging Face GPT-2 directory: sent in our format, its bytes those
// loadCheckpoint's checkpoint encodes to (checkpointBytes, computed here from the whole checkpoint in
// memory), whole and by ranges, for each way transformers lays a model out; refused at the start
// with loadCheckpoint's own error; and read from its files per request, a tensor at a time, so that
// the server holds none of it between requests and a file written in place since is a 500, not
// other bytes under the same ETag.
import { mkdirSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it, vi } from 'vitest';
import { startServer, type StaticServer } from '../src/cli/serve.js';
import { checkpointBytes } from '../src/gpt/checkpoint.js';
import { serializeSafetensors, type SafetensorsTensor } from '../src/io/safetensors.js';
import { loadCheckpoint } from '../src/node/checkpoint-dir.js';
import { getCheckpoint, tempDir } from './cli-helpers.js';
import { gpt2Config, randomGPT2, SMALL, writeGPT2Dir, type GPT2DirOptions } from './hf-reference.js';

const dir = tempDir('cli-serve-hf');
const root = join(dir, 'web');
mkdirSync(root);


/** How many bytes a GET of /checkpoint.safetensors receives (none kept). */
function downloaded(server: StaticServer): Promise<number> {
  const { hostname, port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    request({ hostname, port, path: '/checkpoint.safetensors' }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => (n += d.length));
      res.on('end', () => resolve(n));
    })
      .on('error', reject)
      .end();
  });
}

/** The [start, end) of each tensor in a safetensors file's bytes, from its header read here. */
function tensorSpans(bytes: Uint8Array): [number, number][] {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { data_offsets?: [number, number] }>;
  return Object.values(header).flatMap((t) => (t.data_offsets ? [[8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]] as [number, number]] : []));
}

describe('gpt serve, a Hugging Face model directory', () => {
  const layouts: [string, GPT2DirOptions][] = [
    ['prefixed names, no head', { prefix: true, head: false }],
    ['bare names, the tied head saved', { prefix: false, head: true }],
    ["the tied head saved alone, as safetensors' save_model keeps it", { prefix: true, head: 'only' }],
    ['F16 weights', { prefix: true, head: false, dtype: 'F16', config: gpt2Config({ torch_dtype: 'float16' }) }],
    ['3 shards', { prefix: true, head: true, shards: 3 }],
  ];
  it.each(layouts)('%s: sent whole, by HEAD, and a tensor a range, as the bytes its checkpoint encodes to', async (name, opts) => {
    const hf = join(dir, name.replace(/\W+/g, '-'));
    writeGPT2Dir(hf, randomGPT2(), opts);
    const want = Buffer.from(checkpointBytes(await loadCheckpoint(hf)));
    const server = await startServer({ root, port: 0, checkpoint: hf });
    try {
      const whole = await getCheckpoint(server);
      expect([whole.status, whole.length]).toEqual([200, want.length]);
      expect(whole.body.equals(want)).toBe(true);
      expect(await getCheckpoint(server, {}, 'HEAD')).toEqual({ status: 200, length: want.length, body: Buffer.alloc(0) });
      const spans = tensorSpans(want);
      expect(spans.length).toBeGreaterThan(10);
      for (const [start, end] of [[0, 7], ...spans, [spans[1]![0] - 3, spans[2]![0] + 5]]) {
        const got = await getCheckpoint(server, { Range: `bytes=${start}-${end - 1}` });
        expect(got.status).toBe(206);
        expect(got.body.equals(want.subarray(start, end)), `bytes ${start}-${end - 1}`).toBe(true);
      }
    } finally {
      await server.close();
    }
  });

  it("refuses at the start, with loadCheckpoint's error, a head that is not the token embedding or a weight not finite", async () => {
    const untied = randomGPT2();
    const head = join(dir, 'untied');
    writeGPT2Dir(head, untied, { prefix: true, head: true });
    const other = { ...untied.get('wte.weight')!, data: untied.get('wte.weight')!.data.map((x) => x + 1) };
    writeUntiedHead(head, untied, other);
    const nan = randomGPT2();
    nan.get('h.1.mlp.c_fc.weight')!.data[5] = NaN;
    writeGPT2Dir(join(dir, 'nan'), nan, { prefix: false, head: false });
    for (const hf of [head, join(dir, 'nan')]) {
      const error = await loadCheckpoint(hf).then(() => null, (e: Error) => e.message);
      expect(error, hf).toBeTruthy();
      await expect(startServer({ root, port: 0, checkpoint: hf })).rejects.toThrow(error!);
    }
    expect(openFilesUnder(dir)).toBe(0);
  });
});

/** Rewrites model.safetensors of `hf` (a writeGPT2Dir directory with the head, prefixed) with `head` as lm_head.weight. */
function writeUntiedHead(hf: string, params: ReturnType<typeof randomGPT2>, head: { shape: number[]; data: Float32Array }): void {
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const [n, { shape, data }] of params) tensors[`transformer.${n}`] = { dtype: 'F32', shape, data };
  tensors['lm_head.weight'] = { dtype: 'F32', ...head };
  writeFileSync(join(hf, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
}

/** How many of this process's open files lie under `path`. */
function openFilesUnder(path: string): number {
  const target = (fd: string) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return ''; // the listing's own descriptor, closed by now
    }
  };
  return readdirSync('/proc/self/fd').filter((fd) => target(fd).startsWith(path)).length;
}

describe('gpt serve, a Hugging Face model directory read per request', () => {
  it('holds none of its weights between requests but the last tensor read (it held the whole checkpoint, encoded, as long as it ran)', async () => {
    const hf = wideGPT2Dir();
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const held = async () => {
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 20));
      }
      return process.memoryUsage().arrayBuffers;
    };
    const before = await held();
    const server = await startServer({ root, port: 0, checkpoint: hf });
    try {
      expect(await downloaded(server)).toBeGreaterThan(12e6);
      expect((await held()) - before).toBeLessThan(2e6);
    } finally {
      await server.close();
    }
  });

  it('ranges of one tensor asked together or in turn share one read of it (each read its own: 40 ranges of a 124M token embedding held 2.5 GB)', async () => {
    const hf = wideGPT2Dir();
    const server = await startServer({ root, port: 0, checkpoint: hf });
    const weights = await open(join(hf, 'model.safetensors'));
    const read = vi.spyOn(Object.getPrototypeOf(weights) as FileHandle, 'read');
    await weights.close();
    try {
      const want = Buffer.from(checkpointBytes(await loadCheckpoint(hf)));
      const [start, end] = tensorSpans(want)[0]!; // wte.weight: 260 x 512, 532 KB
      const reads = () => read.mock.calls.reduce((bytes, call) => bytes + ((call as unknown[])[2] as number), 0); // read(buffer, offset, length, position)
      read.mockClear();
      const chunk = 50_000;
      const chunks = await Promise.all(Array.from({ length: 8 }, (_, i) => getCheckpoint(server, { Range: `bytes=${start + i * chunk}-${start + (i + 1) * chunk - 1}` })));
      chunks.push(await getCheckpoint(server, { Range: `bytes=${start + 8 * chunk}-${start + 9 * chunk - 1}` }));
      chunks.forEach((c, i) => expect(c.body.equals(want.subarray(start + i * chunk, start + (i + 1) * chunk)), `chunk ${i}`).toBe(true));
      expect(reads()).toBe(end - start);
    } finally {
      read.mockRestore();
      await server.close();
    }
  });

  it('closed with downloads under way: they end without an error (their reads are not cut off by the files closing)', async () => {
    const hf = wideGPT2Dir();
    const logged: string[] = [];
    const server = await startServer({ root, port: 0, checkpoint: hf, onRequest: (_method, _url, s, error) => logged.push(`${s} ${error}`) });
    const port = Number(new URL(server.url).port);
    const sockets = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        new Promise<Socket>((started) => {
          const socket = connect(port, '127.0.0.1', () => socket.write(`GET /checkpoint.safetensors HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nRange: bytes=${i * 1000}-\r\n\r\n`));
          socket.once('data', () => started(socket.pause())); // the server's writes back up
          socket.on('error', () => undefined);
        }),
      ),
    );
    await server.close();
    sockets.forEach((s) => s.destroy());
    await new Promise((r) => setTimeout(r, 100)); // a read cut off fails after the close
    expect(logged).toEqual(Array(4).fill('206 undefined'));
  });

  it('a weights file written in place since the start: 500 with the reason logged, not other bytes under the same ETag; its files closed with the server', async () => {
    const hf = join(dir, 'rewritten');
    writeGPT2Dir(hf, randomGPT2(), { prefix: true, head: false });
    const logged: string[] = [];
    const server = await startServer({ root, port: 0, checkpoint: hf, onRequest: (_method, _url, s, error) => logged.push(`${s} ${error}`) });
    try {
      expect((await getCheckpoint(server)).status).toBe(200);
      writeGPT2Dir(hf, randomGPT2(8), { prefix: true, head: false }); // the same size, other values
      expect((await getCheckpoint(server, { Range: 'bytes=0-7' })).status).toBe(500);
      expect(logged).toEqual(['200 undefined', `500 ${join(hf, 'model.safetensors')} changed since gpt serve checked it (saved again?): restart gpt serve to serve it`]);
    } finally {
      await server.close();
    }
    expect(openFilesUnder(hf)).toBe(0);
  });
});

/** A GPT-2 directory of 1 layer 512 wide: 12.6 MB of weights, far above what the server itself holds (its last tensor, ln_f.bias, 2 KB). */
function wideGPT2Dir(): string {
  const C = 512;
  const hf = join(dir, 'wide');
  writeGPT2Dir(hf, wideGPT2(C), { prefix: true, head: false, config: gpt2Config({ n_embd: C, n_head: 8, n_layer: 1 }) });
  return hf;
}

/** randomGPT2's tensors for a model `C` wide with one layer (zeros but the LayerNorm gains: only their size matters here). */
function wideGPT2(C: number): ReturnType<typeof randomGPT2> {
  const { V, T } = SMALL;
  const p: ReturnType<typeof randomGPT2> = new Map();
  const put = (name: string, shape: number[], fill = 0) => p.set(name, { shape, data: new Float32Array(shape.reduce((a, b) => a * b)).fill(fill) });
  put('wte.weight', [V, C]);
  put('wpe.weight', [T, C]);
  for (const n of ['h.0.ln_1', 'h.0.ln_2', 'ln_f']) {
    put(`${n}.weight`, [C], 1);
    put(`${n}.bias`, [C]);
  }
  for (const [n, I, O] of [['attn.c_attn', C, 3 * C], ['attn.c_proj', C, C], ['mlp.c_fc', C, 4 * C], ['mlp.c_proj', 4 * C, C]] as const) {
    put(`h.0.${n}.weight`, [I, O]);
    put(`h.0.${n}.bias`, [O]);
  }
  return p;
}
