import { Body, Controller, Delete, Get, Param, Patch, Post, Query } from '@nestjs/common';
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
  async create(@Body() body: CreateModuleBody): Promise<ModuleDto> {
    return (await this.modules.create(body)).after!;
  }

  @Patch(':name')
  async update(@Param('name') name: string, @Body() body: UpdateModuleBody): Promise<ModuleDto> {
    return (await this.modules.update(name, body)).after!;
  }

  @Delete(':name')
  @ApiQuery({ name: 'purge', required: false, description: 'true also deletes the module directory and its data' })
  async remove(@Param('name') name: string, @Query('purge') purge?: string): Promise<DeleteModuleResponse> {
    const { before, purged } = await this.modules.remove(name, purge === 'true');
    return { name: before!.name, purged };
  }
}
