import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, In, Repository } from 'typeorm';
import type {
  CreateRsyncUserRequest,
  ModuleUserGrant,
  RsyncUserDto,
  RsyncUserWithSecretResponse,
  UpdateRsyncUserRequest,
} from '@rsynchub/contracts';
import { checkConfigValue, checkRsyncPassword, checkRsyncUserName } from '@rsynchub/rsyncd';
import { assertValid, conflict, FieldConflict, notFound } from '../common/errors';
import { insertRows, sqliteDatetime } from '../database/bulk-insert';
import { RsyncdConfigWriter } from '../daemon/rsyncd-config-writer';
import { ChangeLogMirror, ConfigChange } from '../daemon/config-change-log';
import { ModuleGrantEntity, RsyncUserEntity } from './rsync-user.entity';
import { generateRsyncPassword, SecretBox } from './secret-box';
import { rsyncPasswordWeakness } from './password-rule';
import type { FieldError } from '@rsynchub/contracts';

/** A user a bulk change will create, its password already sealed (see planNewUsers). */
export interface PlannedRsyncUser {
  name: string;
  comment: string;
  passwordEncrypted: string;
  /** Set when the password was generated (never logged). */
  generatedPassword?: string;
}

/** One line of the secrets file. */
type Secret = { name: string; password: string };

/** What a change did, for the audit log: never carries a password. */
export interface RsyncUserChange {
  before: RsyncUserDto | null;
  after: RsyncUserDto | null;
  passwordChanged: boolean;
}

@Injectable()
export class RsyncUsersService implements OnModuleInit {
  /** Sealed password -> password, for the secrets file (see secretsForConfig). */
  private decrypted = new Map<string, string>();
  /** readAllSecrets's last read: its database text and the frozen list made from it (handed out again if equal). */
  private lastSecrets: { text: string; list: readonly { name: string; password: string }[] } | null = null;
  /** Every user's name and password, kept up to date from the config change log (see secretsForConfig). */
  private readonly secrets: ChangeLogMirror<readonly Secret[]>;

  constructor(
    @InjectRepository(RsyncUserEntity) private readonly users: Repository<RsyncUserEntity>,
    private readonly box: SecretBox,
    private readonly writer: RsyncdConfigWriter,
  ) {
    this.secrets = writer.changeLog.add<readonly Secret[]>({ full: (em) => this.readAllSecrets(em), apply: (em, base, changes) => this.applySecretChanges(em, base, changes) });
  }

  onModuleInit(): void {
    this.writer.registerSource('secrets', (em) => this.secretsForConfig(em));
  }

  async list(): Promise<RsyncUserDto[]> {
    const users = await this.users.find({ order: { name: 'ASC' } });
    return this.toDtos(this.users.manager, users);
  }

  async get(name: string): Promise<RsyncUserDto> {
    const [dto] = await this.toDtos(this.users.manager, [await this.findOrFail(this.users.manager, name)]);
    return dto!;
  }

  async create(req: CreateRsyncUserRequest): Promise<RsyncUserWithSecretResponse & RsyncUserChange> {
    const issues: FieldError[] = [];
    const nameIssue = checkRsyncUserName(req.name);
    if (nameIssue) issues.push({ field: 'name', message: nameIssue });
    if (req.password !== undefined) {
      const pwIssue = checkRsyncPassword(req.password) ?? rsyncPasswordWeakness(req.password);
      if (pwIssue) issues.push({ field: 'password', message: pwIssue });
    }
    this.checkComment(req.comment, issues);
    assertValid(issues);

    return this.writer.change((em) => this.createWithin(em, req));
  }

  /** Creates a user inside a config change that the caller runs (e.g. an import of many users at once). */
  async createWithin(em: EntityManager, req: CreateRsyncUserRequest): Promise<RsyncUserWithSecretResponse & RsyncUserChange> {
    const generated = req.password === undefined ? generateRsyncPassword() : undefined;
    const password = req.password ?? generated!;
    const repo = em.getRepository(RsyncUserEntity);
    // COLLATE NOCASE makes this lookup case-insensitive, like the unique index.
    const taken = await repo.findOneBy({ name: req.name });
    if (taken) {
      throw new FieldConflict(
        'name',
        taken.name === req.name ? 'is already taken by another rsync user' : `is already taken by rsync user "${taken.name}" (names are case-insensitive)`,
        `an rsync user named "${req.name}" already exists (names are case-insensitive)`,
      );
    }
    const now = new Date();
    const saved = await repo.save(
      repo.create({
        name: req.name,
        comment: req.comment ?? '',
        passwordEncrypted: this.box.encrypt(password),
        passwordUpdatedAt: now,
        createdAt: now,
        updatedAt: now,
      }),
    );
    const [user] = await this.toDtos(em, [saved]);
    return { user: user!, generatedPassword: generated, before: null, after: user!, passwordChanged: true };
  }

