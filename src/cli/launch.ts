// How bin/gpt.js runs the CLI. When Dawn enumerates Vulkan adapters it prints two notices from
// native code straight to file descriptor 2 ("Warning: maxDynamicUniformBuffersPerPipelineLayout
// artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.", and the same
// for storage buffers; dawn/native/Limits.cpp, dawn::WarningLog). JavaScript cannot filter what
// native code writes to fd 2; no Dawn toggle or instance flag governs these lines, and they come
// when the adapter is requested, before any device limits are. So a command that opens the adapter
// runs in a child process whose stderr passes through a filter that drops exactly those lines;
// with --verbose it runs in this process and they show. Signals are passed on to the child, which
// ends (as if sent SIGTERM) if this process dies.
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import { Transform } from 'node:stream';
import { main, opensAdapter, VERBOSE_FLAG } from './main.js';
import { outputFailed, readerLeft } from './reader-gone.js';

/** Dawn's notices, one line each. */
export const DAWN_NOTICE = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;
const NOTICE_START = 'Warning: maxDynamic';
/** Set in the child's environment: it runs the command itself. */
const CHILD_ENV = 'WEBGPU_GPT_FILTERED_CHILD';
const PASSED_ON: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const UNCATCHABLE = ", which no program can catch or answer (the system sends it when memory runs out: see `dmesg`); files are as its last complete write left them (a run's checkpoint is its last save's)";

/** Runs `gpt argv`; `script` is the file to start the child process with (bin/gpt.js). */
export async function launch(argv: string[], script: string): Promise<number> {
  const child = process.env[CHILD_ENV] === '1';
  if (child && process.channel) {
    process.channel.unref(); // the channel only tells us when the parent is gone
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  }
  if (child || argv.includes(VERBOSE_FLAG) || !opensAdapter(argv)) {
    endWhenReaderLeaves(argv.find((a) => a !== VERBOSE_FLAG) ?? '');
    return main(argv);
  }
  return runFiltered(script, argv);
}

/**
 * `gpt sample | head`: once the reader of stdout is gone, the run ends (reader-gone.ts), as a process
 * that SIGPIPE ends: Node ignores SIGPIPE, so the next write fails with EPIPE, thrown as a stack
 * trace, and where it did not end the process, generation would go on for no one. Exit handlers
 * still run (the --out-dir lock is released). Any other write error of stdout (ENOSPC) ends `command`
 * in one line.
 */
function endWhenReaderLeaves(command: string): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' ? readerLeft() : outputFailed(command, e)));
}

function runFiltered(script: string, argv: string[]): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, script, ...argv], {
    stdio: ['inherit', 'inherit', 'pipe', 'ipc'],
    env: { ...process.env, [CHILD_ENV]: '1' },
  });
  child.stderr!.pipe(withoutLines(DAWN_NOTICE, NOTICE_START)).pipe(process.stderr);
  const passOn = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of PASSED_ON) process.on(s, passOn);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      for (const s of PASSED_ON) process.off(s, passOn);
      // the command answers these itself; killed by another (the out-of-memory killer's SIGKILL, a crash's SIGSEGV) it has no word of its own
      if (signal && !PASSED_ON.includes(signal)) console.error(`gpt ${argv[0]}: killed by ${signal}${signal === 'SIGKILL' ? UNCATCHABLE : ''}`);
      if (signal) process.kill(process.pid, signal); // end the way the child ended
      resolve(code ?? 1);
    });
  });
}

/**
 * A text stream that drops the lines matching `pattern`. A partial line is held back only while it
 * could still become one of them (it is a prefix of `start` or starts with it); anything else goes
 * through at once, so prompts and progress output are not delayed.
 */
export function withoutLines(pattern: RegExp, start: string): Transform {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  const couldMatch = (partial: string) => start.startsWith(partial) || partial.startsWith(start);
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const lines = (pending + decoder.write(chunk)).split('\n');
      pending = lines.pop()!;
      let out = lines.filter((l) => !pattern.test(l)).map((l) => `${l}\n`).join('');
      if (pending && !couldMatch(pending)) [out, pending] = [out + pending, ''];
      done(null, out);
    },
    flush(done) {
      const rest = pending + decoder.end();
      done(null, pattern.test(rest) ? '' : rest);
    },
  });
}
