import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiQuery, ApiTags } from '@nestjs/swagger';
import type { RsyncUserDto, RsyncUserWithSecretResponse } from '@rsynchub/contracts';
import { CreateRsyncUserBody, UpdateRsyncUserBody } from './rsync-users.dto';
import { RsyncUsersService } from './rsync-users.service';

@ApiTags('rsync-users')
@Controller('rsync-users')
export class RsyncUsersController {
  constructor(private readonly users: RsyncUsersService) {}

  @Get()
  list(): Promise<RsyncUserDto[]> {
    return this.users.list();
  }

  @Get(':name')
  get(@Param('name') name: string): Promise<RsyncUserDto> {
    return this.users.get(name);
  }

  @Post()
  async create(@Body() body: CreateRsyncUserBody): Promise<RsyncUserWithSecretResponse> {
    const { user, generatedPassword } = await this.users.create(body);
    return generatedPassword ? { user, generatedPassword } : { user };
  }

  @Patch(':name')
  async update(@Param('name') name: string, @Body() body: UpdateRsyncUserBody): Promise<RsyncUserWithSecretResponse> {
    const { user, generatedPassword } = await this.users.update(name, body);
    return generatedPassword ? { user, generatedPassword } : { user };
  }

  @Delete(':name')
  @HttpCode(204)
  @ApiQuery({ name: 'removeGrants', required: false, description: 'also remove the grants of modules that still name this user' })
  async remove(@Param('name') name: string, @Query('removeGrants') removeGrants?: string): Promise<void> {
    await this.users.remove(name, removeGrants === 'true');
  }
}
