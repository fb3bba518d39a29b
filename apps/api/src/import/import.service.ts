import { Inject, Injectable } from '@nestjs/common';
import type { ImportRequest, ImportResponse } from '@rsynchub/contracts';
import { checkRsyncPassword, mapImportedConfig, parseRsyncdConf, parseSecretsFile } from '@rsynchub/rsyncd';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { ValidationFailed } from '../common/errors';
import { RsyncdConfigWriter } from '../daemon/rsyncd-config-writer';
import { ModulesService } from '../modules/modules.service';
import { RsyncUsersService } from '../rsync-users/rsync-users.service';

/**
 * Takes over a hand-written rsyncd.conf (and its secrets file): everything it can map becomes modules and users in
 * one config change, and everything it cannot map is reported, never silently dropped.
 */
@Injectable()
export class ImportService {
  constructor(
    private readonly modules: ModulesService,
    private readonly users: RsyncUsersService,
    private readonly writer: RsyncdConfigWriter,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async importConfig(req: ImportRequest): Promise<ImportResponse> {
    const parsed = parseRsyncdConf(req.config);
    const secrets = req.secrets !== undefined ? parseSecretsFile(req.secrets) : undefined;
    const mapped = mapImportedConfig(parsed, secrets?.entries, { roots: this.config.storageRoots });
    // mapImportedConfig already reports the config's parse problems, each in its own section: listed once.
    const skipped: ImportResponse['skipped'] = [
      ...mapped.skipped,
      ...(secrets?.problems ?? []).map((p) => ({ kind: 'user' as const, name: `secrets line ${p.line}`, reason: p.message })),
    ];
    const response: ImportResponse = { createdModules: [], createdUsers: [], usersWithoutSecret: [], skipped };

    const undo: (() => void)[] = [];
    try {
      await this.writer.change(async (em) => {
        for (const user of mapped.users) {
          if (await this.users.exists(em, user.name)) {
            skipped.push({ kind: 'user', name: user.name, reason: 'an rsync user with this name already exists; kept as it is' });
            continue;
          }
          let password = user.password ?? undefined;
          if (password !== undefined && checkRsyncPassword(password)) {
            skipped.push({ kind: 'user', name: user.name, reason: `secret not usable (${checkRsyncPassword(password)}); a new password was generated` });
            password = undefined;
          }
          await this.users.createWithin(em, { name: user.name, password, comment: user.comment });
          response.createdUsers.push(user.name);
          if (user.password === null) response.usersWithoutSecret.push(user.name);
        }
        for (const module of mapped.modules) {
          if (await this.modules.exists(em, module.name)) {
            if (req.skipExisting) {
              skipped.push({ kind: 'module', name: module.name, reason: 'a module with this name already exists; kept as it is' });
              continue;
            }
          }
          const issues = this.modules.validate(module);
          if (issues.length > 0) {
            skipped.push({ kind: 'module', name: module.name, reason: issues.map((i) => `${i.field}: ${i.message}`).join('; ') });
            continue;
          }
          const overlap = await this.modules.overlapIssue(em, module.path, null);
          if (overlap) {
            skipped.push({ kind: 'module', name: module.name, reason: `path ${overlap}` });
            continue;
          }
          try {
            undo.push(this.modules.prepareDirectory(module).undo);
          } catch (err) {
            if (!(err instanceof ValidationFailed)) throw err;
            skipped.push({ kind: 'module', name: module.name, reason: err.details.map((i) => `${i.field} ${i.message}`).join('; ') });
            continue;
          }
          await this.modules.createWithin(em, module);
          response.createdModules.push(module.name);
        }
      });
    } catch (err) {
      for (const u of undo) u();
      throw err;
    }
    return response;
  }
}