  /**
   * Seals the passwords of users a bulk change will create, before the change runs: the config writer runs a
   * mutation twice (dry run, then for real), and both runs must write the same users.
   */
  planNewUsers(reqs: CreateRsyncUserRequest[]): PlannedRsyncUser[] {
    return reqs.map((r) => {
      const generated = r.password === undefined ? generateRsyncPassword() : undefined;
      return { name: r.name, comment: r.comment ?? '', passwordEncrypted: this.box.encrypt(r.password ?? generated!), generatedPassword: generated };
    });
  }

  /** Inserts planned users (checked by the caller: valid, new names) in a few statements. */
  async insertPlannedWithin(em: EntityManager, planned: PlannedRsyncUser[]): Promise<void> {
    const now = sqliteDatetime(new Date());
    await insertRows(
      em,
      'rsync_users',
      ['name', 'comment', 'password_encrypted', 'password_updated_at', 'created_at', 'updated_at'],
      planned.map((u) => [u.name, u.comment, u.passwordEncrypted, now, now, now]),
    );
  }

  /** Lower-cased names of every rsync user. */
  async existingNames(em: EntityManager): Promise<Set<string>> {
    const rows: { name: string }[] = await em.query(`SELECT name FROM rsync_users`);
    return new Set(rows.map((r) => r.name.toLowerCase()));
  }

  /** The grants of many new modules at once (a bulk import); every user named must exist. */
  async setGrantsMany(em: EntityManager, entries: { moduleName: string; grants: ModuleUserGrant[] }[]): Promise<void> {
    const rows: { id: number; name: string }[] = await em.query(`SELECT id, name FROM rsync_users`);
    const ids = new Map(rows.map((r) => [r.name.toLowerCase(), r.id]));
    const grants = entries.flatMap(({ moduleName, grants: list }) =>
      list.map((g, position) => {
        const userId = ids.get(g.name.toLowerCase());
        if (userId === undefined) throw new Error(`rsync user "${g.name}" does not exist`);
        return { moduleName, userId, access: g.access, position };
      }),
    );
    await insertRows(em, 'module_grants', ['module_name', 'user_id', 'access', 'position'], grants.map((g) => [g.moduleName, g.userId, g.access, g.position]));
  }

  async exists(em: EntityManager, name: string): Promise<boolean> {
    return (await em.getRepository(RsyncUserEntity).countBy({ name })) > 0;
  }

  async update(name: string, req: UpdateRsyncUserRequest): Promise<RsyncUserWithSecretResponse & RsyncUserChange> {
    const issues: FieldError[] = [];
    if (req.password !== undefined) {
      const pwIssue = checkRsyncPassword(req.password) ?? rsyncPasswordWeakness(req.password);
      if (pwIssue) issues.push({ field: 'password', message: pwIssue });
      if (req.generatePassword) issues.push({ field: 'generatePassword', message: 'cannot be combined with password' });
    }
    this.checkComment(req.comment, issues);
    assertValid(issues);

    const generated = req.generatePassword ? generateRsyncPassword() : undefined;
    const newPassword = req.password ?? generated;
    return this.writer.change(async (em) => {
      const repo = em.getRepository(RsyncUserEntity);
      const entity = await this.findOrFail(em, name);
      const [before] = await this.toDtos(em, [entity]);
      const now = new Date();
      if (req.comment !== undefined) entity.comment = req.comment;
      if (newPassword !== undefined) {
        entity.passwordEncrypted = this.box.encrypt(newPassword);
        entity.passwordUpdatedAt = now;
      }
      entity.updatedAt = now;
      await repo.save(entity);
      const [after] = await this.toDtos(em, [entity]);
      return { user: after!, generatedPassword: generated, before: before!, after: after!, passwordChanged: newPassword !== undefined };
    });
  }

