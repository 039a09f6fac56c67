// A kernel is WGSL text plus its bindings declared once as data; the `@group/@binding` header and
// the uniform `Params` struct are generated from that declaration, and `pack` lays out the params
// the way WGSL's uniform address space wants them. Kernels know nothing of tensors or autograd.
import type { BufferWindow, Resource } from '../device/bind-groups.js';
import { device } from '../device/device.js';
import { profile } from './profile.js';

export type StorageType = 'f32' | 'vec4f' | 'f16' | 'vec4h' | 'i32' | 'u32' | 'vec4u' | 'atomic<u32>' | 'atomic<i32>';
/**
 * How a float tensor's elements are stored: 'f32', or 'f16' (float16 tensors). Kernels specialised
 * by it load with `f32(x[i])` and compute in f32 (accumulations too), storing `${float}(v)`; a
 * kernel that binds f16 storage gets `enable f16;`, and only such a kernel.
 */
export type FloatType = 'f32' | 'f16';
/** The vec4 of a float storage type. */
export const vec4Of = (float: FloatType): 'vec4f' | 'vec4h' => (float === 'f16' ? 'vec4h' : 'vec4f');
/** The suffix a kernel's name takes for its float storage type: '_f16', none for f32. */
export const floatSuffix = (float: FloatType): string => (float === 'f16' ? '_f16' : '');
/** Bytes of one element of a float storage type. */
export const floatBytes = (t: FloatType): number => (t === 'f16' ? 2 : 4);
/** The largest finite float32. */
export const F32_MAX = 3.4028234663852886e38;
/** WGSL storing the f32 value `v` as `float` (f16: WGSL's f16(), the adapter's rounding; F16_RNE_WGSL where it must be exact). */
export const narrow = (float: FloatType, v: string): string => (float === 'f16' ? `f16(${v})` : v);

// f16_rne(v) and vec4h_rne(v): f32 to f16 rounded to nearest, ties to even, +-Inf from 65520 up,
// subnormals kept: the host's conversion, for the cast ops. WGSL's f16() may round either way and
// may give 65504 up to 65536, so it is done on the bits, with integer steps that also hold where
// the compiler assumes finite math (NaN stays a NaN, +-Inf stays +-Inf).
export const F16_RNE_WGSL = /* wgsl */ `fn f16_bits_rne(v: f32) -> u32 {
  let bits = bitcast<u32>(v);
  let sign = (bits >> 16u) & 0x8000u;
  let a = bits & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u; }  // NaN
  if (a >= 0x477ff000u) { return sign | 0x7c00u; } // 65520 (the tie above 65504) and up: Inf
  if (a >= 0x38800000u) {                          // a normal f16: exponent rebiased, 13 bits rounded off
    let r = a - 0x38000000u;
    return sign | ((r + 0xfffu + ((r >> 13u) & 1u)) >> 13u);
  }
  if (a < 0x33000000u) { return sign; }            // below 2^-25, half the smallest subnormal: zero
  let shift = 126u - (a >> 23u);                   // 14..24: the significand in units of 2^-24
  let m = (a & 0x7fffffu) | 0x800000u;
  let half = 1u << (shift - 1u);
  let rest = m & ((half << 1u) - 1u);
  let units = m >> shift;
  return sign | (units + select(0u, 1u, rest > half || (rest == half && (units & 1u) == 1u)));
}
fn f16_rne(v: f32) -> f16 { return bitcast<vec2<f16>>(f16_bits_rne(v)).x; }
fn vec4h_rne(v: vec4f) -> vec4h { return vec4h(f16_rne(v.x), f16_rne(v.y), f16_rne(v.z), f16_rne(v.w)); }`;
/**
 * 2-D rgba32float textures: 'load' ones are sampled textures read with textureLoad(t, xy, 0), 'read'
 * ones read-only storage textures read with textureLoad(t, xy) (WGSL's
 * readonly_and_readwrite_storage_textures), 'store' ones written with textureStore.
 */
export type TextureAccess = 'load' | 'read' | 'store';

