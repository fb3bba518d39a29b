import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { createApp } from '../create-app';
import { AlertChannelsService } from '../alerts/alert-channels.service';
import { RsyncUsersService } from './rsync-users.service';
import { SecretBox } from './secret-box';

// Configuration is read when the app is created; set it before that.
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsynchub-secretbox-e2e-'));
process.env.RSYNCHUB_DATA_DIR = dataDir;
process.env.RSYNCHUB_START_DAEMON = 'false';
process.env.RSYNCHUB_ADMIN_PASSWORD = 'secret-box-admin-password-42';

let app: INestApplication;

before(async () => {
  app = await createApp({ logger: false });
  await app.init();
});

after(async () => {
  await app?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('SecretBox', () => {
  it('is one provider: rsync users and alert channels seal with the same instance (one key read, one key in memory)', () => {
    // The instances the services were actually given.
    const forUsers = (app.get(RsyncUsersService) as unknown as { box: SecretBox }).box;
    const forAlerts = (app.get(AlertChannelsService) as unknown as { box: SecretBox }).box;
    assert.ok(forUsers instanceof SecretBox);
    assert.equal(forAlerts, forUsers);
    // And what one seals the other opens (same key file, same key).
    assert.equal(forAlerts.decrypt(forUsers.encrypt('shared-secret')), 'shared-secret');
  });
});
