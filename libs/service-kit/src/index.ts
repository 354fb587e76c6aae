export * from './log';
export * from './env';
export * from './cpu';
export * from './grpc';
export * from './signals';
export * from './metrics';
export * from './ops';
