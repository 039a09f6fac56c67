// `gpt doctor`: which WebGPU adapter the engine gets, with its features and key limits, or why
// there is none and how to fix it.
import { adapterInfo, describeAdapter, limitChoice, requestDevice, type DeviceInfo } from '../device/adapter.js';
import { dawnToggles, envFlag, envSetting, getPlatform } from '../device/platform.js';
import { doctorCheck } from '../check/index.js';
import { AUTOTUNE_BUDGET_MS, savedWinners } from '../kernels/autotune.js';
import { detectProfile, TILES, type KernelProfile, type LanesByLength } from '../kernels/profile.js';
import { ELEMENT_ROWS } from '../kernels/wgsl/matmul-skinny.js';

const KEY_FEATURES = ['shader-f16', 'timestamp-query', 'subgroups', 'chromium-experimental-subgroup-matrix'];

/** The adapter, with the limits a device the engine opens on it gets (GPT_LIMITS chooses them). */
async function findAdapter(): Promise<{ info: DeviceInfo | null; reason?: string }> {
  const choice = limitChoice();
  const { adapter, reason } = await describeAdapter();
  if (!adapter) return { info: null, reason };
  const platform = await getPlatform();
  const gpu = await requestDevice(adapter, choice);
  try {
    return { info: adapterInfo(adapter, platform, gpu.limits) };
  } finally {
    gpu.destroy();
  }
}

function oneLine(info: DeviceInfo): string {
  const name = info.description || `${info.vendor} ${info.architecture}`.trim() || 'unknown adapter';
  return `${name} (${info.backend}${info.isFallbackAdapter ? ', software' : ''})`;
}

const HOW_TO_FIX = `How to fix:
  - No GPU (or a VM/container): install a software Vulkan driver recent enough for Dawn. On Debian,
    stable's Mesa is too old ("shaderUniform*ArrayDynamicIndexing required"); the one in the
    -backports suite works. \`npm run setup\` does this (adds <mirror> <codename>-backports and
    installs mesa-vulkan-drivers from it).
  - A GPU: install its Vulkan driver (vulkaninfo should list it) and the Vulkan loader (libvulkan1).
  - Check with: vulkaninfo --summary (package vulkan-tools).`;

export async function doctor(flags: { quiet?: boolean; oneLine?: boolean; json?: boolean; check?: boolean }): Promise<number> {
  const { info, reason } = await findAdapter();
  if (!info) {
    // (a bad GPT_* setting, which would keep Dawn from being created, is refused as gpt starts: env-settings.ts)
    // the Vulkan advice is beside the point where GPT_DAWN_BACKEND asked for another backend: the reason says to unset it
    const backend = envSetting('GPT_DAWN_BACKEND');
    const fix = backend && backend !== 'vulkan' ? '' : `\n${HOW_TO_FIX}`;
    if (!flags.quiet) console.error(`No WebGPU adapter found: ${reason}${fix}`);
    return 1;
  }
  if (flags.quiet) return 0;
  if (flags.oneLine) {
    console.log(oneLine(info));
    return 0;
  }
  if (flags.json) {
    // which limits these are, as the lines below say: WebGPU's defaults read the same as a weak adapter's
    console.log(JSON.stringify({ ...info, limitChoice: limitChoice() }, null, 2));
    return 0;
  }
  const has = (f: string) => (info.features.includes(f) ? 'yes' : 'no');
  console.log(`WebGPU adapter (${info.platform})`);
  console.log(`  vendor        ${info.vendor || '-'}`);
  console.log(`  architecture  ${info.architecture || '-'}`);
  console.log(`  device        ${info.device || '-'}`);
  console.log(`  description   ${info.description || '-'}`);
  console.log(`  backend       ${info.backend}${info.isFallbackAdapter ? ' (fallback/software adapter)' : ''}`);
  console.log(`  ${KEY_FEATURES.map((f) => `${f}: ${has(f)}`).join(', ')}`);
  if (info.subgroupSizes) console.log(`  subgroup size ${info.subgroupSizes[0]}${info.subgroupSizes[1] === info.subgroupSizes[0] ? '' : `-${info.subgroupSizes[1]}`} lanes`);
  if (info.subgroupMatrixConfigs.length) {
    console.log(`  subgroup matrices ${info.subgroupMatrixConfigs.map((c) => `${c.componentType} -> ${c.resultComponentType} ${c.M}x${c.N}x${c.K}`).join(', ')}`);
  }
  console.log(`  features      ${info.features.join(' ')}`);
  // GPT_DAWN_SAFE / GPT_ROBUSTNESS choose them (src/device/platform.ts)
  if (info.platform === 'node') console.log(`  dawn flags    ${dawnToggles(envSetting).join(' ')}`);
  console.log('  kernel profile (which kernel family each op uses here; src/kernels/profile.ts)');
  for (const line of describeProfile(detectProfile(info))) console.log(`    ${line}`);
  for (const line of await describeTuning(info)) console.log(`  ${line}`);
  console.log(`  limits (${limitChoice() === 'default' ? "WebGPU's defaults: GPT_LIMITS=default" : "the adapter's"})`);
  for (const [k, v] of Object.entries(info.limits)) console.log(`    ${k.padEnd(36)} ${v.toLocaleString('en-US')}`);
  if (!flags.check) return 0;
  console.log('');
  return (await doctorCheck((line) => console.log(line))) ? 0 : 1;
}

