// What every gRPC server of ours carries besides its own service: grpc.health.v1 (Kubernetes'
// native gRPC probes call it) and server reflection (so grpcurl works without the .proto).
import type * as grpc from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';

export interface Health {
  /** Sets the whole server ('') and each named service at once. */
  set(status: ServingStatus): void;
  /** Sets one name: '' (the server as a whole, what liveness asks) or a service (readiness). */
  setOne(service: string, status: ServingStatus): void;
}

export function addOperationalServices(server: grpc.Server, definition: PackageDefinition, services: string[]): Health {
  const names = ['', ...services];
  const health = new HealthImplementation(Object.fromEntries(names.map((name) => [name, 'NOT_SERVING' as ServingStatus])));
  health.addToServer(server);
  new ReflectionService(definition).addToServer(server);
  return { set: (status) => names.forEach((name) => health.setStatus(name, status)), setOne: (name, status) => health.setStatus(name, status) };
}
