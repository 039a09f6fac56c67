// An error's text about a hostile or damaged file: a name or shape read from it can hold newlines
// and control characters, or be megabytes long, which no one reads. So control characters are
// escaped (\x0a: an error stays one line) and, past 1000 characters, the middle is left out.

const MAX_MESSAGE = 1000;

/** `message` as one readable line: control characters escaped, its middle left out past 1000 characters. */
export function readableLine(message: string): string {
  const line = message.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  const left = line.length - MAX_MESSAGE;
  return left > 0 ? `${line.slice(0, 700)} … (${left} characters left out) … ${line.slice(-300)}` : line;
}
