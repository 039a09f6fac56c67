// The `gpt` command line. Each subcommand parses its own flags; errors print one line, not a trace.
// Exit codes: 0 done, 1 failed, 2 bad usage (nothing was done), 3 training diverged (the last good
// checkpoint is kept).
import { envFlag } from '../device/platform.js';
import { DeviceLostError } from '../device/lost.js';
import { TrainingDivergedError } from '../gpt/trainer.js';
import { benchGenerate, BENCH_GENERATE_HELP } from './bench-generate.js';
import { demo, DEMO_HELP } from './demo.js';
import { exportModel, EXPORT_HELP } from './export.js';
import { doctor } from './doctor.js';
import { envSettingsProblem } from './env-settings.js';
import { flagHelp, noPositional, parseFlags, UsageError, type FlagSpec } from './flags.js';
import { info, INFO_HELP } from './info.js';
import { plot, PLOT_HELP } from './plot.js';
import { prepare, PREPARE_HELP } from './prepare.js';
import { prune, PRUNE_HELP } from './prune.js';
import { quantize, QUANTIZE_HELP } from './quantize.js';
import { evaluate, EVAL_HELP, sample, SAMPLE_HELP } from './sample.js';
import { serve, SERVE_HELP } from './serve.js';
import { distill, DISTILL_HELP, train, TRAIN_HELP } from './train.js';

/** Accepted by every command: the WebGPU driver's own notices on stderr, and stack traces of errors. */
export const VERBOSE_FLAG = '--verbose';
const VERBOSE_DOC = "show the WebGPU driver's own notices (hidden otherwise) and the stack trace of an error";
/** The flags every command takes, listed in each command's --help below its own. */
const GLOBAL_FLAGS: FlagSpec<{ verbose: boolean }> = { defaults: { verbose: false }, ranges: {}, docs: { verbose: VERBOSE_DOC } };
const GLOBAL_HELP = `flags every command takes:\n${flagHelp(GLOBAL_FLAGS)}`;

const USAGE = `usage: gpt <command> [flags]

commands:
  demo            train a small GPT on the built-in corpus, sample from it, print what to try next
  prepare         tokenize a text corpus into train/val splits
  train           train a GPT (from scratch, --init-from resume, or fine-tune a checkpoint)
  distill         train a smaller student GPT on a teacher checkpoint's soft targets
  sample          generate text from a checkpoint
  eval            loss of a checkpoint on train/val data
  info            describe a checkpoint (model, parameters, training state, data) from its header alone
  bench-generate  prompt-processing and decoding tokens/s of batched generation (batch 1 and 8)
  plot            train/val loss curves of runs as an SVG
  export          write a checkpoint as a Hugging Face GPT-2 directory or nanoGPT's ckpt.pt, or a LoRA run's peft adapters
  quantize        write an int8 copy of a checkpoint for inference (about 4x smaller)
  prune           prune a checkpoint: smallest weights masked, or whole heads / MLP neurons removed
  doctor          show the WebGPU adapter (or why none was found and how to fix it)
  serve           serve the browser demo page (web-dist/) and optionally a checkpoint; --api: OpenAI-style completions on the GPU

Run \`gpt <command> --help\` for a command's flags. Every command also takes ${VERBOSE_FLAG}:
${VERBOSE_DOC}.`;

const DOCTOR_DEFAULTS = { json: false, oneLine: false, quiet: false, check: false };
const DOCTOR_FLAGS: FlagSpec<typeof DOCTOR_DEFAULTS> = {
  defaults: DOCTOR_DEFAULTS,
  ranges: {},
  docs: {
    json: 'machine-readable adapter description',
    oneLine: 'adapter name and backend only',
    quiet: 'print nothing; exit status 0 if an adapter was found, 1 if not',
    check: 'also run every op under every kernel variant this adapter can use against float64 references (a pass/fail table; exit status 1 on a failure)',
  },
};

interface Command {
  help: string;
  run: (args: string[]) => Promise<number>;
  /** Opens the WebGPU adapter (whose driver may print notices of its own), or does with these arguments. */
  usesAdapter: boolean | ((args: string[]) => boolean);
}

