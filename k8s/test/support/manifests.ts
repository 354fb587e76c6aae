// Helpers for the manifest tests: parse a rendered YAML stream, validate every object offline
// against the Kubernetes schemas of the `kubernetes-models` package (types, required fields,
// enums, formats), and reject fields the schemas do not know (kubectl's --validate=strict would)
// by type-checking the objects against the same package's TypeScript declarations, where excess
// property checks catch a misspelt or misplaced field at any depth.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';
import { parseAllDocuments } from 'yaml';

// Minimal shapes of what the tests read; the schema checks below cover the rest.
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

interface Probe {
  grpc?: { port: number; service?: string };
  httpGet?: unknown;
  tcpSocket?: unknown;
  exec?: unknown;
  periodSeconds?: number;
  failureThreshold?: number;
  timeoutSeconds?: number;
  initialDelaySeconds?: number;
}

interface Resources {
  requests?: Record<string, string | number>;
  limits?: Record<string, string | number>;
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  resources?: Resources;
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    runAsUser?: number;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  nodeSelector?: Record<string, string>;
  tolerations?: Array<{ key?: string; operator?: string; value?: string; effect?: string }>;
  affinity?: {
    podAntiAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: Array<{ topologyKey: string; labelSelector?: LabelSelector }>;
    };
  };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    runAsGroup?: number;
    fsGroup?: number;
    seccompProfile?: { type: string };
  };
  initContainers?: Container[];
  containers: Container[];
  volumes?: Array<{ name: string; emptyDir?: { sizeLimit?: string; medium?: string }; [source: string]: unknown }>;
}

export interface Deployment extends K8sObject {
  spec: {
    replicas?: number;
    selector: LabelSelector;
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
}

interface ServicePort {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: string;
}

export interface Service extends K8sObject {
  spec: { clusterIP?: string; type?: string; selector?: Record<string, string>; ports: ServicePort[]; publishNotReadyAddresses?: boolean };
}

interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: unknown;
}

interface NetworkPolicyRule {
  from?: NetworkPolicyPeer[];
  to?: NetworkPolicyPeer[];
  ports?: Array<{ port?: number | string; protocol?: string }>;
}

export interface NetworkPolicy extends K8sObject {
  spec: { podSelector: LabelSelector; policyTypes?: string[]; ingress?: NetworkPolicyRule[]; egress?: NetworkPolicyRule[] };
}

export interface HorizontalPodAutoscaler extends K8sObject {
  spec: {
    scaleTargetRef: { apiVersion: string; kind: string; name: string };
    minReplicas?: number;
    maxReplicas: number;
    metrics?: Array<{ type: string; resource?: { name: string; target: { type: string; averageUtilization?: number } } }>;
  };
}

export interface PodDisruptionBudget extends K8sObject {
  spec: { selector: LabelSelector; minAvailable?: number | string; maxUnavailable?: number | string };
}

export interface ConfigMap extends K8sObject {
  data?: Record<string, string>;
}

