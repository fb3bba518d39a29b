/**
 * A LIKE pattern matching values that start with `text`, the text taken literally (`%`, `_` and `\` escaped): use
 * with `LIKE :p ESCAPE '\'`. SQLite's LIKE ignores ASCII case, as the module filter always did.
 */
export function likePrefix(text: string): string {
  return `${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
