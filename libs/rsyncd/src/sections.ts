/**
 * rsyncd.conf as rsync reads it: a global part, then `[name]` sections. Every parameter line belongs to the section
 * above it, and whether rsync accepts a section depends on that section's lines only (plus the name being unique,
 * which RsyncHub's database guarantees). That is what lets a config change be proven by a throwaway daemon on the
 * global part and the sections that changed, instead of on every section again: rsync's own parse of a config is
 * quadratic in the number of sections (it looks each new section name up in a list), ~1.5 s at 10,000 modules.
 */
export interface ConfigSections {
  /** Everything before the first section header (comments, global parameters). */
  global: string;
  /** Each section from its `[name]` header up to the next header, as written. */
  sections: string[];
}

/**
 * Splits a config at every line that starts with `[` (a section header: RsyncHub never renders a value line that
 * starts with `[`, and rsync would read such a line as a header anyway).
 */
export function splitConfigSections(text: string): ConfigSections {
  const parts = text.split(/\n(?=\[)/);
  if (text.startsWith('[')) return { global: '', sections: parts };
  const [global, ...sections] = parts;
  return { global: global!, sections };
}

/**
 * The config a throwaway daemon must accept before `next` may replace a config whose sections were all accepted:
 * the global part of `next` (always: it is small, and a global change affects every section) and each of its
 * sections that is not, byte for byte, a section of the accepted config. With no accepted config, all of `next`.
 */
export function configToProve(next: string | ConfigSections, accepted: ReadonlySet<string> | null): { text: string; sections: number; skipped: number } {
  // Already split (a render's parts, see RenderResult.parts): no second pass over megabytes of config.
  const { global, sections } = typeof next === 'string' ? splitConfigSections(next) : next;
  if (accepted === null) return { text: typeof next === 'string' ? next : joinConfigSections(next), sections: sections.length, skipped: 0 };
  const fresh = sections.filter((s) => !accepted.has(s));
  const text = [global, ...fresh].join('\n');
  return { text: text.endsWith('\n') ? text : text + '\n', sections: fresh.length, skipped: sections.length - fresh.length };
}

/** The text `splitConfigSections` cut into `parts` (its inverse). */
export function joinConfigSections(parts: ConfigSections): string {
  if (parts.sections.length === 0) return parts.global;
  return parts.global === '' ? parts.sections.join('\n') : `${parts.global}\n${parts.sections.join('\n')}`;
}
