import * as fs from 'node:fs';

/**
 * Writes an executable stand-in for RSYNCHUB_RSYNC_BINARY at `file`: it runs the real rsync, except that a throwaway
 * proof daemon (its `--config=` lives in an `rsynchub-verify-` temp dir) first runs `whenProving`, a sh fragment that
 * finds that config file in `$conf` (to hold the proof, or refuse it as rsync does a config it cannot load).
 */
export function writeProofWrapper(file: string, whenProving: string): string {
  // Re-indented under the case branch, keeping the fragment's own nesting.
  const lines = whenProving.split('\n').filter((l) => l.trim() !== '');
  const margin = Math.min(...lines.map((l) => l.length - l.trimStart().length));
  const body = lines.map((l) => `      ${l.slice(margin)}`).join('\n');
  fs.writeFileSync(
    file,
    `#!/bin/sh
for a in "$@"; do
  case "$a" in
    --config=*rsynchub-verify-*)
      conf="\${a#--config=}"
${body}
      ;;
  esac
done
exec rsync "$@"
`,
    { mode: 0o755 },
  );
  return file;
}

/** A `whenProving` fragment: rsync's own refusal of a config holding a module named `module`. */
export function refuseModule(module: string): string {
  return `if grep -q '^\\[${module}\\]' "$conf"; then echo "Failed to parse config file: $conf" >&2; exit 5; fi`;
}
