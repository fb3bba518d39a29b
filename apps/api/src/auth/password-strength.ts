import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as zxcvbnCommon from '@zxcvbn-ts/language-common';
import * as zxcvbnEn from '@zxcvbn-ts/language-en';

/** zxcvbn scores 0..4; 3 means "safely unguessable: moderate protection from offline slow-hash scenario". */
export const MIN_ADMIN_PASSWORD_SCORE = 3;
/** zxcvbn's cost grows fast with length (256 repeated characters take seconds): only this prefix is scored. */
const SCORED_PREFIX = 64;

let factory: ZxcvbnFactory | undefined;

function zxcvbn(): ZxcvbnFactory {
  factory ??= new ZxcvbnFactory({
    dictionary: { ...zxcvbnCommon.dictionary, ...zxcvbnEn.dictionary },
    graphs: zxcvbnCommon.adjacencyGraphs,
    translations: zxcvbnEn.translations,
  });
  return factory;
}

/**
 * Why an admin password is too weak, or null when it is strong enough. Scored with zxcvbn-ts (dictionaries of common
 * passwords, words, names, keyboard patterns, dates, repeats), with the account's own name and the product's name as
 * extra words, so "admin-rsynchub-1" is as weak as it looks. The message carries zxcvbn's own feedback.
 */
export function adminPasswordWeakness(password: string, userInputs: string[] = []): string | null {
  const result = zxcvbn().check(password.slice(0, SCORED_PREFIX), [...userInputs, 'rsynchub', 'rsync', 'admin']);
  if (result.score >= MIN_ADMIN_PASSWORD_SCORE) return null;
  const hints = [result.feedback.warning, ...result.feedback.suggestions].filter((s): s is string => !!s);
  return `is too weak (strength ${result.score} of 4, at least ${MIN_ADMIN_PASSWORD_SCORE} needed)${hints.length ? `: ${hints.join(' ')}` : ''}`;
}
