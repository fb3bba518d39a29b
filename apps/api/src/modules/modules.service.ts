import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import * as fs from 'node:fs';
import { EntityManager, Repository } from 'typeorm';
import type { CreateModuleRequest, FieldError, ModuleDto, ModuleFields, UpdateModuleRequest } from '@rsynchub/contracts';
import { checkModulePathOverlap, moduleWithDefaults, pathRelation, validateModule } from '@rsynchub/rsyncd';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { assertValid, FieldConflict, notFound, ValidationFailed } from '../common/errors';
import { RsyncdConfigWriter } from '../daemon/rsyncd-config-writer';
import { PendingDirs } from '../database/pending-dirs';
import { RsyncUsersService } from '../rsync-users/rsync-users.service';
import { resolveDeepest } from '../config/storage-roots';
import { chownForDaemon, describeFsError, ensureModuleDirectory, isInsideRoots, purgePlan } from './module-storage';
import { RsyncModuleEntity } from './rsync-module.entity';


export interface ModuleChange {
  before: ModuleDto | null;
  after: ModuleDto | null;
}

@Injectable()
export class ModulesService implements OnModuleInit {
  private readonly logger = new Logger(ModulesService.name);

  constructor(
    @InjectRepository(RsyncModuleEntity) private readonly modules: Repository<RsyncModuleEntity>,
    private readonly users: RsyncUsersService,
    private readonly writer: RsyncdConfigWriter,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly pendingDirs: PendingDirs,
  ) {}

  async onModuleInit(): Promise<void> {
    fs.mkdirSync(this.config.storageRoots[0]!, { recursive: true, mode: 0o755 });
    this.writer.registerSource('modules', (em) => this.fieldsOfAll(em));
    // Directories made for module changes that never committed (a crash in between) go, if still empty.
    const paths = (await this.modules.find({ select: { path: true } })).map((m) => m.path);
    // Only inside the storage roots: the record is a file, and nothing outside the roots is ever ours to remove.
    this.pendingDirs.cleanup((dir) => !isInsideRoots(dir, this.config.storageRoots) || paths.some((p) => p === dir || p.startsWith(dir + '/')));
  }

  async list(): Promise<ModuleDto[]> {
    const em = this.modules.manager;
    const [entities, grants] = await Promise.all([em.getRepository(RsyncModuleEntity).find({ order: { name: 'ASC' } }), this.users.grantsByModule(em)]);
    return entities.map((e) => this.toDto(this.toFields(e, grants.get(e.name.toLowerCase()) ?? []), e));
  }

  async get(name: string): Promise<ModuleDto> {
    const entity = await this.findOrFail(this.modules.manager, name);
    return this.toDto(await this.fieldsOf(this.modules.manager, entity), entity);
  }

  async create(req: CreateModuleRequest): Promise<ModuleChange> {
    const fields = moduleWithDefaults(req);
    // Anonymous read is read-only by definition; say it in the model instead of refusing the obvious request.
    if (req.anonymous === 'read' && req.readOnly === undefined) fields.readOnly = true;
    assertValid(validateModule(fields, { roots: this.config.storageRoots }));
    // A taken name is the problem to report, not the path that the name suggested (which then overlaps too).
    await this.assertNameFree(this.modules.manager, fields.name);
    await this.assertNoOverlap(this.modules.manager, fields.path, null);
    return this.applyWithDirectory(fields, (em) => this.createWithin(em, fields)).then(async (change) => ({
      ...change,
      after: await this.get(fields.name),
    }));
  }

  /**
   * Inserts a validated module inside a config change the caller runs. The directory must exist already
   * (see `prepareDirectory`).
   */
  async createWithin(em: EntityManager, fields: ModuleFields): Promise<ModuleChange> {
    const repo = em.getRepository(RsyncModuleEntity);
    await this.assertNameFree(em, fields.name);
    await this.assertUsersExist(em, fields);
    await this.assertNoOverlap(em, fields.path, null);
    const now = new Date();
    const { users, ...columns } = fields;
    await repo.insert({ ...columns, createdAt: now, updatedAt: now });
    await this.users.setGrants(em, fields.name, users);
    return { before: null, after: null };
  }

  /** 409 on `name` when a module has this name already (rsync compares section names case-insensitively). */
  private async assertNameFree(em: EntityManager, name: string): Promise<void> {
    const existing = await em.getRepository(RsyncModuleEntity).findOneBy({ name });
    if (!existing) return;
    throw new FieldConflict(
      'name',
      existing.name === name ? 'is already taken by another module' : `is already taken by module "${existing.name}" (names are case-insensitive)`,
      `a module named "${name}" already exists (names are case-insensitive)`,
    );
  }

  async exists(em: EntityManager, name: string): Promise<boolean> {
    return (await em.getRepository(RsyncModuleEntity).countBy({ name })) > 0;
  }

  validate(fields: ModuleFields): FieldError[] {
    return validateModule(fields, { roots: this.config.storageRoots });
  }