const TEXTURE_BINDINGS: Record<TextureAccess, { type: string; layout: Omit<GPUBindGroupLayoutEntry, 'binding' | 'visibility'> }> = {
  load: { type: 'texture_2d<f32>', layout: { texture: { sampleType: 'unfilterable-float' } } },
  read: { type: 'texture_storage_2d<rgba32float, read>', layout: { storageTexture: { access: 'read-only', format: 'rgba32float' } } },
  store: { type: 'texture_storage_2d<rgba32float, write>', layout: { storageTexture: { access: 'write-only', format: 'rgba32float' } } },
};
/** Uniform fields: 4-byte scalars, or `dims`, an array of 8 u32 (shapes and strides, rank <= 8). */
export type ParamType = 'u32' | 'i32' | 'f32' | 'dims';
const MAX_RANK = 8;

/** A shape with more dims than a kernel indexes; the op that ran the kernel gives its own name (autograd/op.ts). */
export class RankLimitError extends RangeError {
  constructor(
    by: string,
    readonly rank: number,
  ) {
    super();
    this.by(by);
  }

  /** Says that `op` refused. */
  by(op: string): void {
    this.message = `${op}: rank ${this.rank} exceeds ${MAX_RANK}, the most dims a kernel indexes (counted after dropping size-1 dims and merging neighbours laid out one after another in every operand); allowed: shapes whose dims merge to ${MAX_RANK} or fewer`;
  }
}

// GPUShaderStage.COMPUTE; a literal because kernels are declared before Dawn's globals exist.
const SHADER_STAGE_COMPUTE = 4;

export interface KernelSpec {
  name: string;
  /** Storage buffers in binding order; `read` ones first by convention. */
  read?: Record<string, StorageType>;
  write?: Record<string, StorageType>;
  /** Textures, bound after the storage buffers. */
  textures?: Record<string, TextureAccess>;
  params?: Record<string, ParamType>;
  /** The WGSL body: helper fns and `@compute fn main`. May use the names declared above, and `p.<param>`. */
  body: string;
  /** WGSL extensions the body needs (`enable` directives), e.g. 'subgroups'. */
  enable?: string[];
  /**
   * The kernel may report bad input with `raise_fault(bit)`, a bit from src/device/faults.ts
   * `defineFault`; the device's fault word is bound after the textures.
   */
  faults?: boolean;
}

export type ParamValues = Record<string, number | readonly number[]>;

export class Kernel {
  readonly name: string;
  readonly wgsl: string;
  readonly layoutEntries: GPUBindGroupLayoutEntry[];
  private readonly fields: { name: string; type: ParamType; offset: number }[] = [];
  /** Bytes of this kernel's uniforms (0: none). */
  readonly paramBytes: number;
  private readonly faults: boolean;

