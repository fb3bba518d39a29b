import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Scoped API tokens (admin / read / source, a source token optionally bound to one source name) and the host name
 * connect snippets use (`public_host`, empty = the server's first non-loopback address). Existing tokens keep
 * today's behaviour: scope `admin`.
 */
export class TokenScopesAndPublicHost1764100500000 implements MigrationInterface {
  name = 'TokenScopesAndPublicHost1764100500000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'admin' CHECK (scope IN ('admin','read','source'))`);
    await q.query(`ALTER TABLE api_tokens ADD COLUMN source_name TEXT NULL`);
    await q.query(`ALTER TABLE daemon_settings ADD COLUMN public_host TEXT NOT NULL DEFAULT ''`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE daemon_settings DROP COLUMN public_host`);
    await q.query(`ALTER TABLE api_tokens DROP COLUMN source_name`);
    await q.query(`ALTER TABLE api_tokens DROP COLUMN scope`);
  }
}