  /** Makes the module directory (owned as the daemon will write) and says how to undo it. */
  prepareDirectory(fields: ModuleFields): { undo: () => void; committed: () => void } {
    // Recorded before the mkdir: if the process dies before the change commits, the next start removes it.
    const pending = this.pendingDirs.record(fields.path);
    let dir: ReturnType<typeof ensureModuleDirectory>;
    try {
      dir = ensureModuleDirectory(fields.path, this.config.storageRoots, this.config.dataDir);
    } catch (err) {
      pending.done();
      throw err;
    }
    if (dir.error) {
      pending.done();
      throw new ValidationFailed([{ field: 'path', message: dir.error }]);
    }
    const undo = () => {
      if (dir.created) fs.rmSync(dir.created, { recursive: true, force: true });
      pending.done();
    };
    if (dir.created) {
      try {
        chownForDaemon(fields.path, fields.uid, fields.gid);
      } catch (err) {
        undo();
        throw new ValidationFailed([{ field: 'uid', message: `the directory could not be handed to the daemon's account: ${(err as Error).message.split('\n')[0]}` }]);
      }
    }
    return { undo, committed: () => pending.done() };
  }

  async update(name: string, req: UpdateModuleRequest): Promise<ModuleChange> {
    if ('name' in req) throw new ValidationFailed([{ field: 'name', message: 'cannot be changed; create a new module instead' }]);
    const current = await this.fieldsOf(this.modules.manager, await this.findOrFail(this.modules.manager, name));
    const fields: ModuleFields = { ...current, ...req };
    // Granting users closes anonymous access unless the request says otherwise (it could not stay open anyway:
    // with auth users rsync asks everyone for a password); anonymous read is read-only unless told otherwise.
    if (req.users !== undefined && req.users.length > 0 && req.anonymous === undefined) fields.anonymous = 'none';
    if (req.anonymous === 'read' && req.readOnly === undefined) fields.readOnly = true;
    assertValid(validateModule(fields, { roots: this.config.storageRoots }));
    await this.assertNoOverlap(this.modules.manager, fields.path, current.name);
    return this.applyWithDirectory(fields, async (em) => {
      const entity = await this.findOrFail(em, name);
      const before = this.toDto(await this.fieldsOf(em, entity), entity);
      await this.assertUsersExist(em, fields);
      await this.assertNoOverlap(em, fields.path, entity.name);
      const { users, name: _name, ...columns } = fields;
      await em.getRepository(RsyncModuleEntity).update({ id: entity.id }, { ...columns, updatedAt: new Date() });
      if (req.users !== undefined) await this.users.setGrants(em, entity.name, users);
      return { before, after: null };
    }).then(async (change) => ({ ...change, after: await this.get(name) }));
  }

  /**
   * Removes the module from the daemon at once (the daemon re-reads its config per connection). The data stays
   * unless `purge` is asked for, and then only after the config no longer names the module.
   */
  async remove(name: string, purge: boolean): Promise<ModuleChange & { purged: boolean }> {
    // A purge that could not be done safely is refused before anything changes, not after the module is gone.
    if (purge) this.purgeTarget((await this.get(name)).path);
    const change = await this.writer.change(async (em) => {
      const entity = await this.findOrFail(em, name);
      const before = this.toDto(await this.fieldsOf(em, entity), entity);
      await this.users.removeGrantsOf(em, entity.name);
      await em.getRepository(RsyncModuleEntity).delete({ id: entity.id });
      return { before, after: null };
    });
    let purged = false;
    if (purge && change.before) {
      // Decided again at the moment of deletion. A module directory that is a symbolic link is removed as a link:
      // rmSync does not follow a link it is given, so the link's target is never touched.
      const plan = this.purgeTarget(change.before.path);
      if (plan.target) fs.rmSync(plan.target, { recursive: true, force: true });
      purged = true;
      this.logger.log(`purged the data of module ${change.before.name} at ${change.before.path}${plan.isLink ? ' (a symbolic link: only the link was removed)' : ''}`);
    }
    return { ...change, purged };
  }

  /** What a purge may delete (see purgePlan). Throws a 400 when deleting would be unsafe. */
  private purgeTarget(modulePath: string): { target: string | null; isLink: boolean } {
    const plan = purgePlan(modulePath, this.config.storageRoots, this.config.dataDir);
    if ('error' in plan) throw new ValidationFailed([{ field: 'path', message: `not purged: ${plan.error}` }]);
    return plan;
  }

  /** Refuses a path that equals, contains or lies inside another module's path (see checkModulePathOverlap). */
  async assertNoOverlap(em: EntityManager, modulePath: string, exceptName: string | null): Promise<void> {
    const issue = await this.overlapIssue(em, modulePath, exceptName);
    if (issue) throw new ValidationFailed([{ field: 'path', message: issue }]);
  }