  /** Refused while a module still grants the user, unless `removeGrants` is set. */
  async remove(name: string, removeGrants = false): Promise<RsyncUserChange> {
    return this.writer.change(async (em) => {
      const entity = await this.findOrFail(em, name);
      const [before] = await this.toDtos(em, [entity]);
      const grants = await em.getRepository(ModuleGrantEntity).findBy({ userId: entity.id });
      if (grants.length > 0 && !removeGrants) {
        const modules = grants.map((g) => g.moduleName).sort();
        throw conflict(
          `rsync user "${entity.name}" is still granted on module${modules.length > 1 ? 's' : ''} ${modules.join(', ')}; remove ${modules.length > 1 ? 'those grants' : 'that grant'} first, or delete the user together with its grants (removeGrants=true)`,
        );
      }
      await em.getRepository(ModuleGrantEntity).delete({ userId: entity.id });
      await em.getRepository(RsyncUserEntity).delete({ id: entity.id });
      return { before: before!, after: null, passwordChanged: false };
    });
  }

  // ----- used by the modules domain (inside its own config change) ---------------------------------------------

  /** Returns the unknown names among `names` (case-insensitive). */
  async unknownUsers(em: EntityManager, names: string[]): Promise<string[]> {
    if (names.length === 0) return [];
    const found = await em.getRepository(RsyncUserEntity).find({ where: { name: In(names) } });
    const known = new Set(found.map((u) => u.name.toLowerCase()));
    return names.filter((n) => !known.has(n.toLowerCase()));
  }

  /** Replaces the grants of one module. Caller validated the names. */
  async setGrants(em: EntityManager, moduleName: string, grants: ModuleUserGrant[]): Promise<void> {
    const grantRepo = em.getRepository(ModuleGrantEntity);
    await grantRepo.delete({ moduleName });
    if (grants.length === 0) return;
    const users = await em.getRepository(RsyncUserEntity).find({ where: { name: In(grants.map((g) => g.name)) } });
    const byName = new Map(users.map((u) => [u.name.toLowerCase(), u]));
    await grantRepo.insert(
      grants.map((g, position) => ({ moduleName, userId: byName.get(g.name.toLowerCase())!.id, access: g.access, position })),
    );
  }

  async removeGrantsOf(em: EntityManager, moduleName: string): Promise<void> {
    await em.getRepository(ModuleGrantEntity).delete({ moduleName });
  }

  /** Grants of every module, keyed by lower-cased module name, in the admin's order. */
  async grantsByModule(em: EntityManager): Promise<Map<string, ModuleUserGrant[]>> {
    // One JSON text instead of a row object per grant: the driver's row objects cost ~3x more than JSON.parse, and
    // every config change reads every grant (twice before the dry-run reuse).
    const [row] = (await em.query(
      `SELECT json_group_array(json_array(g.module_name, u.name, g.access) ORDER BY g.module_name, g.position) AS j
         FROM module_grants g JOIN rsync_users u ON u.id = g.user_id`,
    )) as { j: string | null }[];
    const rows = JSON.parse(row?.j ?? '[]') as [moduleName: string, name: string, access: 'rw' | 'ro'][];
    const map = new Map<string, ModuleUserGrant[]>();
    for (const [moduleName, name, access] of rows) {
      const key = moduleName.toLowerCase();
      let list = map.get(key);
      if (!list) map.set(key, (list = []));
      list.push({ name, access });
    }
    return map;
  }

  /** Grants of the named modules only (e.g. one page of the list, or one module), keyed like grantsByModule. */
  async grantsOfModules(em: EntityManager, moduleNames: string[]): Promise<Map<string, ModuleUserGrant[]>> {
    const map = new Map<string, ModuleUserGrant[]>();
    // Well under SQLite's bound-parameter limit per statement.
    for (let i = 0; i < moduleNames.length; i += 500) {
      const chunk = moduleNames.slice(i, i + 500);
      const rows: { module_name: string; name: string; access: 'rw' | 'ro' }[] = await em.query(
        `SELECT g.module_name, u.name, g.access FROM module_grants g JOIN rsync_users u ON u.id = g.user_id
          WHERE g.module_name IN (${chunk.map(() => '?').join(', ')}) ORDER BY g.module_name, g.position`,
        chunk,
      );
      for (const r of rows) {
        const key = r.module_name.toLowerCase();
        if (!map.has(key)) map.set(key, []);
        map.get(key)!.push({ name: r.name, access: r.access });
      }
    }
    return map;
  }

