/** Shared test data for this lib's tests (not exported from index.ts). */
import type { ModuleFields } from '@rsynchub/contracts';
import { moduleWithDefaults } from './defaults';

/** Hostile values that no config value may contain, with the word the error message must mention. */
export const HOSTILE_CONFIG_VALUES: [label: string, value: string, expect: RegExp][] = [
  ['newline', 'a\nb', /newline or other control character/],
  ['newline + section', 'x\n[evil]\npath = /', /newline/],
  ['CR', 'a\rb', /control character/],
  ['backslash at end', 'abc\\', /backslash/],
  ['backslash inside', 'a\\b', /backslash/],
  ['%HOME%', 'x%HOME%y', /'%'/],
  ['lone %', '50%', /'%'/],
  ['; at start', '; comment', /'#' or ';'/],
  ['# at start', '#comment', /'#' or ';'/],
  ['tab', 'a\tb', /control character/],
  ['leading space', ' abc', /whitespace/],
  ['trailing space', 'abc ', /whitespace/],
  ['leading NBSP', '\u00a0abc', /whitespace/],
  ['U+0000', 'a\u0000b', /control character/],
  ['U+0085 (NEL)', 'a\u0085b', /control character/],
  ['U+2028', 'a\u2028b', /control character/],
  ['U+2029', 'a\u2029b', /control character/],
  ['U+202E (RLO)', 'a\u202eb', /control character/],
  ['U+200E (LRM)', 'a\u200eb', /control character/],
  ['U+FEFF (BOM)', '\ufeffabc', /control character/],
  ['DEL', 'a\u007fb', /control character/],
  ['ESC', 'a\u001b[31mb', /control character/],
  ['lone surrogate', 'a\ud800b', /control character/],
  ['oversize', 'x'.repeat(1025), /at most 1024/],
  ['empty', '', /empty/],
];

export function baseModule(over: Partial<ModuleFields> = {}): ModuleFields {
  // Without users, the explicit anonymous value that matches the module's mode (what rsync does without auth users);
  // the access rules themselves have their own tests.
  const anonymous = over.users?.length ? 'none' : over.readOnly ? 'read' : 'read-write';
  return moduleWithDefaults({ name: 'backup', path: '/data/modules/backup', anonymous, ...over });
}

