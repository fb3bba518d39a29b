import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EntityManager, Repository } from 'typeorm';
import type { CreateModuleRequest, FieldError, ModuleDto, ModuleFields, ModulePage, UpdateModuleRequest } from '@rsynchub/contracts';
import { moduleWithDefaults, PathOverlapIndex, pathRelation, validateModule } from '@rsynchub/rsyncd';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { assertValid, FieldConflict, notFound, ValidationFailed } from '../common/errors';
import { RsyncdConfigWriter } from '../daemon/rsyncd-config-writer';
import { ChangeLogMirror, ConfigChange } from '../daemon/config-change-log';
import { insertRows, sqliteDatetime } from '../database/bulk-insert';
import { PendingDirs } from '../database/pending-dirs';
import { RsyncUsersService } from '../rsync-users/rsync-users.service';
import { resolveDeepest } from '../config/storage-roots';
import { chownForDaemon, describeFsError, ensureModuleDirectory, isInsideRoots, purgePlan } from './module-storage';
import { RsyncModuleEntity } from './rsync-module.entity';
import { ModuleList, ModulePathCatalogue } from './path-catalogue';


/** The columns fieldsOfAll reads (and nothing else is read from a row): every field the render needs. */
const MIRROR_COLUMNS = ['name', 'path', 'comment', 'read_only', 'write_only', 'list', 'ignore_errors', 'max_connections', 'timeout', 'hosts_allow', 'hosts_deny',
  'anonymous', 'refuse_options', 'excludes', 'enabled', 'uid', 'gid', 'use_chroot', 'allow_root_ids', 'tls_only', 'tls_client_cert'];

/** A parent directory holding at least this many module paths is listed once instead of an lstat per path. */
const LIST_PARENT_FROM = 16;

export interface ModuleChange {
  before: ModuleDto | null;
  after: ModuleDto | null;
}

@Injectable()
export class ModulesService implements OnModuleInit {
  private readonly logger = new Logger(ModulesService.name);
  /** readAllRows's last read: each module's row text to its frozen fields (only the current modules). */
  private mirror = new Map<string, ModuleFields>();
  /** Every module, in render order, kept up to date from the config change log (see fieldsOfAll). */
  private readonly all: ChangeLogMirror<ModuleList>;
  /** The module paths of the latest list, indexed for a create's overlap check (see ModulePathCatalogue). */
  private readonly catalogue = new ModulePathCatalogue((p) => this.resolved(p));

  constructor(
    @InjectRepository(RsyncModuleEntity) private readonly modules: Repository<RsyncModuleEntity>,
    private readonly users: RsyncUsersService,
    private readonly writer: RsyncdConfigWriter,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly pendingDirs: PendingDirs,
  ) {
    this.all = writer.changeLog.add<ModuleList>({ full: (em) => this.readAllRows(em), apply: (em, base, changes) => this.applyChanges(em, base, changes) });
  }

  async onModuleInit(): Promise<void> {
    fs.mkdirSync(this.config.storageRoots[0]!, { recursive: true, mode: 0o755 });
    this.writer.registerSource('modules', (em) => this.fieldsOfAll(em));
    // Directories made for module changes that never committed (a crash in between) go, if still empty.
    const paths = (await this.modules.find({ select: { path: true } })).map((m) => m.path);
    // Only inside the storage roots: the record is a file, and nothing outside the roots is ever ours to remove.
    this.pendingDirs.cleanup((dir) => !isInsideRoots(dir, this.config.storageRoots) || paths.some((p) => p === dir || p.startsWith(dir + '/')));
  }

