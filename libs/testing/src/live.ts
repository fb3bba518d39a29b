import WebSocket from 'ws';
import type { LiveMessage } from '@rsynchub/contracts';

/** A WebSocket client of `/api/v1/events` that records every message. */
export class LiveClient {
  readonly messages: LiveMessage<any>[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => this.messages.push(JSON.parse(raw.toString())));
  }

  static connect(baseUrl: string, headers: Record<string, string>): Promise<LiveClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(baseUrl.replace(/^http/, 'ws') + '/api/v1/events', { headers });
      const client = new LiveClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { statusCode: res.statusCode })));
      ws.once('error', reject);
    });
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  close(): void {
    this.ws.close();
  }
}
