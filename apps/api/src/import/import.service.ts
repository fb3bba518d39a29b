import { ConflictException, Inject, Injectable } from '@nestjs/common';
import type { ImportRequest, ImportResponse, ModuleFields } from '@rsynchub/contracts';
import { checkRsyncPassword, mapImportedConfig, parseRsyncdConf, parseSecretsFile, PathOverlapIndex } from '@rsynchub/rsyncd';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { ValidationFailed } from '../common/errors';
import { RsyncdConfigWriter } from '../daemon/rsyncd-config-writer';
import { ModulesService } from '../modules/modules.service';
import { PlannedRsyncUser, RsyncUsersService } from '../rsync-users/rsync-users.service';

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Takes over a hand-written rsyncd.conf (and its secrets file): everything it can map becomes modules and users in
 * one config change, and everything it cannot map is reported, never silently dropped.
 *
 * Thousands of modules at once: what to create is decided once, before the change's transactions, under the config
 * writer's lock (names and paths read once, overlaps through an index, directories made in one batch), and the
 * change itself is a few multi-row inserts. Log ingestion only waits for those inserts, never for the proof.
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
    const baseSkipped: ImportResponse['skipped'] = [
      ...mapped.skipped,
      ...(secrets?.problems ?? []).map((p) => ({ kind: 'user' as const, name: `secrets line ${p.line}`, reason: p.message })),
    ];

    let plan: { response: ImportResponse; users: PlannedRsyncUser[]; modules: ModuleFields[] } | null = null;
    let dirs: { undo: () => void; committed: () => void } | null = null;
    try {
      await this.writer.change(
        async (em) => {
          await this.users.insertPlannedWithin(em, plan!.users);
          await this.modules.createManyWithin(em, plan!.modules);
        },
        async () => {
          const decided = await this.decide(mapped, baseSkipped, req.skipExisting === true);
          const made = await this.modules.prepareDirectories(decided.modules);
          dirs = made;
          for (const [m, reason] of made.failed) decided.response.skipped.push({ kind: 'module', name: m.name, reason });
          decided.modules = decided.modules.filter((m) => !made.failed.has(m));
          decided.response.createdModules = decided.modules.map((m) => m.name);
          plan = decided;
        },
      );
      (dirs as { committed: () => void } | null)?.committed();
    } catch (err) {
      (dirs as { undo: () => void } | null)?.undo();
      throw err;
    }
    return plan!.response;
  }

  /** What the import will create, checked against the state under the config writer's lock (no transaction open). */
  private async decide(
    mapped: ReturnType<typeof mapImportedConfig>,
    baseSkipped: ImportResponse['skipped'],
    skipExisting: boolean,
  ): Promise<{ response: ImportResponse; users: PlannedRsyncUser[]; modules: ModuleFields[] }> {
    const em = this.writer.readManager;
    const skipped = [...baseSkipped];
    const response: ImportResponse = { createdModules: [], createdUsers: [], usersWithoutSecret: [], skipped };

    const userNames = await this.users.existingNames(em);
    const newUsers: { name: string; password?: string; comment?: string }[] = [];
    for (const user of mapped.users) {
      if (userNames.has(user.name.toLowerCase())) {
        skipped.push({ kind: 'user', name: user.name, reason: 'an rsync user with this name already exists; kept as it is' });
        continue;
      }
      let password = user.password ?? undefined;
      if (password !== undefined && checkRsyncPassword(password)) {
        skipped.push({ kind: 'user', name: user.name, reason: `secret not usable (${checkRsyncPassword(password)}); a new password was generated` });
        password = undefined;
      }
      userNames.add(user.name.toLowerCase());
      newUsers.push({ name: user.name, password, comment: user.comment });
      response.createdUsers.push(user.name);
      if (user.password === null) response.usersWithoutSecret.push(user.name);
    }

    const moduleNames = await this.modules.existingNames(em);
    const existing = await this.modules.allPaths(em);
    const lexical = new PathOverlapIndex(existing);
    const resolve = this.modules.resolver();
    const real = new PathOverlapIndex(existing.map((m) => ({ name: m.name, path: resolve(m.path) })));
    const accepted: ModuleFields[] = [];
    for (const [i, module] of mapped.modules.entries()) {
      // Thousands of checks (and lstat calls) in one go would stall log ingestion in this same process.
      if (i % 250 === 249) await yieldToEventLoop();
      if (moduleNames.has(module.name.toLowerCase())) {
        if (skipExisting) {
          skipped.push({ kind: 'module', name: module.name, reason: 'a module with this name already exists; kept as it is' });
          continue;
        }
        throw new ConflictException(`a module named "${module.name}" already exists (names are case-insensitive)`);
      }
      const issues = this.modules.validate(module);
      if (issues.length > 0) {
        skipped.push({ kind: 'module', name: module.name, reason: issues.map((i) => `${i.field}: ${i.message}`).join('; ') });
        continue;
      }
      const unknown = module.users.findIndex((u) => !userNames.has(u.name.toLowerCase()));
      if (unknown >= 0) throw new ValidationFailed([{ field: `users[${unknown}]`, message: `rsync user "${module.users[unknown]!.name}" does not exist` }]);
      const overlap = lexical.check(module.path) ?? this.resolvedOverlap(real, resolve(module.path));
      if (overlap) {
        skipped.push({ kind: 'module', name: module.name, reason: `path ${overlap}` });
        continue;
      }
      moduleNames.add(module.name.toLowerCase());
      lexical.add(module.name, module.path);
      real.add(module.name, resolve(module.path));
      accepted.push(module);
    }
    return { response, users: this.users.planNewUsers(newUsers), modules: accepted };
  }

  /** The words ModulesService.overlapIssue uses for a clash of resolved paths. */
  private resolvedOverlap(index: PathOverlapIndex, real: string): string | null {
    const hit = index.find(real);
    if (hit === null) return null;
    if (hit.relation === 'equal') return `resolves to ${real}, the same directory as module "${hit.name}"`;
    if (hit.relation === 'inside') return `resolves to ${real}, inside module "${hit.name}" (${hit.path})`;
    return `resolves to ${real}, which contains module "${hit.name}" (${hit.path})`;
  }
}
