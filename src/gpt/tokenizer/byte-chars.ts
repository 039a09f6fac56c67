// GPT-2's bytes_to_unicode: vocabulary files name byte-level tokens as text, each byte written as
// one printable character. The 188 printable bytes (! to ~, ¡ to ¬, ® to ÿ) stand for themselves;
// the other 68 (controls, space, DEL, NBSP, soft hyphen) are shifted to U+0100.. in byte order, so
// a space is "Ġ" and a newline "Ċ". GPT-2 numbers the 256 byte tokens in the order of these
// characters, printable ones first: token 0 is "!", token 188 is byte 0.
const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);

/** BYTE_CHARS[b]: the character that stands for byte b in GPT-2's vocabulary files. */
export const BYTE_CHARS: readonly string[] = (() => {
  let shifted = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable(b) ? b : 256 + shifted++));
})();

/** GPT2_BYTE_ORDER[id]: the byte that GPT-2's token id (0..255) stands for. */
export const GPT2_BYTE_ORDER: readonly number[] = [...BYTE_CHARS.keys()].sort((x, y) => BYTE_CHARS[x]!.charCodeAt(0) - BYTE_CHARS[y]!.charCodeAt(0));