  /**
   * Every module, by name. The fields come from the in-memory list the config is rendered from (brought up to date
   * from the change log), the two timestamps from one JSON text: at 10,000 modules hydrating every entity and reading
   * every grant blocked the event loop for ~0.5-1 s, and the alert engine asks for this list on every evaluation.
   */
  async list(): Promise<ModuleDto[]> {
    const em = this.modules.manager;
    const { list } = await this.all.read(em);
    const [row] = (await em.query(`SELECT json_group_object(lower(name), json_array(created_at, updated_at)) AS j FROM rsync_modules`)) as { j: string | null }[];
    const stamps = new Map(Object.entries(JSON.parse(row?.j ?? '{}') as Record<string, [unknown, unknown]>));
    // Stored as TypeORM stores them: hydrated by its own driver, as for an entity.
    const column = (property: string) => this.modules.metadata.findColumnWithPropertyName(property)!;
    const created = column('createdAt');
    const updated = column('updatedAt');
    const driver = this.modules.manager.connection.driver;
    const out: ModuleDto[] = [];
    for (const f of list) {
      const stamp = stamps.get(f.name.toLowerCase());
      // Created or deleted between the two reads: the entities themselves, as before.
      if (!stamp || stamps.size !== list.length) return this.listFromRows();
      out.push(this.toDto(f, { createdAt: driver.prepareHydratedValue(stamp[0], created) as Date, updatedAt: driver.prepareHydratedValue(stamp[1], updated) as Date } as RsyncModuleEntity));
    }
    return out;
  }

  private async listFromRows(): Promise<ModuleDto[]> {
    const em = this.modules.manager;
    const [entities, grants] = await Promise.all([em.getRepository(RsyncModuleEntity).find({ order: { name: 'ASC' } }), this.users.grantsByModule(em)]);
    return entities.map((e) => this.toDto(this.toFields(e, grants.get(e.name.toLowerCase()) ?? []), e));
  }

