export * from './server';
export * from './rsync';
export * from './live';
export * from './slow-reader';
export * from './raw-live-client';
