// An error's text about a hostile file: a name or shape read from it can be megabytes long, which
// no one reads, so past 1000 characters the middle is left out.

const MAX_MESSAGE = 1000;

/** `message`, its middle left out past 1000 characters (its head and tail kept). */
export function cutMessage(message: string): string {
  const left = message.length - MAX_MESSAGE;
  return left > 0 ? `${message.slice(0, 700)} … (${left} characters left out) … ${message.slice(-300)}` : message;
}
