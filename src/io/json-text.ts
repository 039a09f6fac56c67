// JSON files' text parsed with a refusal in one line: V8's reason quotes the text near the fault,
// newlines and all (`Unexpected token ',', "{"a":\n[1,,2]}" is not valid JSON`).
import { readableLine } from './readable-line.js';

/** JSON.parse(text), or `fail` told why not: "not valid JSON (<reason, its newlines and other control characters escaped>)". */
export function parseJSONText(text: string, fail: (why: string) => never): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    // the quote's other control characters (a terminal escape) escaped too, and a long one cut
    return fail(`not valid JSON (${readableLine((e as Error).message.replace(/\r/g, '\\r').replace(/\n/g, '\\n'))})`);
  }
}
