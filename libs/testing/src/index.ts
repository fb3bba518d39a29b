export * from './server';
export * from './rsync';
export * from './live';