/** Winners listed one a line at most; the rest counted. */
const SHOWN_WINNERS = 20;

/** The autotuner here: on or off, where its cache is, and the winners it holds for this adapter and driver (src/kernels/autotune.ts). */
async function describeTuning(info: DeviceInfo): Promise<string[]> {
  const { location, winners, older, others } = await savedWinners(info);
  const state = envFlag('GPT_AUTOTUNE', true)
    ? `on (GPT_AUTOTUNE=0 turns it off): a problem measured at its first use, ${AUTOTUNE_BUDGET_MS} ms at most with the compiles of its candidates`
    : "off (GPT_AUTOTUNE=0: every kernel the profile's default)";
  const shown = winners.slice(0, SHOWN_WINNERS).map(([problem, winner]) => `  ${problem}: ${JSON.stringify(winner)}`);
  return [
    `autotune      ${state}; cache ${location} (delete it to measure again): ${winners.length} winners for this adapter and driver${older ? `, ${older} of an older version (measured again)` : ''}${others ? `, ${others} for others` : ''}`,
    ...shown,
    ...(winners.length > shown.length ? [`  and ${winners.length - shown.length} more`] : []),
  ];
}

/** The skinny matmul kernels (matmul-skinny.ts) in words; 'element' is also what the others cannot take. */
const SKINNY_WORDS: Record<KernelProfile['matmul']['skinny'], string> = {
  element: 'a lane per output',
  columns: 'a lane per 4 columns of every row (vec4 loads)',
  workgroup: 'a workgroup per 4 columns, its lanes splitting K',
  auto: 'a lane per output, or a lane or a workgroup per 4 columns, measured per shape',
};

/** The skinny path: the profile's kernel for x · Wᵀ, and what other layouts take. */
function describeSkinny({ matmul: m }: KernelProfile): string {
  return `<= ${m.skinnyRows} rows of x · Wᵀ (K a multiple of 4): ${SKINNY_WORDS[m.skinny]}; other layouts a lane per output, <= ${Math.min(m.skinnyRows, ELEMENT_ROWS)} rows`;
}

/** The register-tiled buffer family, and the tilings the autotuner may measure (when on) besides the default's. */
function describeTiles({ matmul: m }: KernelProfile): string {
  const tiles = m.tileCandidates.map((t) => `${TILES[t].bm}x${TILES[t].bn}`).join(' or ');
  return `register-tiled buffers (autotune candidates: ${tiles} tiles, K splits)`;
}

