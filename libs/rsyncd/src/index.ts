export * from './defaults';
export * from './validate';
export * from './render';
export * from './parse';
export * from './import';
export * from './verify';
export * from './bans';
