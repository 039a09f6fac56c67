// nanoGPT's own command line, as its README gives it: `gpt train config/train_shakespeare_char.py
// --device=cpu --compile=False --eval_iters=20 ...`. Its Python configs are read without Python (the
// values checked against Python's own), run over train.py's defaults, then its --key=value flags
// on top, read as its configurator reads them; its names taken, noted or refused as they mean here.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchHubFlags, resolveFlags, TRAIN_FLAGS, trainingConfig } from '../src/cli/train-flags.js';
import { pythonLiteral, readPythonConfig } from '../src/cli/python-config.js';
import { learningRate } from '../src/optim/schedule.js';
import { corpusText, expectOneLine, gpt, tempDir } from './cli-helpers.js';

/** Python 3's own values of these expressions (type and value), from `python3 -c 'print(type(eval(e)).__name__, eval(e))'`; max_iters = 600000 as in train.py. */
const PYTHON: [string, string, number | string][] = [
  ['6e-4', 'float', 0.0006], ['600_000', 'int', 600000], ['5 * 8', 'int', 40], ['2 ** -1', 'float', 0.5], ['7 // 2', 'int', 3], ['-7 // 2', 'int', -4],
  ['-7 % 3', 'int', 2], ['7 % -3', 'int', -2], ['7.5 % 2', 'float', 1.5], ['1 / 4', 'float', 0.25], ['4 / 2', 'float', 2.0], ['4 // 2', 'int', 2],
  ['(1 + 2) * 3', 'int', 9], ['2 ** 3 ** 2', 'int', 512], ['-2 ** 2', 'int', -4], ['\'ft-\' + "run"', 'str', 'ft-run'], ['True + 1', 'int', 2],
  ['1e3', 'float', 1000.0], ['max_iters // 10', 'int', 60000], ['6e-4 / 10', 'float', 5.9999999999999995e-5], ['.5', 'float', 0.5], ['1.', 'float', 1.0],
  ['3 - -2', 'int', 5], ['+4', 'int', 4],
];

const TRAIN_PY_SCOPE = { max_iters: { type: 'int', value: 600000 } } as const;
const read = (text: string) => readPythonConfig(text, 'config c.py', TRAIN_PY_SCOPE, (name) => name === 'wandb_run_name');