const COMMANDS: Record<string, Command> = {
  demo: { help: DEMO_HELP, run: demo, usesAdapter: true },
  prepare: { help: PREPARE_HELP, run: prepare, usesAdapter: false },
  train: { help: TRAIN_HELP, run: (args) => train(args), usesAdapter: true },
  distill: { help: DISTILL_HELP, run: distill, usesAdapter: true },
  sample: { help: SAMPLE_HELP, run: sample, usesAdapter: true },
  eval: { help: EVAL_HELP, run: evaluate, usesAdapter: true },
  info: { help: INFO_HELP, run: info, usesAdapter: false },
  'bench-generate': { help: BENCH_GENERATE_HELP, run: benchGenerate, usesAdapter: true },
  plot: { help: PLOT_HELP, run: plot, usesAdapter: false },
  export: { help: EXPORT_HELP, run: exportModel, usesAdapter: true },
  quantize: { help: QUANTIZE_HELP, run: quantize, usesAdapter: true },
  prune: { help: PRUNE_HELP, run: prune, usesAdapter: true },
  serve: { help: SERVE_HELP, run: serve, usesAdapter: (args) => args.some((a) => a === '--api' || a.startsWith('--api=')) },
  doctor: {
    help: `usage: gpt doctor [flags]\n${flagHelp(DOCTOR_FLAGS)}`,
    run: (args) => {
      const { values, positional } = parseFlags(args, DOCTOR_FLAGS);
      noPositional(positional);
      const terse = (['json', 'oneLine', 'quiet'] as const).filter((k) => values[k]).map((k) => `--${k === 'oneLine' ? 'one-line' : k}`);
      // they print the adapter alone: the checks' table would be skipped without a word
      if (values.check && terse.length) throw new UsageError(`flag --check runs with the full report only: drop ${terse.join(' and ')}`);
      return doctor(values);
    },
    usesAdapter: true,
  },
};

const wantsHelp = (args: string[]) => args.includes('--help') || args.includes('-h');

/** Whether running `argv` opens the WebGPU adapter (a known command, not asking for help). */
export function opensAdapter(argv: string[]): boolean {
  const [name, ...args] = argv;
  const uses = name ? COMMANDS[name]?.usesAdapter : false;
  return (typeof uses === 'function' ? uses(args) : !!uses) && !wantsHelp(args);
}

export async function main(argv: string[]): Promise<number> {
  const badSetting = envSettingsProblem();
  if (badSetting) {
    console.error(`gpt: ${badSetting}`);
    return 2; // bad usage: nothing was done
  }
  const showStack = argv.includes(VERBOSE_FLAG) || envFlag('GPT_DEBUG', false); // of an error
  const [name, ...args] = argv.filter((a) => a !== VERBOSE_FLAG);
  if (name === '--help' || name === '-h') {
    console.log(USAGE);
    return 0;
  }
  if (!name) {
    console.error(USAGE);
    return 2; // bad usage: nothing was done
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`gpt: unknown command '${name}'\n${USAGE}`);
    return 2;
  }
  if (wantsHelp(args)) {
    console.log(`${cmd.help}\n${GLOBAL_HELP}`);
    return 0;
  }
  try {
    return await cmd.run(args);
  } catch (e) {
    console.error(`gpt ${name}: ${shortened(onOneLine((e as Error).message))}`);
    if (showStack) console.error(e);
    // distinct codes a supervisor can act on: 3 diverged (change settings), 4 the GPU device lost (resume as is)
    return e instanceof UsageError ? 2 : e instanceof TrainingDivergedError ? 3 : e instanceof DeviceLostError ? 4 : 1;
  }
}

/** A message on one line: a line break it quotes (a JSON parser quoting a file's text) written as \n. */
const onOneLine = (message: string) => message.replace(/\r?\n/g, '\\n');

/**
 * A message of readable length: errors quote what a file holds, and a forged file's value can be a
 * million characters. The start (what is wrong, where) and the end (often what is allowed) are kept.
 */
function shortened(message: string, head = 600, tail = 300): string {
  const left = message.length - head - tail;
  return left > 100 ? `${message.slice(0, head)} … (${left} characters left out) … ${message.slice(-tail)}` : message;
}
