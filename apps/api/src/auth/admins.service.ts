import { ConflictException, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { DbWriteQueue } from '../database/db-write-queue';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import type { AdminDto, AdminRole, CreateAdminRequest, UpdateAdminRequest } from '@rsynchub/contracts';
import { APP_CONFIG, AppConfig } from '../config/app-config';
import { conflict, FieldConflict, notFound } from '../common/errors';
import { AuthEvents } from './auth-events';
import { AuthService, RequestContext } from './auth.service';
import { AdminEntity } from './entities/admin.entity';
import { toAdminDto } from './mappers';
import { MIN_PASSWORD_LENGTH, PasswordHasher } from './passwords';
import { Principal } from './principal';
import { generatePassword } from './secrets';
import { adminPasswordWeakness } from './password-strength';
import { ValidationFailed } from '../common/errors';

export const FIRST_ADMIN_USERNAME = 'admin';

/** The console banner printed once when the first admin gets a generated password. */
export function generatedPasswordBanner(username: string, password: string): string {
  const line = '='.repeat(78);
  return [
    line,
    `Generated admin password for "${username}": ${password}`,
    '(change it after the first login; it is shown only this once)',
    line,
  ].join('\n');
}

function isUniqueViolation(err: unknown): boolean {
  return /UNIQUE constraint failed/i.test(err instanceof Error ? err.message : String(err));
}

/** Admin accounts: CRUD with the self/last-admin rules, and the first-start account. */
@Injectable()
export class AdminsService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Auth');

  constructor(
    @InjectRepository(AdminEntity) private readonly admins: Repository<AdminEntity>,
    private readonly hasher: PasswordHasher,
    private readonly auth: AuthService,
    private readonly events: AuthEvents,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly writes: DbWriteQueue,
  ) {}

  /** Runs after the DataSource ran the migrations: creates `admin` when there is no account at all. */
  async onApplicationBootstrap(): Promise<void> {
    if ((await this.admins.count()) > 0) return;
    const configured = this.config.adminPassword;
    const password = configured ?? generatePassword();
    // The operator's own RSYNCHUB_ADMIN_PASSWORD is kept without a forced change when it is strong (they chose it and
    // may script with it); a weak one is accepted (refusing to start helps nobody) but must be changed at first login.
    const weakness = configured === undefined ? null : configured.length < MIN_PASSWORD_LENGTH ? `is shorter than ${MIN_PASSWORD_LENGTH} characters` : adminPasswordWeakness(configured, [FIRST_ADMIN_USERNAME]);
    const weak = weakness !== null;
    const now = new Date();
    const passwordHash = await this.hasher.hash(password);
    const admin = await this.writes.run((em) => em.getRepository(AdminEntity).save(
      this.admins.create({
        username: FIRST_ADMIN_USERNAME,
        passwordHash,
        role: 'admin',
        mustChangePassword: configured === undefined || weak,
        createdAt: now,
        updatedAt: now,
        lastLoginAt: null,
      }),
      { transaction: false },
    ));
    if (configured === undefined) {
      // stdout on purpose (not the Nest logger, which may be silenced): the operator needs this line exactly once.
      process.stdout.write(`\n${generatedPasswordBanner(admin.username, password)}\n\n`);
    } else if (weak) {
      this.logger.warn(`RSYNCHUB_ADMIN_PASSWORD ${weakness}; "${admin.username}" must change it at first login`);
    } else {
      this.logger.log(`Created admin account "${admin.username}" with the password from RSYNCHUB_ADMIN_PASSWORD`);
    }
    this.events.emit({ type: 'admin.created', actor: null, target: { kind: 'admin', id: admin.id, name: admin.username }, ip: null, after: { role: admin.role } });
  }

  async list(): Promise<AdminDto[]> {
    return (await this.admins.find({ order: { id: 'ASC' } })).map(toAdminDto);
  }

  /** Whether an account has this username (for the audit log: an attempted name is kept only if it is one). */
  async usernameExists(username: string): Promise<boolean> {
    return username.length <= 64 && (await this.admins.exist({ where: { username } }));
  }

  async get(id: number): Promise<AdminDto> {
    return toAdminDto(await this.find(id));
  }

  /** Accounts created by another admin start with must_change_password set: the creator knows the password. */
  async create(actor: Principal, body: CreateAdminRequest, ctx: RequestContext): Promise<AdminDto> {
    if (await this.admins.exist({ where: { username: body.username } })) throw this.duplicate(body.username);
    this.assertStrong(body.password, body.username);
    const now = new Date();
    let admin: AdminEntity;
    const passwordHash = await this.hasher.hash(body.password);
    try {
      admin = await this.writes.run((em) => em.getRepository(AdminEntity).save(
        this.admins.create({
          username: body.username,
          passwordHash,
          role: body.role,
          mustChangePassword: true,
          createdAt: now,
          updatedAt: now,
          lastLoginAt: null,
        }),
        { transaction: false },
      ));
    } catch (err) {
      if (isUniqueViolation(err)) throw this.duplicate(body.username);
      throw err;
    }
    this.events.emit({
      type: 'admin.created',
      actor: { adminId: actor.adminId, username: actor.username, via: actor.via },
      target: { kind: 'admin', id: admin.id, name: admin.username },
      ip: ctx.ip,
      after: { role: admin.role },
    });
    return toAdminDto(admin);
  }

  /** Password or role changes revoke the account's sessions and tokens. */
  async update(actor: Principal, id: number, body: UpdateAdminRequest, ctx: RequestContext): Promise<AdminDto> {
    if (id === actor.adminId && body.password !== undefined) {
      throw conflict('use POST /api/v1/auth/password to change your own password (it asks for the current one)');
    }
    if (body.password !== undefined) this.assertStrong(body.password, (await this.admins.findOne({ where: { id } }))?.username);
    const passwordHash = body.password !== undefined ? await this.hasher.hash(body.password) : undefined;
    const { before, after } = await this.writes.transaction(async (m) => {
      const repo = m.getRepository(AdminEntity);
      const admin = await repo.findOne({ where: { id } });
      if (!admin) throw notFound('admin', String(id));
      const roleChanges = body.role !== undefined && body.role !== admin.role;
      if (roleChanges && body.role !== 'admin') {
        if (admin.id === actor.adminId) throw conflict('you cannot demote yourself');
        await this.assertNotLastAdmin(repo, admin, 'demote');
      }
      const before = { ...admin };
      if (roleChanges) admin.role = body.role as AdminRole;
      if (passwordHash !== undefined) {
        admin.passwordHash = passwordHash;
        admin.mustChangePassword = true;
      }
      if (roleChanges || passwordHash !== undefined) admin.updatedAt = new Date();
      await repo.save(admin);
      return { before, after: admin };
    });
    const roleChanged = before.role !== after.role;
    const passwordChanged = passwordHash !== undefined;
    if (roleChanged || passwordChanged) {
      await this.auth.revokeSessions(id);
      await this.auth.revokeTokens(id);
      this.events.emit({
        type: 'admin.updated',
        actor: { adminId: actor.adminId, username: actor.username, via: actor.via },
        target: { kind: 'admin', id, name: after.username },
        ip: ctx.ip,
        before: { role: before.role, mustChangePassword: before.mustChangePassword },
        after: { role: after.role, mustChangePassword: after.mustChangePassword, passwordChanged },
      });
    }
    return toAdminDto(after);
  }

  /**
   * Another admin's password reset to a temporary one: given, or generated (and then returned once). The account
   * must change it at its next login; its sessions and tokens are revoked; audited as `admin.password.reset`.
   */
  async resetPassword(actor: Principal, id: number, password: string | undefined, ctx: RequestContext): Promise<{ admin: AdminDto; temporaryPassword?: string }> {
    if (id === actor.adminId) {
      throw conflict('you cannot reset your own password here; change it on your account page (POST /api/v1/auth/password asks for the current one)');
    }
    await this.find(id);
    const temporary = password ?? generatePassword();
    const admin = await this.update(actor, id, { password: temporary }, ctx);
    return password === undefined ? { admin, temporaryPassword: temporary } : { admin };
  }

  /** Deleting cascades to the account's sessions and tokens (foreign keys ON DELETE CASCADE). */
  async remove(actor: Principal, id: number, ctx: RequestContext): Promise<void> {
    const deleted = await this.writes.transaction(async (m) => {
      const repo = m.getRepository(AdminEntity);
      const admin = await repo.findOne({ where: { id } });
      if (!admin) throw notFound('admin', String(id));
      if (admin.id === actor.adminId) throw conflict('you cannot delete your own account');
      await this.assertNotLastAdmin(repo, admin, 'delete');
      await repo.delete({ id });
      return admin;
    });
    // Belt and braces should foreign keys ever be off: the credentials must not outlive the account.
    await this.auth.revokeSessions(id);
    await this.auth.revokeTokens(id);
    this.events.emit({
      type: 'admin.deleted',
      actor: { adminId: actor.adminId, username: actor.username, via: actor.via },
      target: { kind: 'admin', id, name: deleted.username },
      ip: ctx.ip,
      before: { role: deleted.role },
    });
  }

  /** Temporary passwords set by another admin are still checked: they guard the account until it is changed. */
  private assertStrong(password: string, username: string | undefined): void {
    const weakness = adminPasswordWeakness(password, username ? [username] : []);
    if (weakness) throw new ValidationFailed([{ field: 'password', message: weakness }]);
  }

  private async find(id: number): Promise<AdminEntity> {
    const admin = await this.admins.findOne({ where: { id } });
    if (!admin) throw notFound('admin', String(id));
    return admin;
  }

  private async assertNotLastAdmin(repo: Repository<AdminEntity>, admin: AdminEntity, what: 'delete' | 'demote'): Promise<void> {
    if (admin.role !== 'admin') return;
    if ((await repo.count({ where: { role: 'admin' } })) <= 1) {
      throw conflict(`cannot ${what} "${admin.username}": it is the last account with the admin role`);
    }
  }

  private duplicate(username: string): ConflictException {
    return new FieldConflict('username', 'is already taken by another account (names are case-insensitive)', `an admin named "${username}" already exists (names are case-insensitive)`);
  }
}
