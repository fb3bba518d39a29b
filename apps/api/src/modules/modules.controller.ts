import { Body, Controller, Delete, Get, Param, Patch, Post, Query, Req } from '@nestjs/common';
import type { Request } from 'express';
import { setAuditChange } from '../audit/audit-change';
import { ApiQuery, ApiTags } from '@nestjs/swagger';
import type { DeleteModuleResponse, ModuleDto } from '@rsynchub/contracts';
import { CreateModuleBody, UpdateModuleBody } from './modules.dto';
import { ModulesService } from './modules.service';

@ApiTags('modules')
@Controller('modules')
export class ModulesController {
  constructor(private readonly modules: ModulesService) {}

  @Get()
  list(): Promise<ModuleDto[]> {
    return this.modules.list();
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