  constructor(spec: KernelSpec) {
    this.name = spec.name;
    assertBlockVarsInitialised(spec.name, spec.body);
    assertSharedComponentStores(spec.name, spec.body);
    const storage = [
      ...Object.entries(spec.read ?? {}).map(([n, t]) => [n, t, 'read'] as const),
      ...Object.entries(spec.write ?? {}).map(([n, t]) => [n, t, 'read_write'] as const),
    ];
    const textures = Object.entries(spec.textures ?? {});
    for (const [n] of [...storage, ...textures]) if (n === 'p') throw new Error(`${spec.name}: a binding may not be named 'p' (the params struct)`);
    const header = storage.map(
      ([n, t, access], i) => `@group(0) @binding(${i}) var<storage, ${access}> ${n}: array<${t}>;`,
    );
    this.layoutEntries = storage.map(([, , access], binding): GPUBindGroupLayoutEntry => ({
      binding,
      visibility: SHADER_STAGE_COMPUTE,
      buffer: { type: access === 'read' ? 'read-only-storage' : 'storage' },
    }));
    for (const [n, access] of textures) {
      const binding = this.layoutEntries.length;
      header.push(`@group(0) @binding(${binding}) var ${n}: ${TEXTURE_BINDINGS[access].type};`);
      this.layoutEntries.push({ binding, visibility: SHADER_STAGE_COMPUTE, ...TEXTURE_BINDINGS[access].layout });
    }
    this.faults = spec.faults ?? false;
    if (this.faults) {
      const binding = this.layoutEntries.length;
      header.push(`@group(0) @binding(${binding}) var<storage, read_write> faults: array<atomic<u32>>;`);
      header.push('fn raise_fault(bit: u32) { atomicOr(&faults[0], bit); }');
      this.layoutEntries.push({ binding, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'storage' } });
    }
    const bound = this.layoutEntries.length;
    let offset = 0;
    const structFields: string[] = [];
    for (const [name, type] of Object.entries(spec.params ?? {})) {
      const align = type === 'dims' ? 16 : 4;
      offset = Math.ceil(offset / align) * align;
      this.fields.push({ name, type, offset });
      structFields.push(`  ${name}: ${type === 'dims' ? 'array<vec4u, 2>' : type},`);
      offset += type === 'dims' ? 32 : 4;
    }
    this.paramBytes = this.fields.length ? Math.ceil(offset / 16) * 16 : 0;
    if (this.fields.length) {
      header.push(`struct Params {\n${structFields.join('\n')}\n}`);
      header.push(`@group(0) @binding(${bound}) var<uniform> p: Params;`);
      this.layoutEntries.push({
        binding: bound,
        visibility: SHADER_STAGE_COMPUTE,
        buffer: { type: 'uniform', hasDynamicOffset: true }, // the device picks the slot at dispatch
      });
    }
    const usesF16 = storage.some(([, t]) => t === 'f16' || t === 'vec4h');
    const enables = [...new Set([...(usesF16 ? ['f16'] : []), ...(spec.enable ?? [])])].map((e) => `enable ${e};\n`).join('');
    const requires = textures.some(([, access]) => access === 'read') ? 'requires readonly_and_readwrite_storage_textures;\n' : '';
    this.wgsl = `${enables}${requires}// kernel: ${spec.name}\n${header.join('\n')}\n${DIM_HELPER}\n${spec.body}`;
  }

  /** Writes `values` as this kernel's uniforms at byte `at` of `view` (the device's staging slot; no allocation). */
  writeParams(view: DataView, at: number, values: ParamValues): void {
    for (const { name, type, offset } of this.fields) {
      const v = values[name];
      if (v === undefined) throw new Error(`${this.name}: missing param '${name}'`);
      const o = at + offset;
      if (type === 'dims') {
        const arr = v as readonly number[];
        if (arr.length > MAX_RANK) throw new RankLimitError(this.name, arr.length);
        for (let i = 0; i < MAX_RANK; i++) view.setUint32(o + 4 * i, i < arr.length ? arr[i]! : 0, true);
      } else if (type === 'f32') {
        // WGSL may assume finite floats (issue #13: a maxNorm of Infinity clipped by 0 on a GPU): a host
        // bug, not a user's input (ops check theirs); 'no limit' goes as a flag or a finite sentinel
        if (!Number.isFinite(Math.fround(v as number))) throw new RangeError(`${this.name}: uniform '${name}' must be a finite float32 (kernels may assume finite math: pass 'no limit' as a flag), got ${v}`);
        view.setFloat32(o, v as number, true);
      }
      else if (type === 'i32') view.setInt32(o, v as number, true);
      else view.setUint32(o, v as number, true);
    }
  }

  /** Records one dispatch; resources in declaration order (read, write, then textures). */
  launch(buffers: Resource[], params: ParamValues, workgroups: readonly [number, number, number]): void {
    const dev = device();
    dev.dispatch(this, this.faults ? [...buffers, dev.faultWord] : buffers, params, workgroups);
  }
}

/**
 * Throws if `body` declares a `var` without an initializer inside a block (a loop's or an if's
 * body): Tint gives such a variable its zero value once, where the function starts, not each time
 * the block runs (Dawn's SPIR-V has no store at the declaration), so a loop's pass would see the
 * last pass's values. `var x = T();` is zeroed on every pass.
 */
function assertBlockVarsInitialised(kernel: string, body: string): void {
  const code = body.replace(/\/\/[^\n]*/g, ''); // comments may say anything
  let depth = 0;
  let at = 0;
  // every declaration, wherever it sits on its line (`{ var x: f32; ... }` too, or `var<function>`), at the brace depth where it starts
  for (const bare of code.matchAll(/\bvar(?:\s*<\s*function\s*>)?\s+(\w+)\s*:[^=;]*;/g)) {
    for (; at < bare.index; at++) depth += code[at] === '{' ? 1 : code[at] === '}' ? -1 : 0;
    if (depth >= 2) throw new Error(`${kernel}: 'var ${bare[1]}' is declared in a block without an initializer, so Tint zeroes it once, not on each pass; write 'var ${bare[1]} = T();'`);
  }
}

