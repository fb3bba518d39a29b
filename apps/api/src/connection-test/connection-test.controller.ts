import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { TestConnectionResult } from '@rsynchub/contracts';
import { ConnectionTestService } from './connection-test.service';
import { TestConnectionBody } from './connection-test.dto';

@ApiTags('modules')
@Controller('modules')
export class ConnectionTestController {
  constructor(private readonly tests: ConnectionTestService) {}

  /** Admins only: it logs in with a user's stored password (which never leaves the server). */
  @Post(':name/test-connection')
  @HttpCode(200)
  @ApiOkResponse({ description: 'ok, or problem: auth_failed | unknown_module | host_denied | connection_refused | daemon_not_running | timeout | other' })
  test(@Param('name') name: string, @Body() body: TestConnectionBody): Promise<TestConnectionResult> {
    return this.tests.test(name, body);
  }
}