  /**
   * Every user's password for the secrets file. Each change renders the file anew; a password is decrypted once per
   * sealed value (the cache keeps only the current ones), not once per user per change.
   */
  private async secretsForConfig(em: EntityManager): Promise<{ name: string; password: string }[]> {
    // The same frozen list while no user changed (e.g. any module change): the writer does not render it again.
    return (await this.secrets.read(em)) as Secret[];
  }

  /** The users named in `changes` read again on top of `base` (null: read every user instead). */
  private async applySecretChanges(em: EntityManager, base: readonly Secret[], changes: ConfigChange[]): Promise<readonly Secret[] | null> {
    const names = new Set<string>();
    for (const c of changes) if (c.kind === 'u' && c.key !== null) names.add(c.key.toLowerCase());
    if (names.size === 0) return base;
    if (names.size > 200) return null;
    const list = [...names];
    const rows = (await em.query(
      `SELECT name, password_encrypted AS sealed FROM rsync_users WHERE name IN (${list.map(() => '?').join(', ')})`,
      list,
    )) as { name: string; sealed: string }[];
    const out = base.filter((s) => !names.has(s.name.toLowerCase()));
    for (const r of rows) {
      const password = this.decrypted.get(r.sealed) ?? this.box.decrypt(r.sealed);
      this.decrypted.set(r.sealed, password);
      out.push(Object.freeze({ name: r.name, password }));
    }
    // The full read's order (names case-insensitively); the file itself is sorted by renderSecretsFile.
    out.sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : a.name.toLowerCase() > b.name.toLowerCase() ? 1 : 0));
    return Object.freeze(out);
  }

  /** Every user's password (the first read, and whenever the change log cannot say what changed). */
  private async readAllSecrets(em: EntityManager): Promise<readonly Secret[]> {
    // One JSON text rather than a row object per user (see grantsByModule).
    const [row] = (await em.query(`SELECT json_group_array(json_array(name, password_encrypted) ORDER BY name) AS j FROM rsync_users`)) as { j: string | null }[];
    const text = row?.j ?? '[]';
    // Unchanged since the last read (e.g. any module change): the same frozen list, which the config writer
    // recognises and does not render again (10,000 users: ~40 ms of parsing and rendering per change).
    if (this.lastSecrets?.text === text) return this.lastSecrets.list as { name: string; password: string }[];
    const rows = JSON.parse(text) as [name: string, sealed: string][];
    const next = new Map<string, string>();
    const out = rows.map(([name, sealed]) => {
      const password = next.get(sealed) ?? this.decrypted.get(sealed) ?? this.box.decrypt(sealed);
      next.set(sealed, password);
      return Object.freeze({ name, password });
    });
    this.decrypted = next;
    this.lastSecrets = { text, list: Object.freeze(out) };
    return this.lastSecrets.list;
  }

  private checkComment(comment: string | undefined, issues: FieldError[]): void {
    if (comment === undefined || comment === '') return;
    const issue = checkConfigValue(comment, { maxLength: 256 });
    if (issue) issues.push({ field: 'comment', message: issue });
  }

  /**
   * The user's password in clear, for the server's own rsync client (connection test) only; null for an unknown
   * user. Never put it in a response, log or audit entry.
   */
  async passwordOf(name: string): Promise<string | null> {
    const entity = await this.users.findOneBy({ name });
    return entity ? this.box.decrypt(entity.passwordEncrypted) : null;
  }

  private async findOrFail(em: EntityManager, name: string): Promise<RsyncUserEntity> {
    const entity = await em.getRepository(RsyncUserEntity).findOneBy({ name });
    if (!entity) throw notFound('rsync user', name);
    return entity;
  }

  private async toDtos(em: EntityManager, users: RsyncUserEntity[]): Promise<RsyncUserDto[]> {
    if (users.length === 0) return [];
    const grants = await em.getRepository(ModuleGrantEntity).find({ where: { userId: In(users.map((u) => u.id)) }, order: { moduleName: 'ASC' } });
    return users.map((u) => ({
      name: u.name,
      comment: u.comment,
      createdAt: u.createdAt.toISOString(),
      updatedAt: u.updatedAt.toISOString(),
      passwordUpdatedAt: u.passwordUpdatedAt.toISOString(),
      modules: grants.filter((g) => g.userId === u.id).map((g) => ({ module: g.moduleName, access: g.access })),
    }));
  }
}