/**
 * Throws if `body` stores into one component of a vector in workgroup memory through an index that
 * is not a literal (`tile[i][j] = x`): Tint's HLSL for FXC (Dawn's D3D11 backend, and D3D12 without
 * DXC) writes such a component by reading the whole vector and writing it back, so lanes storing
 * neighbouring components of one vector lose each other's writes (lavapipe, running a workgroup's
 * lanes one after another, never shows it). A swizzle (`tile[i].x = x`) stores its one component.
 */
function assertSharedComponentStores(kernel: string, body: string): void {
  for (const [, name, array] of body.matchAll(/var<workgroup>\s+(\w+)\s*:\s*(array<\s*)?vec/g)) {
    const depth = array ? 2 : 1; // the index that picks a component
    for (const use of body.matchAll(new RegExp(`\\b${name}\\s*\\[`, 'g'))) {
      const indices: string[] = [];
      let at = use.index + use[0].length - 1; // at an opening bracket
      while (body[at] === '[') {
        const close = closingBracket(body, at);
        indices.push(body.slice(at + 1, close));
        at = close + 1;
        while (/\s/.test(body[at] ?? '')) at++;
      }
      const stored = /^((<<|>>|[-+*/%&|^])?=(?!=)|\+\+|--)/.test(body.slice(at, at + 3)); // an assignment, compound or not, ++ or --
      const component = indices[depth - 1];
      if (stored && component !== undefined && !/^\s*\d+[iu]?\s*$/.test(component)) {
        throw new Error(`${kernel}: '${name}[${indices.join('][')}] =' stores one component of a workgroup vector through a computed index, which FXC-compiled HLSL does by rewriting the whole vector (a race between lanes); store it with a swizzle (.x, .y, .z, .w)`);
      }
    }
  }
}

/** Where the bracket opened at `at` of `text` closes. */
function closingBracket(text: string, at: number): number {
  for (let open = 0; at < text.length; at++) {
    open += text[at] === '[' ? 1 : text[at] === ']' ? -1 : 0;
    if (open === 0) return at;
  }
  return at;
}

// Every kernel gets these: `dim(p.shape, i)` reads entry i of a `dims` param, and
// `strided(i, rank, shape, strides)` is the offset of flat index i of `shape` in a buffer laid out
// with `strides` (0 along broadcast dims).
const DIM_HELPER = `fn dim(a: array<vec4u, 2>, i: u32) -> u32 { return a[i / 4u][i % 4u]; }
fn strided(i: u32, rank: u32, shape: array<vec4u, 2>, strides: array<vec4u, 2>) -> u32 {
  var rem = i;
  var off = 0u;
  for (var d = i32(rank) - 1; d >= 0; d--) {
    let n = dim(shape, u32(d));
    off += (rem % n) * dim(strides, u32(d));
    rem /= n;
  }
  return off;
}`;

// ---- binding windows ---------------------------------------------------------------------------
// A buffer larger than the profile's binding limit is bound a window at a time: kernels that work
// element by element run over it in pieces, each binding windows of their big buffers (offsets
// aligned as the adapter requires) and taking the piece's first element as `base`.

/**
 * The pieces [start, start + count) of n elements of `elementBytes` each that one binding can cover,
 * at most `most` elements each where the kernel takes fewer at once (but never less than one
 * alignment); each start aligned for a window of elements of `narrowest` bytes too (a cast binds
 * both widths).
 */