export function parseStream(yamlText: string): K8sObject[] {
  const docs = parseAllDocuments(yamlText);
  const objects: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`YAML error: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

/** "apps/v1" + "Deployment" -> the kubernetes-models module path and interface name. */
function modelOf(obj: K8sObject): { module: string; iface: string } {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : [undefined, obj.apiVersion];
  const dir = group === undefined ? version : `${group}/${version}`;
  return { module: `kubernetes-models/${dir}/${obj.kind}`, iface: `I${obj.kind}` };
}

/** Schema errors of one object ([] when valid), from kubernetes-models' validators. */
export function schemaErrors(obj: K8sObject): string[] {
  const { module } = modelOf(obj);
  let Model: new (data: unknown) => { validate(): void };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    Model = (require(module) as Record<string, new (data: unknown) => { validate(): void }>)[obj.kind];
  } catch {
    return [`no schema for ${obj.apiVersion} ${obj.kind}`];
  }
  if (typeof Model !== 'function') return [`no schema for ${obj.apiVersion} ${obj.kind}`];
  try {
    new Model(obj).validate();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

/**
 * Type-checks every object against its kubernetes-models declaration in one TypeScript program;
 * returns the diagnostics per object ("Kind/name: message"), [] when all are exact.
 */
export function strictFieldErrors(objects: readonly K8sObject[]): string[] {
  // The virtual file must live where `kubernetes-models` resolves (this repository's node_modules).
  const dir = path.resolve(__dirname, '..', '..');
  const fileName = path.join(dir, `__k8s_strict_${process.pid}.ts`);
  const lines: string[] = [];
  const owners: Array<{ line: number; label: string }> = [];
  objects.forEach((obj, i) => {
    const { module, iface } = modelOf(obj);
    lines.push(`import type { ${iface} as T${i} } from ${JSON.stringify(module)};`);
  });
  objects.forEach((obj, i) => {
    owners.push({ line: lines.length, label: `${obj.kind}/${obj.metadata?.name}` });
    lines.push(`export const o${i}: T${i} = ${JSON.stringify(obj, null, 1).replace(/\n/g, ' ')};`);
  });
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) =>
    path.resolve(name) === fileName ? ts.createSourceFile(name, source, languageVersion, true) : getSourceFile(name, languageVersion, onError, shouldCreate);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === fileName || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (path.resolve(name) === fileName ? source : readFile(name));
  const program = ts.createProgram([fileName], options, host);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  return diagnostics.map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return message;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const owner = [...owners].reverse().find((o) => o.line <= line);
    return `${owner?.label ?? path.basename(d.file.fileName)}: ${message}`;
  });
}

export function byKind<T extends K8sObject>(objects: readonly K8sObject[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as T[];
}

export function find<T extends K8sObject>(objects: readonly K8sObject[], kind: string, name: string): T {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0] as T;
}

/** True when `selector` (matchLabels + matchExpressions) selects an object with `labels`. */
export function selects(selector: LabelSelector | Record<string, string> | undefined, labels: Record<string, string> = {}): boolean {
  if (!selector) return false;
  const sel: LabelSelector = 'matchLabels' in selector || 'matchExpressions' in selector ? (selector as LabelSelector) : { matchLabels: selector as Record<string, string> };
  const matchLabels = sel.matchLabels ?? {};
  const expressions = sel.matchExpressions ?? [];
  if (Object.keys(matchLabels).length === 0 && expressions.length === 0) return true;
  for (const [k, v] of Object.entries(matchLabels)) if (labels[k] !== v) return false;
  for (const e of expressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const value = labels[e.key];
    if (e.operator === 'In' && !(has && (e.values ?? []).includes(value!))) return false;
    if (e.operator === 'NotIn' && has && (e.values ?? []).includes(value!)) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** Kubernetes quantity -> number (cores for CPU, bytes for memory). */
export function quantity(value: string | number | undefined): number {
  if (value === undefined) return NaN;
  if (typeof value === 'number') return value;
  const m = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(value);
  if (!m) return NaN;
  const n = Number(m[1]);
  const unit = m[2] ?? '';
  const factor: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  return n * factor[unit]!;
}

/** The environment a container starts with, from its envFrom ConfigMaps and env (literal values). */
export function containerEnv(container: Container, objects: readonly K8sObject[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (!source.configMapRef) throw new Error(`${container.name}: only configMapRef envFrom is expected`);
    Object.assign(env, find<ConfigMap>(objects, 'ConfigMap', source.configMapRef.name).data ?? {});
  }
  for (const e of container.env ?? []) {
    if (e.value === undefined) throw new Error(`${container.name}: env ${e.name} has no literal value`);
    env[e.name] = e.value;
  }
  return env;
}

/** Seconds a preStop hook holds the container before SIGTERM (exec sleep N or the sleep action). */
export function preStopSeconds(container: Container): number {
  const preStop = container.lifecycle?.preStop;
  if (preStop?.sleep) return preStop.sleep.seconds;
  const command = preStop?.exec?.command ?? [];
  if (command.length === 2 && command[0] === 'sleep') return Number(command[1]);
  return 0;
}

/** Renders a throw-away kustomization (files: name -> content) that may refer to the k8s folder as `k8s/`. */
export function withTempKustomization<T>(files: Record<string, string>, k8sDir: string, fn: (dir: string) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-ssd-k8s-'));
  try {
    fs.symlinkSync(k8sDir, path.join(dir, 'k8s'), 'dir');
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
    return fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
