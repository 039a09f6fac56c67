// The key `gpt serve --api` asks for, as vLLM's --api-key: given, every request under /v1/ must
// carry `Authorization: Bearer KEY` (the scheme in any case, RFC 9110), else a 401 of OpenAI's shape.
// From --api-key or the environment (GPT_API_KEY: not in `ps`), the flag first. A key is a secret:
// no message or log line shows it, and it is compared in constant time (digests of equal length),
// so that the time of a refusal tells nothing of how much of a guess was right.
import { createHash, timingSafeEqual } from 'node:crypto';
import { envSetting } from '../device/platform.js';
import { ApiError } from './completion-request.js';

export const API_KEY_ENV = 'GPT_API_KEY';

/** Why `key` (from `source`, a flag or the variable) cannot be a key, never quoting it; or null. */
export function apiKeyProblem(key: string, source: string): string | null {
  if (key === '') return `${source} is empty: give the key --api asks for, or leave it unset`;
  // what a header carries as it is: Node trims spaces around a value and takes no control characters
  if (!/^[\x21-\x7e]+$/.test(key)) return `${source}: a key must be printable ASCII without spaces, as an Authorization header carries it; the one given is not (it is not shown)`;
  return null;
}

/** GPT_API_KEY, or undefined where unset; a value that cannot be a key throws, naming the variable. */
export function envApiKey(): string | undefined {
  const key = envSetting(API_KEY_ENV);
  const problem = key === undefined ? null : apiKeyProblem(key, API_KEY_ENV);
  if (problem) throw new Error(problem);
  return key;
}

/** A check of requests against `key`: throws a 401 ApiError for one without `Authorization: Bearer key`. */
export function apiKeyCheck(key: string): (authorization: string | undefined) => void {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  const expected = digest(key);
  return (authorization) => {
    const given = /^bearer +(.*)$/i.exec(authorization ?? '')?.[1];
    if (given === undefined) {
      throw new ApiError(401, "no API key: this server asks for one, in an 'Authorization: Bearer KEY' header (OpenAI's clients: api_key)", null, 'invalid_api_key');
    }
    if (!timingSafeEqual(digest(given), expected)) throw new ApiError(401, 'incorrect API key provided (it is not shown)', null, 'invalid_api_key');
  };
}
