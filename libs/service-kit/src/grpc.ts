import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

export function bindServer(server: grpc.Server, address: string, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (error, port) => (error ? reject(error) : resolve(port)));
  });
}

export function shutdownServer(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    timer.unref();
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A gRPC error to hand to a unary callback. */
export function grpcError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}

export function statusName(code: number): string {
  return grpc.status[code] ?? `UNKNOWN_STATUS_${code}`;
}

export const MiB = 1024 * 1024;

/**
 * A unary call as a promise, typed by the generated client:
 * `unary((done) => client.Detect(request, metadata, { deadline }, done))`. Aborting `signal`
 * cancels the call (it then rejects with CANCELLED).
 */
export function unary<Res>(start: (callback: grpc.requestCallback<Res>) => grpc.ClientUnaryCall, signal?: AbortSignal): Promise<Res> {
  if (signal?.aborted) return Promise.reject(grpcError(grpc.status.CANCELLED, 'cancelled'));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => call.cancel();
    const call = start((error, response) => {
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(response as Res);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** grpc.health.v1.Health as a client, for probing another server's health. */
export interface HealthClient extends grpc.Client {
  Check(request: { service: string }, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<{ status: string }>): grpc.ClientUnaryCall;
}

const HealthClientConstructor = grpc.makeClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'Health') as unknown as new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => HealthClient;

export function healthClient(address: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions = {}): HealthClient {
  return new HealthClientConstructor(address, credentials, options);
}

/** A server's (or one of its services', by name) grpc.health.v1 status. */
export async function checkHealth(client: HealthClient, service: string, deadline: number): Promise<string> {
  const reply = await unary<{ status: string }>((done) => client.Check({ service }, new grpc.Metadata(), { deadline }, done));
  return reply.status;
}

/**
 * A service implementation that answers UNAVAILABLE until the real one is set, so a server can
 * listen (and report NOT_SERVING on health) while its model is still loading.
 */
export function createDeferredService(methods: string[], notReady: string): {
  implementation: grpc.UntypedServiceImplementation;
  resolve(target: grpc.UntypedServiceImplementation): void;
} {
  let target: grpc.UntypedServiceImplementation | undefined;
  const implementation = Object.fromEntries(
    methods.map((method) => [
      method,
      (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const real = target?.[method] as grpc.handleUnaryCall<unknown, unknown> | undefined;
        if (real) real(call, callback);
        else callback(grpcError(grpc.status.UNAVAILABLE, notReady));
      },
    ]),
  );
  return { implementation, resolve: (t) => (target = t) };
}

export function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && typeof (error as Partial<grpc.ServiceError>).code === 'number';
}

/** A call's deadline as epoch milliseconds; Infinity when the caller set none. */
export function callDeadline(call: { getDeadline(): grpc.Deadline }): number {
  const deadline = call.getDeadline();
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

/**
 * Answers a unary call with the outcome of `work`: a gRPC error passes through as it is, any
 * other failure is logged and answered INTERNAL (internals never reach the caller). `done`
 * hears the final status code and the response, for metrics.
 */
export function reply<T>(
  work: Promise<T>,
  callback: grpc.sendUnaryData<T>,
  log: { error(msg: string, fields?: Record<string, unknown>): void },
  done: (code: grpc.status, response?: T) => void = () => undefined,
): void {
  work.then(
    (response) => {
      done(grpc.status.OK, response);
      callback(null, response);
    },
    (error: unknown) => {
      const serviceError = isServiceError(error) ? error : grpcError(grpc.status.INTERNAL, 'internal error');
      if (!isServiceError(error)) log.error('call failed', { err: error });
      done(serviceError.code);
      callback(serviceError);
    },
  );
}
