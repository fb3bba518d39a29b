import { execFile } from 'node:child_process';

export const MINIMUM_RSYNC_VERSION = '3.5.0';

/** Parses the first line of `rsync --version`, e.g. "rsync  version 3.5.0  protocol version 32". */
export function parseRsyncVersion(output: string): string | null {
  const m = /rsync\s+version\s+v?(\d+\.\d+\.\d+)/.exec(output);
  return m ? m[1]! : null;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export type RsyncProbe = { ok: true; version: string } | { ok: false; version: string | null; error: string };

/** Older rsync daemons have hook and auth-list injection bugs, so we refuse them rather than run them. */
export function probeRsync(binary: string): Promise<RsyncProbe> {
  return new Promise((resolve) => {
    execFile(binary, ['--version'], { timeout: 10_000 }, (err, stdout) => {
      if (err && !stdout) {
        resolve({
          ok: false,
          version: null,
          error: `cannot run "${binary} --version" (${(err as NodeJS.ErrnoException).code ?? err.message}); install rsync >= ${MINIMUM_RSYNC_VERSION} (Debian package "rsync")`,
        });
        return;
      }
      const version = parseRsyncVersion(stdout);
      if (!version) {
        resolve({ ok: false, version: null, error: `could not read the rsync version from "${binary} --version"` });
      } else if (compareVersions(version, MINIMUM_RSYNC_VERSION) < 0) {
        resolve({
          ok: false,
          version,
          error: `rsync ${version} is too old: RsyncHub needs rsync >= ${MINIMUM_RSYNC_VERSION} (older daemons have hook and auth-list injection bugs); upgrade the "rsync" package`,
        });
      } else {
        resolve({ ok: true, version });
      }
    });
  });
}
