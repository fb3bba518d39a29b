import * as zxcvbnCommon from '@zxcvbn-ts/language-common';

/** rsync user passwords chosen by an admin need at least this many characters (generated ones are longer). */
export const MIN_RSYNC_PASSWORD_LENGTH = 12;

let common: Set<string> | undefined;

/** zxcvbn-ts's list of ~50,000 most common passwords (from leaked password dumps), lower-cased. */
function commonPasswords(): Set<string> {
  common ??= new Set((zxcvbnCommon.dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  return common;
}

/**
 * Why an admin-chosen rsync password is too weak, or null. The daemon's challenge-response is offline-guessable from
 * a captured session and the daemon itself does not throttle, so short and well-known passwords are refused.
 */
export function rsyncPasswordWeakness(password: string): string | null {
  if (password.length < MIN_RSYNC_PASSWORD_LENGTH) {
    return `must be at least ${MIN_RSYNC_PASSWORD_LENGTH} characters (omit it to have a strong one generated)`;
  }
  if (commonPasswords().has(password.toLowerCase())) {
    return 'is in a list of commonly used passwords (omit it to have a strong one generated)';
  }
  return null;
}
