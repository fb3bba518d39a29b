import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface RsyncResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real rsync client. */
export function rsync(args: string[], env: Record<string, string> = {}): Promise<RsyncResult> {
  return runClient('rsync', args, env);
}

/** Runs the stock `rsync-ssl` script (Debian's rsync package); it verifies the certificate against the host named. */
export function rsyncSsl(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<RsyncResult> {
  return runClient('rsync-ssl', args, env, timeoutMs);
}

/** One client run with a minimal environment, its output collected; killed after `timeoutMs` (0: never). */
function runClient(command: string, args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<RsyncResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = timeoutMs > 0 ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : undefined;
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A 0600 password file, as rsync requires for --password-file. */
export function passwordFile(password: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-pw-'));
  const file = path.join(dir, 'rsync.pass');
  fs.writeFileSync(file, password + '\n', { mode: 0o600 });
  return file;
}

/** A small tree with nested dirs, binary content, an empty file and an empty dir. */
export function makeTree(files = 12): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rh-src-'));
  for (let i = 0; i < files; i++) {
    const sub = path.join(dir, `d${i % 3}`, `e${i % 2}`);
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `file-${i}.bin`), crypto.randomBytes(1000 + i * 997));
  }
  fs.writeFileSync(path.join(dir, 'empty.txt'), '');
  fs.writeFileSync(path.join(dir, 'name with spaces.txt'), 'spaces\n');
  fs.mkdirSync(path.join(dir, 'empty-dir'));
  return dir;
}

/** Relative path -> sha256 (files) or 'dir', for comparing trees byte for byte. */
export function treeDigest(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const r = path.join(rel, entry.name);
      if (entry.isDirectory()) {
        out.set(r, 'dir');
        walk(r);
      } else {
        out.set(r, crypto.createHash('sha256').update(fs.readFileSync(path.join(root, r))).digest('hex'));
      }
    }
  };
  walk('');
  return out;
}
