import { BadRequestException, Body, Controller, Delete, Get, Param, Patch, Post, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { setAuditChange } from '../audit/audit-change';
import { ApiQuery, ApiTags } from '@nestjs/swagger';
import type { DeleteModuleResponse, ModuleDto, ModulePage } from '@rsynchub/contracts';
import { parseLimit } from '../common/pagination';
import { CreateModuleBody, ModuleListQueryBody, UpdateModuleBody } from './modules.dto';
import { ModulesService } from './modules.service';

@ApiTags('modules')
@Controller('modules')
export class ModulesController {
  constructor(private readonly modules: ModulesService) {}

  /** Without `limit`: every module, as an array (as before). With it: one page and the total (see ModulePage). */
  @Get()
  list(@Query() query: ModuleListQueryBody): Promise<ModuleDto[] | ModulePage> {
    if (query.limit === undefined) {
      if (query.offset !== undefined || query.q !== undefined) throw new BadRequestException('limit: is required with offset or q');
      return this.modules.list();
    }
    const limit = parseLimit(query.limit, 50, 500);
    const offset = query.offset === undefined || query.offset === '' ? 0 : Number(query.offset);
    if (!Number.isSafeInteger(offset) || offset < 0 || !/^\d+$/.test(query.offset ?? '0')) throw new BadRequestException('offset: must be an integer of 0 or more');
    return this.modules.page(limit, offset, query.q ?? '');
  }

  @Get(':name')
  get(@Param('name') name: string): Promise<ModuleDto> {
    return this.modules.get(name);
  }

  @Post()
  async create(@Body() body: CreateModuleBody, @Req() req: Request): Promise<ModuleDto> {
    const change = await this.modules.create(body);
    setAuditChange(req, change);
    return change.after!;
  }

  @Patch(':name')
  async update(@Param('name') name: string, @Body() body: UpdateModuleBody, @Req() req: Request): Promise<ModuleDto> {
    const change = await this.modules.update(name, body);
    setAuditChange(req, change);
    return change.after!;
  }

  @Delete(':name')
  @ApiQuery({ name: 'purge', required: false, description: 'true also deletes the module directory and its data' })
  async remove(@Req() req: Request, @Param('name') name: string, @Query('purge') purge?: string): Promise<DeleteModuleResponse> {
    const { before, purged } = await this.modules.remove(name, purge === 'true');
    setAuditChange(req, { before, after: { purged } });
    return { name: before!.name, purged };
  }
}
