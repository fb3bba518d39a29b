/**
 * Where a new module's directory should go: `<first storage root>/<module name>`. The server only accepts paths strictly
 * inside a storage root, so the first root is the natural home. Empty when there is nothing sensible to suggest yet.
 */
export function suggestModulePath(roots: readonly string[], name: string): string {
  const root = roots[0]?.trim();
  const leaf = name.trim();
  if (!root || !leaf) return '';
  return `${root.replace(/\/+$/, '')}/${leaf}`;
}

/** The hint under the path field, naming the roots the server accepts; null when they are not known. */
export function storageRootsHint(roots: readonly string[]): string | null {
  return roots.length ? `Must be inside: ${roots.join(', ')}. Created if missing.` : null;
}