describe("nanoGPT's Python config files", () => {
  it("evaluate as Python does: literals, + - * / // % ** with Python's precedence and types, names bound above", () => {
    for (const [expr, type, value] of PYTHON) expect(read(`x = ${expr}`)[0]!.value, expr).toEqual({ type, value });
    const lines = read("import time\n# a comment\n\nout_dir = 'out-x' # trailing comment\nlr_decay_iters = max_iters\nwarmup = lr_decay_iters // 100\ns = \"it's\\n\"\nb = False\nn = None\n");
    expect(lines.map(({ name, value, line }) => [name, value, line])).toEqual([
      ['out_dir', { type: 'str', value: 'out-x' }, 4],
      ['lr_decay_iters', { type: 'int', value: 600000 }, 5],
      ['warmup', { type: 'int', value: 6000 }, 6],
      ['s', { type: 'str', value: "it's\n" }, 7],
      ['b', { type: 'bool', value: false }, 8],
      ['n', { type: 'NoneType', value: null }, 9],
    ]);
  });

  it('refuse what is not that subset in one line naming the file and line; a setting ignored anyway may hold any value', () => {
    const refused: [string, string][] = [
      ["wandb_project = 'ft-' + str(time.time())", 'the call str(...) is not supported'],
      ['t = time.time', 'the attribute time.time is not supported'],
      ['if True:', "'if' is not supported"],
      ['n_layer += 1', "'n_layer += 1' is not supported"],
      ['from os import path', "'from' is not supported"],
      ["s = f'x'", 'the string prefix f is not supported'],
      ['n = 1.2.3', 'the number 1.2.3 is not supported'],
      ["'''doc'''", 'a triple-quoted string is not supported'],
      ['a = b = 1', "'a = b = 1' is not supported"],
      ['x = [1, 2]', "'[' is not supported"],
      ['x = (1 + 2', 'an unclosed parenthesis is not supported'],
      ['x = 1 +', 'a line that ends after an operator is not supported'],
      ["x = 'open", "the unterminated string 'open is not supported"],
      ['x = 1 2', "'2' here is not supported"],
      ['  n_layer = 6', 'an indented line is not supported'],
      ['bias = not True', "'not' is not supported"],
      ['n = 5 if True else 3', "'if' here is not supported"],
      ["s = '\\x41'", 'the escape \\x is not supported'],
    ];
    for (const [line, message] of refused) expect(() => read(`\n${line}\n`), line).toThrow(`config c.py line 2: ${message} (a config is name = value lines`);
    expect(() => read('x = n_layers')).toThrow("config c.py line 1: name 'n_layers' is not defined");
    expect(() => read('x = 1 / 0')).toThrow("config c.py line 1: division by zero ('/')");
    expect(() => read("x = 'a' - 'b'")).toThrow(`config c.py line 1: '-' does not apply to str "a"`);
    const skipped = read("import time\nwandb_run_name = 'ft-' + str(time.time())");
    expect(skipped).toEqual([{ name: 'wandb_run_name', value: null, line: 2, source: "'ft-' + str(time.time())" }]);
  });

  it('a value goes on over lines as in Python: inside brackets, or after a backslash that ends the line (values from python3 exec)', () => {
    const text = 'gradient_accumulation_steps = (\n    5 * 8  # ~0.5M tokens\n    // 4\n)\nmax_iters = 100 \\\n    * 3\nlearning_rate = (6e-4 +\n  # a comment line inside\n\n  0)\nout_dir = (\'out-\'\n  "ml")\nn = 1\n';
    // python3 -c "g = {}; exec(open('ml.py').read(), g)": 10, 300, 0.0006, 'out-ml', 1
    expect(read(text).map(({ name, value, line }) => [name, value, line])).toEqual([
      ['gradient_accumulation_steps', { type: 'int', value: 10 }, 1],
      ['max_iters', { type: 'int', value: 300 }, 5],
      ['learning_rate', { type: 'float', value: 0.0006 }, 7],
      ['out_dir', { type: 'str', value: 'out-ml' }, 11],
      ['n', { type: 'int', value: 1 }, 13],
    ]);
    // a skipped setting's note shows its value as one line
    expect(read("import time\nwandb_run_name = ('ft-' +  # when\n  str(time.time()))\n")[0]).toMatchObject({ line: 2, source: "('ft-' + str(time.time()))" });
    // Python's SyntaxErrors stay refused, naming the line the value starts on
    expect(() => read('x = 1\ny = (1 +\n  2\n')).toThrow('config c.py line 2: an unclosed parenthesis is not supported');
    expect(() => read('x = 1 \\ # c\n  + 2\n')).toThrow("config c.py line 1: '\\' here is not supported");
  });

  it('never take a value other than Python\'s: what Python reads otherwise or refuses is refused (values from python3)', () => {
    // Python's float // and % (divmod on fmod), -0 of an int is 0, ints exact to 2**53 - 1
    const python: [string, string, number][] = [
      ['1 // 0.1', 'float', 9.0], ['5.5 % 0.1', 'float', 0.0999999999999997], ['0.0 % 1e400', 'float', 0.0], ['-1 % 1e400', 'float', Infinity],
      ['-7.5 // 2', 'float', -4.0], ['-7 % 2.5', 'float', 0.5], ['-0 * 1.0', 'float', 0.0], ['00', 'int', 0], ['01.5', 'float', 1.5],
      ['0x10', 'int', 16], ['0o17', 'int', 15], ['0b1_01', 'int', 5], ['3 ** 33', 'int', 5559060566555523], ['2 ** 52', 'int', 4503599627370496], ['10 ** -4', 'float', 0.0001], ['0.1 ** 3', 'float', 0.0010000000000000002], ['2 ** -3', 'float', 0.125], ['9007199254740991', 'int', 9007199254740991],
    ];
    for (const [expr, type, value] of python) expect(read(`x = ${expr}`)[0]!.value, expr).toEqual({ type, value });
    const refused: [string, string][] = [
      ['n = 010', 'the number 010 is not supported'], // Python: leading zeros in decimal integer literals are not permitted
      ['n = 9007199254740993', 'the int 9007199254740993 (beyond 2**53 - 1) is not supported'],
      ['n = 2 ** 64', "the int result of '**' (beyond 2**53 - 1) is not supported"],
      ['n = 200 ** 16 ** 12', "the int result of '**' (beyond 2**53 - 1) is not supported"], // no BigInt of 2**52 bits tried
      ['n = 3 * 9007199254740991', "the int result of '*' (beyond 2**53 - 1) is not supported"],
      ['x = (-8) ** 0.5', "'**' of a negative number to a fractional power (Python's complex number) is not supported"],
      ['x = 0 ** -1', "division by zero ('**')"],
      ['x = 10.0 ** 400', "'**' whose result is too large or small for a normal float is not supported"],
      ['x = 1j', 'the number 1j is not supported'],
      ['x = 2 ** 1.5', "'**' to the fractional power 1.5 is not supported"], // JavaScript's 2.82842712474619, Python's 2.8284271247461903
      ['x = 10.0 ** 23', "'**' whose float result is near a tie between two floats (C's pow may round it either way) is not supported"], // Python's 1.0000000000000001e+23, the nearest 1e+23
      ['import', "'import ' is not supported"],
      ["s = 'ab' * 2", "'*' with str \"ab\" is not supported"],
    ];
    for (const [line, message] of refused) expect(() => read(`\n${line}\n`), line).toThrow(`config c.py line 2: ${message}`);
    // Python's open() reads a lone \r as a line end: the second line is not in the first one's comment
    expect(read('x = 1 # c\ry = 2').map(({ name, line }) => [name, line])).toEqual([['x', 1], ['y', 2]]);
    // a skipped setting's value is not the default it replaced
    expect(() => read("import time\nwandb_run_name = 'ft-' + str(time.time())\nout_dir = 'out-' + wandb_run_name")).toThrow(
      "config c.py line 3: the value of wandb_run_name (line 2: not read here) is not supported",
    );
  });

  it("--key=value is read as nanoGPT's configurator reads it: ast.literal_eval, else the text", () => {
    expect(pythonLiteral('False', 'x')).toEqual({ type: 'bool', value: false });
    expect(pythonLiteral('1e-3', 'x')).toEqual({ type: 'float', value: 0.001 });
    expect(pythonLiteral('600_000', 'x')).toEqual({ type: 'int', value: 600000 });
    expect(pythonLiteral('-2', 'x')).toEqual({ type: 'int', value: -2 });
    expect(pythonLiteral("'q'", 'x')).toEqual({ type: 'str', value: 'q' });
    expect(pythonLiteral('None', 'x')).toEqual({ type: 'NoneType', value: null });
    for (const text of ['out-shakespeare-char', 'FILE:prompt.txt', "don't", '1 + 2', 'cpu', '-True', '', '010', '1.2.3', 'gpt2-xl', 'Hello, world', 'say (hi)', 'Once upon a time...', '[x]']) expect(pythonLiteral(text, 'x'), text).toBeNull();
    // what literal_eval reads and this does not is refused, not taken as the text (values from python3's ast.literal_eval)
    expect(pythonLiteral('0x10', 'x')).toEqual({ type: 'int', value: 16 });
    expect(pythonLiteral("'a' \"b\"", 'x')).toEqual({ type: 'str', value: 'ab' });
    for (const text of ["'\\x41'", "b'x'", "r'a\\n'", "'''a'''", "('a')", '1, 2', '...', '1j']) expect(() => pythonLiteral(text, 'flag --x'), text).toThrow(/^flag --x: .* is not supported/);
  });
});