  /**
   * Decided on the paths as written AND as resolved (symlinks followed, for paths that do not exist yet through their
   * deepest existing ancestor): a link inside the storage could otherwise make two modules share data.
   */
  async overlapIssue(em: EntityManager, modulePath: string, exceptName: string | null): Promise<string | null> {
    const others = (await em.getRepository(RsyncModuleEntity).find({ select: { name: true, path: true } })).filter(
      (m) => exceptName === null || m.name.toLowerCase() !== exceptName.toLowerCase(),
    );
    const lexical = checkModulePathOverlap(modulePath, others);
    if (lexical) return lexical;
    const real = this.resolved(modulePath);
    if (real === null) return null; // unresolvable: creating the directory reports why
    for (const o of others) {
      const otherReal = this.resolved(o.path) ?? o.path;
      const rel = pathRelation(real, otherReal);
      if (rel === 'equal') return `resolves to ${real}, the same directory as module "${o.name}"`;
      if (rel === 'inside') return `resolves to ${real}, inside module "${o.name}" (${otherReal})`;
      if (rel === 'contains') return `resolves to ${real}, which contains module "${o.name}" (${otherReal})`;
    }
    return null;
  }

  private resolved(p: string): string | null {
    try {
      return resolveDeepest(p);
    } catch (err) {
      this.logger.debug?.(`cannot resolve ${p}: ${describeFsError(err as NodeJS.ErrnoException)}`);
      return null;
    }
  }

  private async applyWithDirectory(fields: ModuleFields, mutation: (em: EntityManager) => Promise<ModuleChange>): Promise<ModuleChange> {
    const dir = this.prepareDirectory(fields);
    try {
      const change = await this.writer.change(mutation);
      dir.committed();
      return change;
    } catch (err) {
      // A refused change leaves nothing behind, not even the directory it made.
      dir.undo();
      throw err;
    }
  }

  private async assertUsersExist(em: EntityManager, fields: ModuleFields): Promise<void> {
    const unknown = await this.users.unknownUsers(em, fields.users.map((u) => u.name));
    const issues: FieldError[] = unknown.map((n) => ({
      field: `users[${fields.users.findIndex((u) => u.name === n)}]`,
      message: `rsync user "${n}" does not exist`,
    }));
    assertValid(issues);
  }

  private async findOrFail(em: EntityManager, name: string): Promise<RsyncModuleEntity> {
    const entity = await em.getRepository(RsyncModuleEntity).findOneBy({ name });
    if (!entity) throw notFound('module', name);
    return entity;
  }

  private async fieldsOfAll(em: EntityManager): Promise<ModuleFields[]> {
    const [entities, grants] = await Promise.all([
      em.getRepository(RsyncModuleEntity).find({ order: { name: 'ASC' } }),
      this.users.grantsByModule(em),
    ]);
    return entities.map((e) => this.toFields(e, grants.get(e.name.toLowerCase()) ?? []));
  }

  private async fieldsOf(em: EntityManager, e: RsyncModuleEntity): Promise<ModuleFields> {
    const grants = await this.users.grantsByModule(em);
    return this.toFields(e, grants.get(e.name.toLowerCase()) ?? []);
  }

  private toFields(e: RsyncModuleEntity, users: ModuleFields['users']): ModuleFields {
    return {
      name: e.name,
      path: e.path,
      comment: e.comment,
      readOnly: e.readOnly,
      writeOnly: e.writeOnly,
      list: e.list,
      ignoreErrors: e.ignoreErrors,
      maxConnections: e.maxConnections,
      timeout: e.timeout,
      hostsAllow: e.hostsAllow,
      hostsDeny: e.hostsDeny,
      users,
      anonymous: e.anonymous,
      refuseOptions: e.refuseOptions,
      excludes: e.excludes,
      enabled: e.enabled,
      uid: e.uid,
      gid: e.gid,
      useChroot: e.useChroot,
      allowRootIds: e.allowRootIds,
      tlsOnly: e.tlsOnly,
    };
  }

  private toDto(f: ModuleFields, stored: RsyncModuleEntity): ModuleDto {
    return {
      name: f.name,
      path: f.path,
      comment: f.comment,
      readOnly: f.readOnly,
      writeOnly: f.writeOnly,
      list: f.list,
      ignoreErrors: f.ignoreErrors,
      maxConnections: f.maxConnections,
      timeout: f.timeout,
      hostsAllow: f.hostsAllow,
      hostsDeny: f.hostsDeny,
      users: f.users,
      anonymous: f.anonymous,
      refuseOptions: f.refuseOptions,
      excludes: f.excludes,
      enabled: f.enabled,
      uid: f.uid,
      gid: f.gid,
      useChroot: f.useChroot,
      allowRootIds: f.allowRootIds,
      tlsOnly: f.tlsOnly ?? false,
      createdAt: stored.createdAt.toISOString(),
      updatedAt: stored.updatedAt.toISOString(),
      warnings: this.writer.lastWritten?.warnings[f.name] ?? [],
    };
  }
}
