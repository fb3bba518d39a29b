export * from '@rsynchub/testing';