describe("nanoGPT's command line", () => {
  const cwd = process.cwd();
  let dir = '';
  beforeAll(() => {
    dir = tempDir('nanogpt-cli');
    process.chdir(dir); // nanoGPT's dataset is data/<dataset>, relative to where it runs
    for (const dataset of ['shakespeare_char', 'openwebtext']) mkdirSync(join('data', dataset), { recursive: true });
  });
  afterAll(() => process.chdir(cwd));

  /** The run's settings and training config from `args`, with the notes printed; a hub id fetched as gpt train fetches it. */
  async function settings(...args: string[]) {
    const notes: string[] = [];
    const resolved = await resolveFlags(args, TRAIN_FLAGS, (line) => notes.push(line));
    await fetchHubFlags(TRAIN_FLAGS, resolved);
    const { values, given, fromConfig } = resolved;
    return { values, cfg: trainingConfig(values, given, null, false, fromConfig), notes };
  }
  const write = (name: string, text: string) => {
    writeFileSync(name, text);
    return name;
  };
  // nanoGPT's config/train_shakespeare_char.py, in its words
  const SHAKESPEARE_CHAR = `# train a miniature character-level shakespeare model
out_dir = 'out-shakespeare-char'
eval_interval = 250 # keep frequent because we'll overfit
eval_iters = 200
log_interval = 10 # don't print too too often
always_save_checkpoint = False
wandb_log = False # override via command line if you like
wandb_project = 'shakespeare-char'
wandb_run_name = 'mini-gpt'
dataset = 'shakespeare_char'
gradient_accumulation_steps = 1
batch_size = 64
block_size = 256 # context of up to 256 previous characters
n_layer = 6
n_head = 6
n_embd = 384
dropout = 0.2
learning_rate = 1e-3 # with baby networks can afford to go a bit higher
max_iters = 5000
lr_decay_iters = 5000 # make equal to max_iters usually
min_lr = 1e-4 # learning_rate / 10 usually
beta2 = 0.99 # make a bit bigger because number of tokens per iter is small
warmup_iters = 100 # not super necessary potentially
`;
  // nanoGPT's README: "python train.py config/train_shakespeare_char.py --device=cpu --compile=False ..."
  const README_CPU = '--device=cpu --compile=False --eval_iters=20 --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0'.split(' ');

  it("the README's CPU command trains our defaults (they are that command), its runtime flags noted", async () => {
    const config = write('train_shakespeare_char.py', SHAKESPEARE_CHAR);
    const { values, cfg, notes } = await settings(config, ...README_CPU);
    const ours = await settings();
    // the one difference: --log_interval=1 on that command line, where our default keeps the file's 10
    expect(cfg).toEqual({ ...ours.cfg, logInterval: 1 });
    expect(values).toMatchObject({ outDir: 'out-shakespeare-char', dataDir: join('data', 'shakespeare_char'), alwaysSave: false, decayLr: true });
    expect(notes).toEqual([
      "nanoGPT's device = 'cpu' ignored: the run uses the WebGPU adapter gpt doctor shows",
      "nanoGPT's compile = False ignored: the GPU kernels are always compiled (there is no torch.compile)",
      "nanoGPT's wandb_log, wandb_project and wandb_run_name are ignored: no wandb here; the run logs to <out-dir>/log.jsonl, which gpt plot draws",
      "config train_shakespeare_char.py runs over nanoGPT's train.py defaults, as nanoGPT runs it: the settings neither it nor a flag gives take those, not ours: --tokenizer gpt2 (for ids without a meta.pkl)",
    ]);
  });

  it("settings a Python config leaves out take train.py's defaults, not ours; a JSON config keeps ours", async () => {
    // nanoGPT's config/train_gpt2.py names no model shape: train.py's GPT-2 124M
    const config = write('train_gpt2.py', "wandb_log = True\nwandb_run_name='gpt2-124M'\nbatch_size = 12\nblock_size = 1024\ngradient_accumulation_steps = 5 * 8\nmax_iters = 600000\nlr_decay_iters = 600000\neval_interval = 1000\nlog_interval = 10\n");
    const { values, cfg, notes } = await settings(config);
    expect(cfg).toMatchObject({ nLayer: 12, nHead: 12, nEmbd: 768, blockSize: 1024, batchSize: 12, gradAccum: 40, learningRate: 6e-4, minLr: 6e-5, warmupIters: 2000, beta2: 0.95, weightDecay: 0.1, dropout: 0, evalIters: 200 });
    expect(values).toMatchObject({ alwaysSave: true, dataDir: join('data', 'openwebtext'), outDir: 'out' });
    expect(notes.filter((n) => n.includes("nanoGPT's train.py defaults"))).toEqual([
      "config train_gpt2.py runs over nanoGPT's train.py defaults, as nanoGPT runs it: the settings neither it nor a flag gives take those, not ours: --eval-iters 200, --always-save true, --data-dir data/openwebtext, --n-layer 12, --n-head 12, --n-embd 768, --learning-rate 0.0006, --beta2 0.95, --warmup-iters 2000, --min-lr 0.00006, --tokenizer gpt2 (for ids without a meta.pkl)",
    ]);
    const json = write('c.json', '{"batch_size": 12, "gradient_accumulation_steps": 4}');
    expect((await settings(json)).cfg).toEqual({ ...(await settings()).cfg, gradAccum: 4 });
  });

  it("precedence is nanoGPT's: our defaults, train.py's, flags before a bare config, the file, flags after it; --config FILE goes under every flag", async () => {
    const config = write('p.py', 'n_layer = 6\nn_head = 2\n');
    const layers = async (...args: string[]) => (await settings(...args)).cfg;
    expect(await layers(config)).toMatchObject({ nLayer: 6, nHead: 2, nEmbd: 768 }); // the file over train.py's
    expect(await layers('--n_layer=3', '--n_embd=64', config)).toMatchObject({ nLayer: 6, nEmbd: 64 }); // the file over the flags before it
    expect(await layers('--n_embd=64', config, '--n_layer=3')).toMatchObject({ nLayer: 3, nEmbd: 64 });
    expect(await layers('--n-layer', '3', '--config', config)).toMatchObject({ nLayer: 3, nHead: 2 });
  });

  it("a finetune config: `import time` and an ignored wandb_run_name of any Python; decay_lr False is nanoGPT's constant rate", async () => {
    const finetune = "import time\nout_dir = 'out-shakespeare'\neval_interval = 5\nwandb_run_name = 'ft-' + str(time.time())\ndataset = 'shakespeare_char'\nalways_save_checkpoint = False\nbatch_size = 1\ngradient_accumulation_steps = 32\nmax_iters = 20\nlearning_rate = 3e-5\ndecay_lr = False\n";
    const { values, cfg, notes } = await settings(write('finetune.py', finetune));
    expect(values).toMatchObject({ outDir: 'out-shakespeare', alwaysSave: false, decayLr: false });
    expect(cfg).toMatchObject({ gradAccum: 32, batchSize: 1, maxIters: 20, learningRate: 3e-5, minLr: 3e-5, warmupIters: 0 });
    expect(notes).toContain("config finetune.py line 4: wandb_run_name = 'ft-' + str(time.time()) skipped: nanoGPT's wandb_run_name is ignored here");
    // its init_from names GPT-2 XL, fetched from the hub (tests run offline, the cache empty): its error names the line
    const gpt2xl = write('finetune-xl.py', `${finetune}init_from = 'gpt2-xl'\n`);
    await expect(settings(gpt2xl)).rejects.toThrow(/^config finetune-xl\.py line 12: 'init_from' gpt2-xl: no such file or directory, and the Hugging Face cache .* has no config\.json of gpt2-xl@main/);
  });

  it("the learning rate follows nanoGPT's get_lr with decay_lr True, and is learning_rate at every step with decay_lr False", async () => {
    // python3: train.py's get_lr with config/train_shakespeare_char.py's learning_rate, min_lr, warmup_iters, lr_decay_iters
    const GET_LR: [number, number][] = [
      [0, 9.900990099009901e-6], [1, 1.9801980198019803e-5], [50, 0.000504950495049505], [99, 0.0009900990099009901], [100, 0.001], [101, 0.000999999907510999],
      [1000, 0.0009271396472013282], [2550, 0.00055], [4999, 0.00010000009248900101], [5000, 0.0001], [5001, 0.0001], [6000, 0.0001],
    ];
    const config = write('lr.py', SHAKESPEARE_CHAR);
    const lrOf = (c: { learningRate: number; minLr: number; warmupIters: number; lrDecayIters: number }, step: number) => learningRate(step, { lr: c.learningRate, minLr: c.minLr, warmupIters: c.warmupIters, lrDecayIters: c.lrDecayIters });
    const decaying = (await settings(config)).cfg;
    for (const [step, lr] of GET_LR) expect(Math.abs(lrOf(decaying, step) - lr) / lr, `step ${step}`).toBeLessThan(1e-15);
    // nanoGPT: `lr = get_lr(iter_num) if decay_lr else learning_rate`, whatever min_lr and warmup_iters say
    for (const args of [[config, '--decay_lr=False'], [config, '--decay_lr=False', '--learning_rate=2e-3'], ['--decay-lr', 'false', '--warmup-iters', '50']]) {
      const constant = (await settings(...args)).cfg;
      for (const [step] of GET_LR) expect(lrOf(constant, step), `${args.join(' ')}: step ${step}`).toBe(args.includes('--learning_rate=2e-3') ? 2e-3 : 1e-3);
    }
  });

  it("from a checkpoint (init_from 'resume' or 'gpt2'), the model's shape is the checkpoint's over a Python config's, as train.py takes it; a flag that differs stays an error", async () => {
    // a run of the README's CPU command (4 layers, 128 wide, block 64), resumed as `python train.py config/train_shakespeare_char.py --init_from=resume`
    const config = write('shape.py', SHAKESPEARE_CHAR);
    const ours = (await settings()).cfg;
    const model = { vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128, dropout: 0, bias: false };
    // its AdamW's settings other than the config's: train.py's load_state_dict restores them over the config's
    const ckpt = { meta: { model, train: { ...ours, beta2: 0.95, weightDecay: 0.2 }, trainer: { step: 100 } } } as unknown as Parameters<typeof trainingConfig>[2];
    const from = async (resume: boolean, ...args: string[]) => {
      const notes: string[] = [];
      const { values, given, fromConfig, fromNanoGpt } = await resolveFlags(args, TRAIN_FLAGS, () => {});
      return { cfg: trainingConfig(values, given, ckpt, resume, fromConfig, fromNanoGpt, (line) => notes.push(line)), notes };
    };
    const resumed = await from(true, config, '--init_from=resume', '--max_iters=200');
    expect(resumed.cfg).toMatchObject({ nLayer: 4, nHead: 4, nEmbd: 128, blockSize: 64, bias: false, dropout: 0.2, maxIters: 200, beta2: 0.95, weightDecay: 0.2 }); // dropout is the config's, as in train.py
    expect((await from(true, config, '--max_iters=200', '--beta2=0.9')).cfg).toMatchObject({ beta2: 0.9, weightDecay: 0.2 }); // a flag is taken, listed as changed
    expect(resumed.notes).toEqual([
      "the model's shape is the checkpoint's, as nanoGPT's train.py takes it with init_from 'resume' or 'gpt2*': block_size 64, n_layer 4, n_head 4, n_embd 128 (config shape.py sets 256, 6, 6, 384)",
    ]);
    // fine-tuning: a block_size below the checkpoint's crops it (train.py's crop_block_size), one above it gives way
    expect((await from(false, config, '--block_size=32')).cfg).toMatchObject({ nLayer: 4, blockSize: 32 });
    expect((await from(false, config)).cfg).toMatchObject({ nLayer: 4, nEmbd: 128, blockSize: 64 });
    // nanoGPT ignores these too; a flag here is refused, in one line, rather than dropped
    await expect(from(true, config, '--n_layer=6', '--max_iters=200')).rejects.toThrow("flag --n-layer 6 differs from the checkpoint's 4: the model's shape cannot change with --init-from");
    // resuming at a shorter block would cut the position embeddings that AdamW's state is of (train.py would fail at its first step)
    await expect(from(true, write('short.py', `${SHAKESPEARE_CHAR}block_size = 32\n`), '--max_iters=200')).rejects.toThrow("config short.py line 24: 'block_size' 32 differs from the checkpoint's 64");
    // a JSON config is ours: its shape is checked as flags are
    await expect(from(true, write('shape.json', '{"n_layer": 6}'), '--max_iters=200')).rejects.toThrow("config shape.json: 'nLayer' 6 differs from the checkpoint's 4");
  });

  it("--key=value keeps the type of train.py's value, as nanoGPT's configurator asserts (an int taken as a float); each error one line", async () => {
    const config = write('t.py', SHAKESPEARE_CHAR);
    expect((await settings(config, '--bias=True', '--max_iters=1_000', '--learning_rate=1e-3', "--out_dir='o'", '--dropout=0')).values).toMatchObject({ bias: true, maxIters: 1000, outDir: 'o', dropout: 0 });
    expect((await settings(config, '--learning_rate=1')).values).toMatchObject({ learningRate: 1 });
    const refused: [string[], string][] = [
      [['--bias=1'], "flag --bias=1: nanoGPT's configurator reads int 1 here, and bias is a bool (train.py's default False)"],
      [['--n_layer=abc'], "flag --n_layer=abc: nanoGPT's configurator reads str abc here, and n_layer is an int (train.py's default 12)"],
      [['--eval_only=True'], "flag --eval_only: nanoGPT's eval_only = True evaluates and exits: that is gpt eval here"],
      [['--n_layers=3'], 'unknown flag --n_layers (see --help)'],
      [['--max_iters=0'], "flag --max_iters must be an integer >= 1, got '0'"],
    ];
    for (const [args, message] of refused) await expect(settings(config, ...args), args.join(' ')).rejects.toThrow(message);
    // a name taken as another setting is named as given when that setting's path is looked at
    for (const args of [['--dataset=nope'], ['--dataset', 'nope'], [config, '--dataset=nope'], ['--dataset=nope', '--config', config]]) {
      await expect(settings(...args), args.join(' ')).rejects.toThrow(/^flag --dataset names data.nope, which does not exist$/);
    }
    expect((await settings('--dataset=nope', config)).values.dataDir).toBe(join('data', 'shakespeare_char')); // the file's, after the flag
    await expect(settings(write('u.py', 'n_layers = 3\n'))).rejects.toThrow("config u.py line 1: 'n_layers' is no setting of nanoGPT's train.py nor of this command (see --help)");
    // every unknown name at once, as a JSON config's (README: "A config file's unknown keys are all named at once")
    await expect(settings(write('u2.py', 'n_layers = 3\nmax_iters = 10\nfoo = n_layers\nn_layers = 4\n'))).rejects.toThrow("config u2.py: 2 names are no setting of nanoGPT's train.py nor of this command: 'n_layers' (line 1), 'foo' (line 3) (see --help)");
    await expect(settings(write('e.py', 'eval_only = True\n'))).rejects.toThrow("config e.py line 1: 'eval_only': nanoGPT's eval_only = True evaluates and exits: that is gpt eval here");
    await expect(settings(config, write('v.py', ''))).rejects.toThrow("unexpected argument 'v.py': give one config file (got t.py and v.py)");
    // nanoGPT's dtype 'bfloat16': the half precision WebGPU has, where it is faster (auto)
    const bf16 = await settings(config, '--dtype=bfloat16');
    expect([bf16.cfg.dtype, bf16.notes[0]]).toEqual(['auto', expect.stringContaining("nanoGPT's dtype = 'bfloat16' is --dtype auto here: WebGPU has no bfloat16")]);
  });

  it('on the command line: one line each, notes on stderr; a bare config trains (a tiny run)', async () => {
    expectOneLine(await gpt('train', join(dir, 'nothing.py')), 2, /^gpt train: config file names .*nothing\.py, which does not exist/);
    const sample = await gpt('sample', '--out_dir=nowhere', '--device=cpu', '--compile=False');
    expect(sample.code).toBe(2);
    expect(sample.err.split('\n')).toEqual([
      "note: nanoGPT's device = 'cpu' ignored: the run uses the WebGPU adapter gpt doctor shows",
      "note: nanoGPT's compile = False ignored: the GPU kernels are always compiled (there is no torch.compile)",
      'gpt sample: flag --out-dir names nowhere, which does not exist',
    ]);
    // python sample.py config/train_shakespeare_char.py: sample.py's defaults under it, train.py's settings ignored as sample.py ignores them
    const trainConfig = write(join(dir, 'train_char.py'), SHAKESPEARE_CHAR);
    const sampled = await gpt('sample', trainConfig, '--device=cpu');
    expect(sampled.err.split('\n')).toEqual([
      "note: nanoGPT's device = 'cpu' ignored: the run uses the WebGPU adapter gpt doctor shows",
      "note: train.py's settings (n_layer, learning_rate, ...) are ignored, as nanoGPT's sample.py ignores them",
      `note: config ${trainConfig} runs over nanoGPT's sample.py defaults, as nanoGPT runs it: the settings neither it nor a flag gives take those, not ours: --num-samples 10`,
      `gpt sample: config ${trainConfig} line 2: 'out_dir' names out-shakespeare-char, which does not exist`,
    ]);
    // python train.py config/eval_gpt2.py is gpt eval's: its init_from 'gpt2' is fetched from the hub (offline in tests, the cache empty)
    const evalConfig = write(join(dir, 'eval_gpt2.py'), "batch_size = 8\neval_iters = 500 # use more iterations to get good estimate\neval_only = True\nwandb_log = False\ninit_from = 'gpt2'\n");
    const evaluated = await gpt('eval', evalConfig);
    expect(evaluated.err.split('\n').slice(-2)).toEqual([
      `note: config ${evalConfig} runs over nanoGPT's train.py defaults, as nanoGPT runs it: the settings neither it nor a flag gives take those, not ours: --data-dir data/openwebtext`,
      expect.stringMatching(new RegExp(`^gpt eval: config ${evalConfig} line 5: 'init_from' gpt2: no such file or directory, and the Hugging Face cache .* has no config\\.json of gpt2@main`)),
    ]);
    expectOneLine(await gpt('train', evalConfig), 2, /^gpt train: config .*eval_gpt2\.py line 3: 'eval_only': nanoGPT's eval_only = True evaluates and exits: that is gpt eval here/);
    const text = join(dir, 'corpus.txt');
    writeFileSync(text, corpusText(4000));
    const out = join(dir, 'tiny-run');
    const config = write(join(dir, 'tiny.py'), `out_dir = '${out}'\nn_layer = 1\nn_head = 2\nn_embd = 16\nblock_size = 16\nbatch_size = 4\ngradient_accumulation_steps = 2\nmax_iters = 1\neval_iters = 1\ndevice = 'cpu'\n`);
    const run = await gpt('train', config, `--data=${text}`, '--compile=False');
    expect(run.code, run.err).toBe(0);
    expect(run.err).toMatch(/^note: nanoGPT's device = 'cpu' ignored/m);
    expect(run.out).toMatch(/step 1\b/);
    expect(run.out).toMatch(/vocab \d\d\b/); // a text given as --data takes the place of train.py's dataset, with our char tokenizer
    // nanoGPT's data/openwebtext layout: GPT-2 ids with no meta.pkl, which train.py reads as GPT-2's
    mkdirSync(join('data', 'owt'));
    const ids = (n: number) => new Uint8Array(Uint16Array.from({ length: n }, (_, i) => (i * 7919) % 50257).buffer);
    writeFileSync(join('data', 'owt', 'train.bin'), ids(2000));
    writeFileSync(join('data', 'owt', 'val.bin'), ids(500));
    const owt = write(join(dir, 'owt.py'), `dataset = 'owt'\nout_dir = '${join(dir, 'owt-run')}'\nn_layer = 1\nn_head = 2\nn_embd = 16\nblock_size = 8\nbatch_size = 2\nmax_iters = 1\neval_iters = 1\ngradient_accumulation_steps = 1\n`);
    const gpt2Ids = await gpt('train', owt);
    expect(gpt2Ids.code, gpt2Ids.err).toBe(0);
    expect(gpt2Ids.out).toMatch(/vocab 50257\b/);
  });
});