export function pieces(n: number, elementBytes: number, narrowest = elementBytes, most = Infinity): { start: number; count: number }[] {
  const limit = Math.min(profile().bindingLimit, most * elementBytes);
  if (n === 0) return []; // nothing to do (and nothing to bind)
  if (n * elementBytes <= limit) return [{ start: 0, count: n }];
  const align = alignment(narrowest); // a multiple of the wider elements' alignment
  // at least one aligned piece (only a limit lowered for tests, or a `most` below one alignment, is
  // ever below that: then each piece is one alignment long, past `most`)
  const step = Math.max(align, Math.floor(limit / elementBytes / align) * align);
  const out: { start: number; count: number }[] = [];
  for (let start = 0; start < n; start += step) out.push({ start, count: Math.min(step, n - start) });
  return out;
}

/**
 * Pieces [start, start + count) of n elements, at most `most` each, starting anywhere (for kernels
 * that bind shifted windows): as long as `fits(start, count)` allows (fewer elements never need
 * more; a single one always fits).
 */
export function piecesThatFit(n: number, most: number, fits: (start: number, count: number) => boolean): { start: number; count: number }[] {
  const out: { start: number; count: number }[] = [];
  for (let start = 0; start < n; ) {
    let [lo, hi] = [1, Math.min(most, n - start)];
    if (fits(start, hi)) lo = hi;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits(start, mid)) lo = mid;
      else hi = mid - 1;
    }
    out.push({ start, count: lo });
    start += lo;
  }
  return out;
}

const alignBytes = (): number => profile().offsetAlignment;

/** Elements of `elementBytes` each between two offsets a binding may start at. */
function alignment(elementBytes: number): number {
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  return alignBytes() / gcd(alignBytes(), elementBytes);
}

/**
 * Elements [start, start + count) of `buffer` bound from the aligned element at or before `start`,
 * for kernels that take any start: the binding, and `shift`, the elements before `start` in it
 * (which the kernel adds to its indices; 0 where the buffer is bound whole).
 */
export function shiftedWindow(buffer: GPUBuffer, start: number, count: number, elementBytes = 4): { binding: GPUBuffer | BufferWindow; shift: number } {
  const first = start - (start % alignment(elementBytes));
  return { binding: windowOf(buffer, first, start - first + count, elementBytes), shift: start - first };
}

/** Bytes a shiftedWindow may hold and still fit a binding (its shift is less than one alignment's bytes, rounded up to a word). */
export const windowRoom = (): number => profile().bindingLimit - alignBytes();

/**
 * Rows [row0, row0 + rows) of `n`, for row kernels over tensors larger than a binding: one chunk
 * when `n` rows of `rowBytes` fit a binding, else as many rows to a chunk as fit one with room for
 * a shiftedWindow's shift. A single row that does not fit is an error naming `op` and `what` (the
 * tensor whose rows these are).
 */
export function rowChunks(n: number, rowBytes: number, op: string, what: string): { row0: number; rows: number }[] {
  const limit = profile().bindingLimit;
  if (n * rowBytes <= limit) return [{ row0: 0, rows: n }];
  const room = windowRoom();
  const per = Math.floor(room / rowBytes);
  if (per < 1) {
    throw new RangeError(
      `${op}: ${what} has rows of ${rowBytes} bytes, but a row must fit one binding: at most ${room} bytes on this adapter (binding limit ${limit} less ${alignBytes()} of offset alignment)`,
    );
  }
  const out: { row0: number; rows: number }[] = [];
  for (let row0 = 0; row0 < n; row0 += per) out.push({ row0, rows: Math.min(per, n - row0) });
  return out;
}

/**
 * Elements [start, start + count) of `buffer` as a binding: the whole buffer when the range starts
 * it and the buffer fits a binding (kernels index only their count), else a window. Whole buffers
 * keep the bind groups a loop makes few (bind-groups.ts); `exact` asks for the window anyway, where
 * the dispatch writes another window of the buffer too (bindings written must not overlap).
 */
export function windowOf(buffer: GPUBuffer, start: number, count: number, elementBytes = 4, exact = false): GPUBuffer | BufferWindow {
  if (start === 0 && !exact && bindsWhole(buffer)) return buffer;
  return { buffer, offset: start * elementBytes, size: Math.max(elementBytes, Math.ceil((count * elementBytes) / 4) * 4) };
}

/** Whether `buffer` fits one binding whole. */
export const bindsWhole = (buffer: GPUBuffer): boolean => device().bufferSize(buffer) <= profile().bindingLimit;

