import { HttpClient } from '@angular/common/http';
import { Injectable, inject } from '@angular/core';
import { firstValueFrom } from 'rxjs';
import {
  API_PREFIX,
  type AlertChannelDto,
  type AlertChannelTestResponse,
  type AlertDto,
  type AlertQuery,
  type AlertRuleDto,
  type AlertRuleSettings,
  type CreateAlertChannelRequest,
  type Page,
  type StorageUsageDto,
  type UpdateAlertChannelRequest,
} from '@rsynchub/contracts';
import { toApiError } from '../../core/api-error';
import { queryString } from '../../core/format';

/** REST client of `/api/v1/alerts` (kept with the page that uses it). Rejects with an ApiError. */
@Injectable({ providedIn: 'root' })
export class AlertsApiService {
  private readonly http = inject(HttpClient);

  private async call<T>(method: string, path: string, body?: unknown, query: Record<string, string | number | undefined> = {}): Promise<T> {
    try {
      return await firstValueFrom(this.http.request<T>(method, `${API_PREFIX}/${path}${queryString(query)}`, { body, withCredentials: true }));
    } catch (err) {
      throw toApiError(err);
    }
  }

  alerts(q: AlertQuery = {}) {
    return this.call<Page<AlertDto>>('GET', 'alerts', undefined, q as Record<string, string | number | undefined>);
  }
  acknowledge(id: number) {
    return this.call<AlertDto>('POST', `alerts/${id}/ack`, {});
  }
  rules() {
    return this.call<AlertRuleDto[]>('GET', 'alerts/rules');
  }
  updateRule(id: string, body: AlertRuleSettings) {
    return this.call<AlertRuleDto>('PUT', `alerts/rules/${encodeURIComponent(id)}`, body);
  }
  storage() {
    return this.call<StorageUsageDto>('GET', 'alerts/storage');
  }
  channels() {
    return this.call<AlertChannelDto[]>('GET', 'alerts/channels');
  }
  createChannel(body: CreateAlertChannelRequest) {
    return this.call<AlertChannelDto>('POST', 'alerts/channels', body);
  }
  updateChannel(id: number, body: UpdateAlertChannelRequest) {
    return this.call<AlertChannelDto>('PATCH', `alerts/channels/${id}`, body);
  }
  deleteChannel(id: number) {
    return this.call<void>('DELETE', `alerts/channels/${id}`);
  }
  testChannel(id: number) {
    return this.call<AlertChannelTestResponse>('POST', `alerts/channels/${id}/test`, {});
  }
}