/** Lanes by row length in words: '1 up to 1024 logits, else 32'. */
const describeLanes = (steps: LanesByLength) => steps.map((s) => (s.upTo === undefined ? (steps.length > 1 ? `else ${s.lanes}` : `${s.lanes}`) : `${s.lanes} up to ${s.upTo} logits`)).join(', ');

function describeProfile(p: KernelProfile): string[] {
  const rows = `${p.rowLanes === 'by-rows' ? 'a lane per row from 256 rows, else 64 lanes' : `${p.rowLanes} lanes per row`}${p.rowVec4 && p.rowLanes !== 64 ? '; a lane per row reads vec4s (LayerNorm, rows of whole vec4s)' : ''}`;
  return [
    `matmul            ${p.matmul.tiled === 'texture' ? `texture tiles (rgba32float operands, read as ${p.matmul.textureReads === 'storage' ? 'read-only storage' : 'sampled'} textures)` : describeTiles(p)}; ${describeSkinny(p)}`,
    `subgroup sharing  ${p.subgroupSharing ? 'yes (8-lane subgroupBroadcast in matmul and attention)' : 'no'}`,
    `attention         ${p.subgroupSharing ? 'a subgroup of 8 rows per workgroup, keys and values shared by subgroupBroadcast' : `64 rows per workgroup, workgroup-memory tiles; dk and dv ${p.attentionKeys === 'auto' ? 'together or split, measured per shape' : p.attentionKeys}`}`,
    `row kernels       ${rows}`,
    `sampling          lanes a row: a draw ${describeLanes(p.drawLanes)}; greedy and topk ${describeLanes(p.greedyLanes)}${p.greedyLanes.some((s) => s.lanes === 1) ? ' (one lane: 64 rows a workgroup)' : ''}`,
    `long sums         ${p.splitSums ? 'split over many workgroups, then summed in a fixed order (LayerNorm dw/db, bias gradients, embedding backward)' : 'a lane per column over a few chunks of rows'}`,
    `float16           ${p.f16 ? 'yes (float16 tensors: f16 storage, f32 accumulation; --check runs every op in float16 too)' : 'no (no shader-f16: float16 tensors are an error naming the op)'}`,
    ...(p.f16 ? [`float16 matmul    ${describeHalfMatmul(p)}`] : []),
    `int8 weights      ${describeInt8Matmul(p)}`,
    `training dtype    ${p.trainingDtype} (what gpt train --dtype auto uses)`,
  ];
}

/** How a Linear with int8 weights multiplies prompt-processing rows (decoding's few rows take the skinny kernel). */
function describeInt8Matmul({ matmul: m }: KernelProfile): string {
  const s = m.int8SubgroupMatrix;
  const decoding = `<= ${m.skinnyRows} rows: a lane per 4 columns of up to 4 rows (K a multiple of 4)`;
  if (!s) return `${decoding}; more rows: float32 activations, ${m.tiled === 'texture' ? 'weights dequantized for texture tiles' : 'dequantized in registers'} (no i8 -> i32 subgroup-matrix configuration)`;
  const lanes = `${s.lanes}-lane subgroups${s.pinned ? ' (pinned)' : ''}`;
  return `${decoding}; more rows: activations quantized per row to int8, subgroup matrices (tensor cores) ${s.M}x${s.N}x${s.K} i8 -> i32, ${lanes}, 128x128 tiles, K step ${s.bk}; verified against the host at device start`;
}

function describeHalfMatmul({ matmul: m }: KernelProfile): string {
  const s = m.subgroupMatrix;
  if (!s) return `${m.tiled === 'texture' ? 'texture tiles' : 'register-tiled buffers'}, operands widened to f32 (no chromium-experimental-subgroup-matrix with an f16 -> f32 configuration)`;
  const lanes = `${s.lanes}-lane subgroups${s.pinned ? ' (pinned)' : ''}`;
  return `subgroup matrices (tensor cores): ${s.M}x${s.N}x${s.K} f16 -> f32 fragments, ${lanes}, 128x128 tiles, K step ${s.bk}, split-K when few tiles; verified against float32 at device start`;
}
