import { Module } from '@nestjs/common';
import { SecretBox } from './secret-box';

/**
 * The one SecretBox of the process (rsync passwords, alert channel secrets): modules that seal secrets import this
 * instead of listing SecretBox as their own provider, so the key file is read once and there is one key in memory.
 */
@Module({
  providers: [SecretBox],
  exports: [SecretBox],
})
export class SecretBoxModule {}