/** `make` memoized by its argument: each variant of a kernel family is built (and compiled) once. */
export function variants<K, V = Kernel>(make: (key: K) => V): (key: K) => V {
  const built = new Map<K, V>();
  return (key) => {
    let v = built.get(key);
    if (v === undefined) built.set(key, (v = make(key)));
    return v;
  };
}

/** Workgroups along one grid axis at most (WebGPU's default maxComputeWorkgroupsPerDimension). */
export const MAX_GROUPS = 65535;

/** f(0), ..., f(n - 1) joined: unrolled WGSL. */
export const each = (n: number, f: (i: number) => string, sep = '\n'): string => Array.from({ length: n }, (_, i) => f(i)).join(sep);

/** Workgroup counts covering n invocations of a 1-D kernel of `size` lanes; 2-D once n outgrows one axis. */
export function grid1d(n: number, size: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / size));
  if (groups <= MAX_GROUPS) return [groups, 1, 1];
  return [MAX_GROUPS, Math.ceil(groups / MAX_GROUPS), 1];
}

/** Rows spread over x and y when there are more than 65535 (one workgroup per row). */
export function gridRows(rows: number): [number, number, number] {
  if (rows <= MAX_GROUPS) return [Math.max(1, rows), 1, 1];
  return [MAX_GROUPS, Math.ceil(rows / MAX_GROUPS), 1];
}

/** WGSL for the flat index of a grid1d/gridRows launch: `linear(gid, nwg, size)`. */
export const LINEAR = `fn linear(id: vec3u, nwg: vec3u, size: u32) -> u32 { return id.x + id.y * nwg.x * size; }`;

/**
 * The `main` of a one-lane-per-element kernel launched with grid1d(p.n, size): `body` runs with
 * `i`, the element index, for i < p.n (so the kernel declares a `n: 'u32'` param).
 */
export function perElement(size: number, body: string): string {
  return `${LINEAR}
@compute @workgroup_size(${size})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = linear(gid, nwg, ${size}u);
  if (i >= p.n) { return; }
${body}
}`;
}

// ---- grouped kernels ---------------------------------------------------------------------------
// A grouped kernel works on several tensors in one dispatch (the "multi-tensor apply" of fused
// optimizers). Each member gets whole workgroups of its own, back to back: the member is the same
// across a workgroup (no lane searches for it, no lanes of one workgroup in different cases of the
// switch that picks its bindings: WGSL cannot index bindings, so each member's tensors are bindings
// of their own). `ends` holds the members' running workgroup counts, `sizes` their element counts.

/** Members per grouped dispatch at most: their counts fill one `dims` param each (8 entries). */
const MAX_GROUP = 8;

/** Members one grouped dispatch can take on this adapter: `each` storage bindings a member, `others` beside them. */
export function groupSize(each: number, others = 0): number {
  const bindings = device().info.limits.maxStorageBuffersPerShaderStage ?? 8;
  return Math.max(1, Math.min(MAX_GROUP, Math.floor((bindings - others) / each)));
}

/**
 * The `main` of a grouped kernel of `group` members and `size`-lane workgroups, launched as
 * groupLaunch says: `body` runs with `k`, the member, and `j`, an element of it (j < its size).
 */
export function perMember(size: number, group: number, body: string): string {
  return `
@compute @workgroup_size(${size})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lane: u32) {
  let w = wid.x + wid.y * nwg.x;
  var k = 0u;
  while (k < ${group - 1}u && w >= dim(p.ends, k)) { k++; }
  let j = (w - select(0u, dim(p.ends, max(k, 1u) - 1u), k > 0u)) * ${size}u + lane;
  if (j >= dim(p.sizes, k)) { return; }
${body}
}`;
}

/** The `sizes` and `ends` params of a perMember kernel over members of these sizes, and its grid (null: nothing to do). */
export function groupLaunch(sizes: readonly number[], size: number): { params: { sizes: number[]; ends: number[] }; grid: [number, number, number] | null } {
  const ends: number[] = [];
  let groups = 0;
  for (const n of sizes) ends.push((groups += Math.ceil(n / size)));
  return { params: { sizes: [...sizes], ends }, grid: groups ? grid1d(groups * size, size) : null };
}
