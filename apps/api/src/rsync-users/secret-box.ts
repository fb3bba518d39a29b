import { Inject, Injectable } from '@nestjs/common';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { APP_CONFIG, AppConfig } from '../config/app-config';

/**
 * Encrypts rsync passwords at rest. The daemon's challenge-response needs the plain secret in the secrets file, so
 * a one-way hash is impossible; AES-256-GCM with a key file (0600) in the data dir keeps a copied database useless
 * without that file.
 */
@Injectable()
export class SecretBox {
  private readonly key: Buffer;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.key = SecretBox.loadOrCreateKey(path.join(config.dataDir, 'secret.key'));
  }

  static loadOrCreateKey(file: string): Buffer {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
      fs.writeSync(fd, crypto.randomBytes(32).toString('base64') + '\n');
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    fs.chmodSync(file, 0o600);
    const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
    return key;
  }

  encrypt(plain: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64'), cipher.getAuthTag().toString('base64'), data.toString('base64')].join(':');
  }

  decrypt(sealed: string): string {
    const [version, iv, tag, data] = sealed.split(':');
    if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('unrecognised encrypted secret');
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8');
  }
}

/** A strong password for rsync users: 24 characters from a set that survives copy-paste and shells. */
export function generateRsyncPassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const bytes = crypto.randomBytes(24);
  let out = '';
  // 256 % 56 != 0 would bias the modulo; rejection sampling keeps it uniform.
  let i = 0;
  while (out.length < 24) {
    if (i >= bytes.length) return out + generateRsyncPassword().slice(out.length);
    const b = bytes[i++]!;
    if (b < 224) out += alphabet[b % 56];
  }
  return out;
}