  /**
   * One page of the list in name order (case-insensitive, as the names are unique), optionally only names starting
   * with `prefix`: the database does the paging and the counting, and only the page's grants are read.
   */
  async page(limit: number, offset: number, prefix: string): Promise<ModulePage> {
    const em = this.modules.manager;
    const qb = em.getRepository(RsyncModuleEntity).createQueryBuilder('m');
    // LIKE ignores ASCII case, as the names' collation does; % _ and the escape character itself match literally.
    if (prefix !== '') qb.where(`m.name LIKE :prefix ESCAPE '!'`, { prefix: prefix.replace(/[!%_]/g, '!$&') + '%' });
    const [entities, total] = await qb.orderBy('m.name', 'ASC').addOrderBy('m.id', 'ASC').skip(offset).take(limit).getManyAndCount();
    const grants = await this.users.grantsOfModules(em, entities.map((e) => e.name));
    return {
      items: entities.map((e) => this.toDto(this.toFields(e, grants.get(e.name.toLowerCase()) ?? []), e)),
      total,
      limit,
      offset,
    };
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
    return this.applyWithDirectory(fields, null, (em) => this.createWithin(em, fields)).then(async (change) => ({
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
    await this.assertNoLexicalOverlap(em, fields.path, null);
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

  /**
   * Inserts many validated modules (an import) in a few statements. The caller checked names, users and paths and
   * made the directories (see prepareDirectories) under the config writer's lock.
   */
  async createManyWithin(em: EntityManager, list: ModuleFields[]): Promise<void> {
    const now = sqliteDatetime(new Date());
    const json = (v: string[]) => JSON.stringify(v);
    const bool = (v: boolean) => (v ? 1 : 0);
    await insertRows(
      em,
      'rsync_modules',
      ['name', 'path', 'comment', 'read_only', 'write_only', 'list', 'ignore_errors', 'max_connections', 'timeout', 'hosts_allow', 'hosts_deny',
        'refuse_options', 'excludes', 'enabled', 'uid', 'gid', 'use_chroot', 'anonymous', 'allow_root_ids', 'created_at', 'updated_at'],
      list.map((m) => [m.name, m.path, m.comment, bool(m.readOnly), bool(m.writeOnly), bool(m.list), bool(m.ignoreErrors), m.maxConnections, m.timeout,
        json(m.hostsAllow), json(m.hostsDeny), json(m.refuseOptions), json(m.excludes), bool(m.enabled), m.uid, m.gid,
        m.useChroot === null ? null : bool(m.useChroot), m.anonymous, bool(m.allowRootIds), now, now]),
    );
    await this.users.setGrantsMany(em, list.map((m) => ({ moduleName: m.name, grants: m.users })));
  }

  /** Lower-cased names of every module. */
  async existingNames(em: EntityManager): Promise<Set<string>> {
    const rows: { name: string }[] = await em.query(`SELECT name FROM rsync_modules`);
    return new Set(rows.map((r) => r.name.toLowerCase()));
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

  /**
   * prepareDirectory for many modules at once (an import): one record of the pending directories, and a module whose
   * directory cannot be made is reported (field and reason), not thrown.
   */
  async prepareDirectories(list: ModuleFields[]): Promise<{ failed: Map<ModuleFields, string>; undo: () => void; committed: () => void }> {
    const pending = this.pendingDirs.recordMany(list.map((m) => m.path));
    const created: string[] = [];
    const failed = new Map<ModuleFields, string>();
    for (const [i, m] of list.entries()) {
      // Thousands of mkdir calls in one go would stall log ingestion in this same process.
      if (i % 250 === 249) await new Promise<void>((resolve) => setImmediate(resolve));
      const dir = ensureModuleDirectory(m.path, this.config.storageRoots, this.config.dataDir);
      if (dir.error) {
        failed.set(m, `path ${dir.error}`);
        continue;
      }
      if (!dir.created) continue;
      try {
        chownForDaemon(m.path, m.uid, m.gid);
        created.push(dir.created);
      } catch (err) {
        fs.rmSync(dir.created, { recursive: true, force: true });
        failed.set(m, `uid the directory could not be handed to the daemon's account: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    return {
      failed,
      undo: () => {
        for (const d of created) fs.rmSync(d, { recursive: true, force: true });
        pending.done();
      },
      committed: () => pending.done(),
    };
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
    return this.applyWithDirectory(fields, current.name, async (em) => {
      const entity = await this.findOrFail(em, name);
      const before = this.toDto(await this.fieldsOf(em, entity), entity);
      await this.assertUsersExist(em, fields);
      await this.assertNoLexicalOverlap(em, fields.path, entity.name);
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
   * The same check on the paths as stored only, in SQL (no pass over every module in JavaScript, no filesystem):
   * what a mutation re-checks inside its transaction. The full check (`assertNoOverlap`) ran before, under the
   * config writer's lock, so nothing could have moved in between.
   */
  private async assertNoLexicalOverlap(em: EntityManager, modulePath: string, exceptName: string | null): Promise<void> {
    const rows: { name: string; path: string }[] = await em.query(
      `SELECT name, path FROM rsync_modules
        WHERE (?2 IS NULL OR name <> ?2 COLLATE NOCASE)
          AND (path = ?1 OR substr(?1, 1, length(path) + 1) = path || '/' OR substr(path, 1, length(?1) + 1) = ?1 || '/')
        LIMIT 1`,
      [modulePath, exceptName],
    );
    const issue = new PathOverlapIndex(rows).check(modulePath);
    if (issue) throw new ValidationFailed([{ field: 'path', message: issue }]);
  }

  /**
   * Decided on the paths as written AND as resolved (symlinks followed, for paths that do not exist yet through their
   * deepest existing ancestor): a link inside the storage could otherwise make two modules share data. Every
   * module's path is read once; resolving them costs one lstat each (their parent directories are resolved once).
   */
  async overlapIssue(em: EntityManager, modulePath: string, exceptName: string | null): Promise<string | null> {
    if (exceptName === null) {
      // A create: against the in-memory index of the modules as the change log says they are now, not every path
      // read and walked (at 10,000 modules that was ~80 ms of every create). The same outcome (path-catalogue.test).
      this.catalogue.sync(await this.all.read(em));
      const lexical = this.catalogue.lexical(modulePath);
      if (lexical) return lexical;
      const real = this.resolved(modulePath);
      if (real === null) return null; // unresolvable: creating the directory reports why
      return this.catalogue.resolvedIssue(real);
    }
    const except = exceptName?.toLowerCase();
    const others = (await this.allPaths(em)).filter((m) => m.name.toLowerCase() !== except);
    const lexical = new PathOverlapIndex(others).check(modulePath);
    if (lexical) return lexical;
    const real = this.resolved(modulePath);
    if (real === null) return null; // unresolvable: creating the directory reports why
    return this.resolvedOverlap(real, others, this.resolver(others.map((o) => o.path)));
  }

  /** Every module's name and path, without hydrating entities. */
  async allPaths(em: EntityManager): Promise<{ name: string; path: string }[]> {
    // One JSON text, not a driver row object per module (see fieldsOfAll): read on every module create and update.
    const [row] = (await em.query(`SELECT json_group_array(json_array(name, path)) AS j FROM rsync_modules`)) as { j: string | null }[];
    return (JSON.parse(row?.j ?? '[]') as [string, string][]).map(([name, p]) => ({ name, path: p }));
  }

  /** The resolved-path half of overlapIssue, for callers that check many paths against the same modules. */
  resolvedOverlap(real: string, others: { name: string; path: string }[], resolve: (p: string) => string): string | null {
    for (const o of others) {
      const otherReal = resolve(o.path);
      const rel = pathRelation(real, otherReal);
      if (rel === 'equal') return `resolves to ${real}, the same directory as module "${o.name}"`;
      if (rel === 'inside') return `resolves to ${real}, inside module "${o.name}" (${otherReal})`;
      if (rel === 'contains') return `resolves to ${real}, which contains module "${o.name}" (${otherReal})`;
    }
    return null;
  }

  /**
   * resolveDeepest for many module paths at once (the same results): a path that is not itself a symbolic link
   * resolves to its parent's real location plus its own name, and module paths share few parents. Unresolvable
   * paths stand for themselves, as before. Given the paths to come (`paths`), a parent that holds many of them is
   * listed once (one readdir with file types) instead of an lstat per path: at 10,000 modules in one storage root the
   * lstats took ~130 ms of every module create. The listing tells the same thing, per entry: a symbolic link, or not,
   * or missing.
   */
  resolver(paths: readonly string[] = []): (p: string) => string {
    const parents = new Map<string, string | null>();
    const memo = new Map<string, string>();
    const perParent = new Map<string, number>();
    for (const p of paths) perParent.set(path.dirname(p), (perParent.get(path.dirname(p)) ?? 0) + 1);
    /** Per listed parent: which entries are symbolic links (absent: missing). null: not listed, lstat each path. */
    const listings = new Map<string, Map<string, boolean> | null>();
    const listing = (parent: string): Map<string, boolean> | null => {
      let known = listings.get(parent);
      if (known !== undefined) return known;
      known = null;
      if ((perParent.get(parent) ?? 0) >= LIST_PARENT_FROM) {
        try {
          known = new Map(fs.readdirSync(parent, { withFileTypes: true }).map((d) => [d.name, d.isSymbolicLink()]));
        } catch {
          known = null; // unreadable (EACCES...): each path is looked at on its own, as before
        }
      }
      listings.set(parent, known);
      return known;
    };
    return (p) => {
      const known = memo.get(p);
      if (known !== undefined) return known;
      const parent = path.dirname(p);
      let realParent = parents.get(parent);
      if (realParent === undefined) {
        realParent = this.resolved(parent);
        parents.set(parent, realParent);
      }
      let viaParent = false;
      if (realParent !== null) {
        const entries = listing(parent);
        const name = path.basename(p);
        if (entries !== null && name !== '' && path.join(parent, name) === p) {
          // Missing (resolved through its deepest existing ancestor, the parent's resolution) or not a link.
          viaParent = entries.get(name) !== true;
        } else {
          try {
            const st = fs.lstatSync(p, { throwIfNoEntry: false });
            viaParent = st === undefined || !st.isSymbolicLink();
          } catch {
            viaParent = false; // ENOTDIR, EACCES...: resolveDeepest decides, as before
          }
        }
      }
      const out = viaParent ? path.join(realParent!, path.basename(p)) : (this.resolved(p) ?? p);
      memo.set(p, out);
      return out;
    };
  }

  private resolved(p: string): string | null {
    try {
      return resolveDeepest(p);
    } catch (err) {
      this.logger.debug?.(`cannot resolve ${p}: ${describeFsError(err as NodeJS.ErrnoException)}`);
      return null;
    }
  }

  /**
   * Runs a module change with its directory: the full overlap check (paths as resolved on disk) and the mkdir
   * happen under the config writer's lock, once, before the change's transactions; a refused change removes the
   * directory it made.
   */
  private async applyWithDirectory(fields: ModuleFields, exceptName: string | null, mutation: (em: EntityManager) => Promise<ModuleChange>): Promise<ModuleChange> {
    let dir: { undo: () => void; committed: () => void } | null = null;
    try {
      const change = await this.writer.change(mutation, async () => {
        await this.assertNoOverlap(this.modules.manager, fields.path, exceptName);
        dir = this.prepareDirectory(fields);
      });
      (dir as { committed: () => void } | null)?.committed();
      return change;
    } catch (err) {
      // A refused change leaves nothing behind, not even the directory it made.
      (dir as { undo: () => void } | null)?.undo();
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

  /**
   * What the config is rendered from, read on every config change: plain rows, not hydrated entities (at 10,000
   * modules entity hydration alone took longer than the rest of the change).
   *
   * A mirror of the last read: each module's row (with its grants) comes from SQLite as one JSON text, and a module
   * whose text is the same as last time is handed over as the same deep-frozen object as last time. The render cache
   * recognises an unchanged frozen object by identity (see RenderCache), so a change among 10,000 modules neither
   * builds 10,000 objects again nor compares them field by field twice (plain and TLS render). Only the database's
   * text decides: whatever changed a row (this process, a migration, another process) gives a new text.
   */
  private async fieldsOfAll(em: EntityManager): Promise<ModuleFields[]> {
    // The list is handed out as is (never changed: each state is a new array), and the render only reads it.
    return (await this.all.read(em)).list as ModuleFields[];
  }

  /**
   * The modules named in `changes` read again (their rows and grants), on top of `base`: a create among 10,000
   * modules reads one row. Null (read every row instead) for many changes at once, e.g. an import.
   */
  private async applyChanges(em: EntityManager, base: ModuleList, changes: ConfigChange[]): Promise<ModuleList | null> {
    const names = new Set<string>();
    for (const c of changes) if (c.kind === 'm' && c.key !== null) names.add(c.key.toLowerCase());
    // 'u' lines (a user created, or its password changed) change no module: granted users are named by grants,
    // whose own changes are 'm' lines, and a renamed user is '*' (read everything).
    if (names.size === 0) return base;
    if (names.size > 200) return null;
    const rows = await this.moduleRows(em, [...names]);
    const list = [...base.list];
    const lowers = [...base.lowers];
    const fresh = new Map(rows.map((line) => {
      const fields = this.fieldsFromRow(JSON.parse(line) as unknown[]);
      return [fields.name.toLowerCase(), fields] as const;
    }));
    for (const lower of names) {
      let lo = 0;
      let hi = lowers.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (lowers[mid]! < lower) lo = mid + 1;
        else hi = mid;
      }
      const now = fresh.get(lower);
      const there = lowers[lo] === lower;
      if (now && there) list[lo] = now;
      else if (now) {
        list.splice(lo, 0, now);
        lowers.splice(lo, 0, lower);
      } else if (there) {
        list.splice(lo, 1);
        lowers.splice(lo, 1);
      }
    }
    return { list: Object.freeze(list), lowers, from: { base: new WeakRef(base), names } };
  }

  /** The mirror rows (see readAllRows) of the named modules only (names compared case-insensitively). */
  private async moduleRows(em: EntityManager, names: string[]): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < names.length; i += 500) {
      const chunk = names.slice(i, i + 500);
      const rows = (await em.query(
        `SELECT ${this.rowSql()} AS j FROM rsync_modules m WHERE m.name IN (${chunk.map(() => '?').join(', ')})`,
        chunk,
      )) as { j: string }[];
      for (const r of rows) out.push(r.j);
    }
    return out;
  }

  /** One module's row with its grants as one JSON array (MIRROR_COLUMNS, then its grants). */
  private rowSql(): string {
    return `json_array(${MIRROR_COLUMNS.map((c) => `m.${c}`).join(', ')},
           (SELECT json_group_array(json_array(u.name, g.access) ORDER BY g.position)
              FROM module_grants g JOIN rsync_users u ON u.id = g.user_id WHERE g.module_name = m.name))`;
  }

  /** Every module from every row (the first read, and after an import or anything the change log cannot say). */
  private async readAllRows(em: EntityManager): Promise<ModuleList> {
    // One text for all rows, one line per module (JSON never holds a raw newline): the driver's row objects (23
    // columns each) took ~3x longer than one text at 10,000 modules. Grants by the grant table's own key (module_name
    // COLLATE NOCASE: module names are ASCII, so this is grantsByModule's lower-cased match), in the admin's order.
    const [result] = (await em.query(
      `SELECT group_concat(j, char(10) ORDER BY n) AS t FROM (SELECT m.name AS n, ${this.rowSql()} AS j FROM rsync_modules m)`,
    )) as { t: string | null }[];
    const lines = result?.t ? result.t.split('\n') : [];
    const next = new Map<string, ModuleFields>();
    const out = lines.map((line) => {
      const known = next.get(line) ?? this.mirror.get(line);
      const fields = known ?? this.fieldsFromRow(JSON.parse(line) as unknown[]);
      next.set(line, fields);
      return fields;
    });
    this.mirror = next;
    // Render order: lower-cased names, strictly ascending (the names are unique regardless of case).
    const keyed = out.map((fields) => ({ fields, lower: fields.name.toLowerCase() }));
    if (keyed.some((k, i) => i > 0 && !(keyed[i - 1]!.lower < k.lower))) keyed.sort((a, b) => (a.lower < b.lower ? -1 : a.lower > b.lower ? 1 : 0));
    return { list: Object.freeze(keyed.map((k) => k.fields)), lowers: keyed.map((k) => k.lower) };
  }

  /** One module from its mirror row (MIRROR_COLUMNS, then its grants), deep-frozen: it is shared between reads. */
  private fieldsFromRow(values: unknown[]): ModuleFields {
    const r = Object.fromEntries(MIRROR_COLUMNS.map((c, i) => [c, values[i]])) as Record<string, unknown>;
    const grants = (typeof values[MIRROR_COLUMNS.length] === 'string' ? JSON.parse(values[MIRROR_COLUMNS.length] as string) : values[MIRROR_COLUMNS.length] ?? []) as [string, 'rw' | 'ro'][];
    const list = (v: unknown) => Object.freeze(typeof v === 'string' && v !== '' ? (JSON.parse(v) as string[]) : []);
    const e = {
      name: r['name'] as string,
      path: r['path'] as string,
      comment: r['comment'] as string,
      readOnly: !!r['read_only'],
      writeOnly: !!r['write_only'],
      list: !!r['list'],
      ignoreErrors: !!r['ignore_errors'],
      maxConnections: r['max_connections'] as number,
      timeout: r['timeout'] as number,
      hostsAllow: list(r['hosts_allow']),
      hostsDeny: list(r['hosts_deny']),
      anonymous: r['anonymous'] as RsyncModuleEntity['anonymous'],
      refuseOptions: list(r['refuse_options']),
      excludes: list(r['excludes']),
      enabled: !!r['enabled'],
      uid: (r['uid'] as string | null) ?? null,
      gid: (r['gid'] as string | null) ?? null,
      useChroot: r['use_chroot'] === null || r['use_chroot'] === undefined ? null : r['use_chroot'] === 1,
      allowRootIds: !!r['allow_root_ids'],
      // Every column the render needs: a field left out here is silently its default in rsyncd.conf (tlsOnly would
      // open a TLS-only module to plaintext clients).
      tlsOnly: !!r['tls_only'],
      tlsClientCert: !!r['tls_client_cert'],
    } as RsyncModuleEntity;
    const users = Object.freeze(grants.map(([name, access]) => Object.freeze({ name, access }))) as ModuleFields['users'];
    return Object.freeze(this.toFields(e, users));
  }

  private async fieldsOf(em: EntityManager, e: RsyncModuleEntity): Promise<ModuleFields> {
    const grants = await this.users.grantsOfModules(em, [e.name]);
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
      tlsClientCert: e.tlsClientCert,
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
      tlsClientCert: f.tlsClientCert ?? false,
      createdAt: stored.createdAt.toISOString(),
      updatedAt: stored.updatedAt.toISOString(),
      warnings: this.writer.lastWritten?.warnings[f.name] ?? [],
    };
  }
}
