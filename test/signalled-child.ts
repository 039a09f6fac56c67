// For the tests that end a writing process at random moments (test/atomic-file.test.ts,
// test/export-signals.test.ts): a Node script run as a child process, sent a signal some time after
// it reports its first piece of work done.
import { spawn } from 'node:child_process';

/**
 * Runs `node script ...args`, which prints a number a line as it finishes each piece of work, and
 * sends it `signal` `delayMs` after its first line (counting from there, not from the start, keeps
 * the test meaningful on a loaded machine; one that never prints is SIGKILLed after a minute and
 * fails). The numbers it printed, and its pid; it must end by that signal, sent once (one that goes
 * unanswered, as a signal landing as answeringSignals returned once did, fails after another minute).
 */
export function signalAfterFirstLine(script: string, args: string[], signal: NodeJS.Signals, delayMs: number): Promise<{ printed: number[]; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let [out, err] = ['', ''];
    let timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      if (!out.includes('\n') && String(d).includes('\n')) {
        clearTimeout(timer);
        timer = setTimeout(() => {
          child.kill(signal);
          timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        }, delayMs);
      }
      out += d;
    });
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.on('error', reject);
    child.on('close', (_code, ended) => {
      clearTimeout(timer);
      if (ended !== signal) reject(new Error(`the child ended by ${ended}, not ${signal}: ${err}`));
      resolve({ printed: out.split('\n').filter(Boolean).map(Number), pid: child.pid! });
    });
  });
}
