import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom } from 'rxjs';
import {
  API_PREFIX,
  type AdminDto,
  type ApiTokenDto,
  type AuditEntryDto,
  type AuditQuery,
  type ChangePasswordRequest,
  type CreateAdminRequest,
  type CreateApiTokenRequest,
  type CreateApiTokenResponse,
  type CreateModuleRequest,
  type CreateRsyncUserRequest,
  type DaemonConfigDto,
  type BanDto,
  type BanListDto,
  type DaemonSettingsViewDto,
  type DaemonStatusDto,
  type DeleteModuleResponse,
  type FileEventDto,
  type FileEventQuery,
  type ImportRequest,
  type ImportResponse,
  type LoginResponse,
  type MeResponse,
  type ModuleDto,
  type Page,
  type RsyncUserDto,
  type RsyncUserWithSecretResponse,
  type SourceDto,
  type StatsDto,
  type TransferQuery,
  type TransferSessionDto,
  type UpdateAdminRequest,
  type UpdateDaemonSettingsRequest,
  type UpdateModuleRequest,
  type UpdateRsyncUserRequest, type ModuleActivityDto
} from '@rsynchub/contracts';
import type { ModulePage } from '@rsynchub/contracts';
import type { TestConnectionRequest, TestConnectionResult } from '@rsynchub/contracts';
import { toApiError } from './api-error';
import { queryString } from './format';

type Query = Record<string, string | number | null | undefined>;

/** Typed REST client for `/api/v1`. Every method rejects with an ApiError (see api-error.ts), never a raw HTTP error. */
@Injectable({ providedIn: 'root' })
export class ApiService {
  private readonly http = inject(HttpClient);

  url(path: string, query: Query = {}): string {
    return `${API_PREFIX}/${path}${queryString(query)}`;
  }

  private async call<T>(method: string, path: string, body?: unknown, query: Query = {}): Promise<T> {
    try {
      return await firstValueFrom(this.http.request<T>(method, this.url(path, query), { body, withCredentials: true }));
    } catch (err) {
      throw toApiError(err);
    }
  }

  // auth
  login(username: string, password: string) {
    return this.call<LoginResponse>('POST', 'auth/login', { username, password });
  }
  logout() {
    return this.call<void>('POST', 'auth/logout', {});
  }
  me() {
    return this.call<MeResponse>('GET', 'auth/me');
  }
  changePassword(body: ChangePasswordRequest) {
    return this.call<void>('POST', 'auth/password', body);
  }

  // admins & tokens
  admins() {
    return this.call<AdminDto[]>('GET', 'admins');
  }
  createAdmin(body: CreateAdminRequest) {
    return this.call<AdminDto>('POST', 'admins', body);
  }
  updateAdmin(id: number, body: UpdateAdminRequest) {
    return this.call<AdminDto>('PATCH', `admins/${id}`, body);
  }
  deleteAdmin(id: number) {
    return this.call<void>('DELETE', `admins/${id}`);
  }
  tokens() {
    return this.call<ApiTokenDto[]>('GET', 'tokens');
  }
  createToken(body: CreateApiTokenRequest) {
    return this.call<CreateApiTokenResponse>('POST', 'tokens', body);
  }
  revokeToken(id: number) {
    return this.call<void>('DELETE', `tokens/${id}`);
  }

  // rsync users
  rsyncUsers() {
    return this.call<RsyncUserDto[]>('GET', 'rsync-users');
  }
  createRsyncUser(body: CreateRsyncUserRequest) {
    return this.call<RsyncUserWithSecretResponse>('POST', 'rsync-users', body);
  }
  updateRsyncUser(name: string, body: UpdateRsyncUserRequest) {
    return this.call<RsyncUserWithSecretResponse>('PATCH', `rsync-users/${encodeURIComponent(name)}`, body);
  }
  deleteRsyncUser(name: string, removeGrants = false) {
    return this.call<void>('DELETE', `rsync-users/${encodeURIComponent(name)}`, undefined, removeGrants ? { removeGrants: 'true' } : {});
  }

  // modules
  modules() {
    return this.call<ModuleDto[]>('GET', 'modules');
  }
  /** One page of modules by name; `q` keeps names starting with it (case-insensitive). */
  modulePage(limit: number, offset: number, q: string) {
    return this.call<ModulePage>('GET', 'modules', undefined, { limit, offset, q: q || undefined });
  }
  module(name: string) {
    return this.call<ModuleDto>('GET', `modules/${encodeURIComponent(name)}`);
  }
  createModule(body: CreateModuleRequest) {
    return this.call<ModuleDto>('POST', 'modules', body);
  }
  updateModule(name: string, body: UpdateModuleRequest) {
    return this.call<ModuleDto>('PATCH', `modules/${encodeURIComponent(name)}`, body);
  }
  deleteModule(name: string, purge: boolean) {
    return this.call<DeleteModuleResponse>('DELETE', `modules/${encodeURIComponent(name)}`, undefined, purge ? { purge: 'true' } : {});
  }

  // daemon
  daemon() {
    return this.call<DaemonStatusDto>('GET', 'daemon');
  }
  daemonAction(action: 'start' | 'stop' | 'restart') {
    return this.call<DaemonStatusDto>('POST', `daemon/${action}`, {});
  }
  daemonSettings() {
    return this.call<DaemonSettingsViewDto>('GET', 'daemon/settings');
  }
  updateDaemonSettings(body: UpdateDaemonSettingsRequest) {
    return this.call<DaemonSettingsViewDto>('PUT', 'daemon/settings', body);
  }
  bans() {
    return this.call<BanListDto>('GET', 'bans');
  }
  liftBan(address: string) {
    return this.call<BanDto>('DELETE', `bans/${encodeURIComponent(address)}`);
  }
  daemonConfig() {
    return this.call<DaemonConfigDto>('GET', 'daemon/config');
  }

  // import of an existing rsyncd.conf
  importConfig(body: ImportRequest) {
    return this.call<ImportResponse>('POST', 'import', body);
  }

  // history & live figures
  transfers(q: TransferQuery = {}) {
    return this.call<Page<TransferSessionDto>>('GET', 'transfers', undefined, q as Query);
  }
  moduleActivity() {
    return this.call<ModuleActivityDto[]>('GET', 'transfers/by-module');
  }
  transfer(id: number) {
    return this.call<TransferSessionDto>('GET', `transfers/${id}`);
  }
  transferFiles(id: number, q: FileEventQuery = {}) {
    return this.call<Page<FileEventDto>>('GET', `transfers/${id}/files`, undefined, q as Query);
  }
  audit(q: AuditQuery = {}) {
    return this.call<Page<AuditEntryDto>>('GET', 'audit', undefined, q as Query);
  }
  stats() {
    return this.call<StatsDto>('GET', 'stats');
  }
  sources(module?: string) {
    return this.call<SourceDto[]>('GET', 'sources', undefined, module ? { module } : {});
  }
  testConnection(module: string, body: TestConnectionRequest) {
    return this.call<TestConnectionResult>('POST', `modules/${encodeURIComponent(module)}/test-connection`, body);
  }
}
