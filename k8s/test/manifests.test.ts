// Every overlay renders with kustomize, every object validates offline against the Kubernetes
// schemas, and the manifests agree with each other and with the apps' own configuration.
import { loadDetectorConfig } from '@edge-ssd/detector/config';
import { loadGatewayConfig } from '@edge-ssd/gateway/config';
import { findBuiltinModel } from '@edge-ssd/model-zoo';
import { K8S_DIR, findKustomizer, listOverlays, main as renderMain, renderKustomization, renderOverlay } from '../src/render';
import {
  type ConfigMap,
  type Container,
  type Deployment,
  type HorizontalPodAutoscaler,
  type K8sObject,
  type NetworkPolicy,
  type PodDisruptionBudget,
  type Service,
  byKind,
  containerEnv,
  find,
  parseStream,
  preStopSeconds,
  quantity,
  schemaErrors,
  selects,
  strictFieldErrors,
  withTempKustomization,
} from './support/manifests';

const NAMESPACE = 'edge-ssd';
const POOL_KEY = 'edge-ssd.io/pool';

interface OverlayExpectation {
  arch: 'amd64' | 'arm64';
  /** Node pool label and taint (key=value:NoSchedule) the pods must select and tolerate. */
  pool?: { value: string };
  /** CPUs the detector pins itself to (DETECTOR_CPU_AFFINITY), and the board it runs on. */
  board?: { cpus: number; memoryBytes: number; bigCores: string };
  /** Longest model load + warm-up the startup probe must allow, in seconds. */
  startupSeconds: number;
}

const EXPECTED: Record<string, OverlayExpectation> = {
  amd64: { arch: 'amd64', startupSeconds: 120 },
  'arm64-rk3399': { arch: 'arm64', pool: { value: 'rk3399' }, board: { cpus: 6, memoryBytes: 4 * 2 ** 30, bigCores: '4,5' }, startupSeconds: 600 },
};

const APPS = {
  gateway: { service: 'ssd.v1.Gateway', headless: false },
  detector: { service: 'ssd.v1.Detector', headless: true },
} as const;
type App = keyof typeof APPS;

function appContainer(deployment: Deployment): Container {
  const c = deployment.spec.template.spec.containers.find((x) => x.name === deployment.metadata.name);
  if (!c) throw new Error(`Deployment ${deployment.metadata.name} has no container of that name`);
  return c;
}

function portNamed(container: Container, name: string): number {
  const p = container.ports?.find((x) => x.name === name);
  if (!p) throw new Error(`${container.name} has no port named ${name}`);
  return p.containerPort;
}

/** The app's own view of its settings under the container's environment. */
function appConfig(app: App, env: Record<string, string>, cpus?: number) {
  if (app === 'gateway') {
    const c = loadGatewayConfig(env);
    return { port: c.port, metricsPort: c.metricsPort, httpPort: c.httpPort, shutdownGraceMs: c.shutdownGraceMs, tls: c.tlsCert !== undefined };
  }
  const c = loadDetectorConfig(env, { cpus: cpus ?? 2 });
  return { port: c.port, metricsPort: c.metricsPort, httpPort: undefined, shutdownGraceMs: c.shutdownGraceMs, tls: c.tlsCert !== undefined };
}

const rendered = new Map<string, K8sObject[]>();
function objectsOf(overlay: string): K8sObject[] {
  let objects = rendered.get(overlay);
  if (!objects) {
    objects = parseStream(renderOverlay(overlay));
    rendered.set(overlay, objects);
  }
  return objects;
}

describe('kustomize', () => {
  it('is available in a version that builds these manifests (v4+)', () => {
    const k = findKustomizer();
    expect(Number(/^v(\d+)/.exec(k.version)?.[1])).toBeGreaterThanOrEqual(4);
  });

  it('finds exactly the overlays this test knows', () => {
    expect(listOverlays()).toEqual(Object.keys(EXPECTED).sort());
  });

  it('k8s:render prints an overlay and rejects unknown ones', () => {
    const out: string[] = [];
    const err: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true));
    const error = jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void err.push(args.join(' ')));
    try {
      expect(renderMain(['amd64'])).toBe(0);
      expect(renderMain(['no-such-overlay'])).toBe(1);
      expect(renderMain([])).toBe(2);
    } finally {
      write.mockRestore();
      error.mockRestore();
    }
    expect(parseStream(out.join('')).some((o) => o.kind === 'Deployment')).toBe(true);
    expect(err.join('\n')).toMatch(/unknown overlay 'no-such-overlay'/);
    expect(err.join('\n')).toMatch(/overlays: amd64, arm64-rk3399/);
  });
});

describe.each(Object.keys(EXPECTED))('overlay %s', (overlay) => {
  const expected = EXPECTED[overlay]!;
  let objects: K8sObject[];
  beforeAll(() => {
    objects = objectsOf(overlay);
  });
  const deployment = (app: App) => find<Deployment>(objects, 'Deployment', app);

  it('renders the expected set of objects, all in the namespace', () => {
    const kinds = objects.map((o) => o.kind).sort();
    expect(kinds).toEqual(
      [
        'ConfigMap', 'ConfigMap', 'Deployment', 'Deployment', 'HorizontalPodAutoscaler', 'HorizontalPodAutoscaler', 'Namespace',
        'NetworkPolicy', 'NetworkPolicy', 'PodDisruptionBudget', 'PodDisruptionBudget', 'Service', 'Service', 'ServiceAccount', 'ServiceAccount',
      ].sort(),
    );
    expect(find(objects, 'Namespace', NAMESPACE)).toBeDefined();
    for (const o of objects) if (o.kind !== 'Namespace') expect([o.kind, o.metadata.namespace]).toEqual([o.kind, NAMESPACE]);
    for (const o of objects) expect([o.kind, o.metadata.name, o.metadata.labels?.['app.kubernetes.io/part-of']]).toEqual([o.kind, o.metadata.name, 'edge-ssd']);
  });

  it('validates against the Kubernetes schemas', () => {
    const errors = objects.flatMap((o) => schemaErrors(o).map((e) => `${o.kind}/${o.metadata.name}: ${e}`));
    expect(errors).toEqual([]);
  });

  it('has no field the Kubernetes schemas do not know (strict validation)', () => {
    expect(strictFieldErrors(objects)).toEqual([]);
  });

  it('runs on the right architecture and node pool', () => {
    for (const app of Object.keys(APPS) as App[]) {
      const pod = deployment(app).spec.template.spec;
      expect(pod.nodeSelector?.['kubernetes.io/arch']).toBe(expected.arch);
      expect(pod.nodeSelector?.['kubernetes.io/os']).toBe('linux');
      const tolerations = pod.tolerations ?? [];
      if (expected.pool) {
        expect(pod.nodeSelector?.[POOL_KEY]).toBe(expected.pool.value);
        expect(tolerations).toContainEqual({ key: POOL_KEY, operator: 'Equal', value: expected.pool.value, effect: 'NoSchedule' });
      } else {
        expect(pod.nodeSelector?.[POOL_KEY]).toBeUndefined();
        expect(tolerations.filter((t) => t.key === POOL_KEY)).toEqual([]);
      }
      // Nothing tolerates everything.
      expect(tolerations.filter((t) => t.key === undefined || t.operator === 'Exists')).toEqual([]);
    }
  });

  it('probes the gRPC health service on the port each app listens on', () => {
    for (const app of Object.keys(APPS) as App[]) {
      const d = deployment(app);
      const c = appContainer(d);
      const config = appConfig(app, containerEnv(c, objects));
      expect(portNamed(c, 'grpc')).toBe(config.port);
      // Kubernetes' gRPC probes speak plaintext only.
      expect(config.tls).toBe(false);
      expect(portNamed(c, 'metrics')).toBe(config.metricsPort);
      expect(d.spec.template.metadata.annotations?.['prometheus.io/port']).toBe(String(config.metricsPort));
      for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) {
        expect(probe?.grpc?.port).toBe(config.port);
        expect(probe?.httpGet ?? probe?.tcpSocket ?? probe?.exec).toBeUndefined();
      }
      // Readiness and startup ask for the app's own service (SERVING only once it can answer);
      // liveness asks for the server as a whole.
      expect(c.readinessProbe?.grpc?.service).toBe(APPS[app].service);
      expect(c.startupProbe?.grpc?.service ?? '').toMatch(new RegExp(`^(|${APPS[app].service.replace(/\./g, '\\.')})$`));
      expect(c.livenessProbe?.grpc?.service ?? '').toBe('');
      // Liveness must not kill a pod that is draining: its failure window outlasts preStop + drain.
      const liveWindow = (c.livenessProbe!.periodSeconds ?? 10) * (c.livenessProbe!.failureThreshold ?? 3);
      expect(liveWindow).toBeGreaterThanOrEqual(preStopSeconds(c) + config.shutdownGraceMs / 1000);
    }
    const startup = appContainer(deployment('detector')).startupProbe!;
    expect(startup.grpc?.service).toBe('ssd.v1.Detector');
    expect((startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3)).toBeGreaterThanOrEqual(expected.startupSeconds);
  });

  it('exposes the gateway\'s HTTP API on the port its configuration opens, through its Service', () => {
    const c = appContainer(deployment('gateway'));
    const { httpPort } = appConfig('gateway', containerEnv(c, objects));
    expect(httpPort).toBe(8080);
    expect(portNamed(c, 'http')).toBe(httpPort);
    const svc = find<Service>(objects, 'Service', 'gateway');
    expect(svc.spec.ports.find((p) => p.name === 'http')).toMatchObject({ port: httpPort, targetPort: 'http', protocol: 'TCP' });
    // The detector has no HTTP API: nothing of the kind is exposed there.
    expect(appContainer(deployment('detector')).ports!.map((p) => p.name)).not.toContain('http');
  });

  it('gives each pod a grace period matching its preStop delay and drain', () => {
    for (const app of Object.keys(APPS) as App[]) {
      const d = deployment(app);
      const c = appContainer(d);
      const { shutdownGraceMs } = appConfig(app, containerEnv(c, objects));
      const preStop = preStopSeconds(c);
      expect(preStop).toBeGreaterThanOrEqual(3);
      const needed = preStop + shutdownGraceMs / 1000;
      const grace = d.spec.template.spec.terminationGracePeriodSeconds!;
      expect(grace).toBeGreaterThanOrEqual(needed + 5);
      expect(grace).toBeLessThanOrEqual(needed + 15);
    }
  });

  it('sets requests and limits on every container', () => {
    for (const d of byKind<Deployment>(objects, 'Deployment')) {
      const pod = d.spec.template.spec;
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        for (const r of ['cpu', 'memory']) {
          const request = quantity(c.resources?.requests?.[r]);
          const limit = quantity(c.resources?.limits?.[r]);
          expect([c.name, r, request > 0, limit > 0]).toEqual([c.name, r, true, true]);
          expect(request).toBeLessThanOrEqual(limit);
        }
      }
    }
  });

  it('sizes the detector\'s runs to its CPU limit: runs at once x threads fill the quota, never more', () => {
    const c = appContainer(deployment('detector'));
    const cpuLimit = quantity(c.resources!.limits!.cpu);
    const config = loadDetectorConfig(containerEnv(c, objects), { cpus: cpuLimit, memoryBytes: quantity(c.resources!.limits!.memory) });
    expect(config.concurrentRuns * config.intraOpThreads).toBeLessThanOrEqual(cpuLimit);
    expect(config.concurrentRuns * config.intraOpThreads).toBeGreaterThanOrEqual(Math.floor(cpuLimit));
  });

  if (expected.board) {
    const board = expected.board;
    it('fits a 6-core, 4 GB board: one detector per board, one worker, two ORT threads pinned to the big cores', () => {
      const d = deployment('detector');
      const c = appContainer(d);
      const env = containerEnv(c, objects);
      const config = loadDetectorConfig(env, { cpus: quantity(c.resources!.limits!.cpu), memoryBytes: quantity(c.resources!.limits!.memory) });
      expect(config.poolSize).toBe(1);
      expect(config.intraOpThreads).toBe(2);
      expect(env.DETECTOR_CPU_AFFINITY).toBe(board.bigCores);
      expect(quantity(c.resources!.limits!.cpu)).toBe(board.bigCores.split(',').length);
      // Burstable, not Guaranteed: the static CPU manager would otherwise choose the cpuset.
      expect(quantity(c.resources!.requests!.memory)).toBeLessThan(quantity(c.resources!.limits!.memory));
      const anti = d.spec.template.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
      expect(anti.some((t) => t.topologyKey === 'kubernetes.io/hostname' && selects(t.labelSelector, d.spec.template.metadata.labels))).toBe(true);
      // Detector + gateway (+ the larger of the detector's init containers) within half the board.
      const pods = [d, deployment('gateway')].map((x) => x.spec.template.spec);
      const sum = (r: 'cpu' | 'memory') =>
        pods.reduce((acc, pod) => {
          const main = pod.containers.reduce((s, x) => s + quantity(x.resources!.limits![r]), 0);
          const init = Math.max(0, ...(pod.initContainers ?? []).map((x) => quantity(x.resources!.limits![r])));
          return acc + Math.max(main, init);
        }, 0);
      expect(sum('memory')).toBeLessThanOrEqual(board.memoryBytes / 2);
      expect(sum('cpu')).toBeLessThanOrEqual(board.cpus);
    });
  }

  it('runs non-root, read-only, without capabilities, with RuntimeDefault seccomp and no API token', () => {
    for (const d of byKind<Deployment>(objects, 'Deployment')) {
      const pod = d.spec.template.spec;
      expect(pod.securityContext?.runAsNonRoot).toBe(true);
      expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
      expect(pod.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(pod.hostNetwork ?? pod.hostPID ?? pod.hostIPC).toBeUndefined();
      const sa = find<K8sObject & { automountServiceAccountToken?: boolean }>(objects, 'ServiceAccount', pod.serviceAccountName!);
      expect(sa.automountServiceAccountToken).toBe(false);
      for (const v of pod.volumes ?? []) expect(Object.keys(v).filter((k) => k !== 'name')).toEqual(['emptyDir']);
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        const sc = c.securityContext;
        expect([c.name, sc?.allowPrivilegeEscalation, sc?.readOnlyRootFilesystem, sc?.privileged, sc?.capabilities?.drop, sc?.capabilities?.add]).toEqual([
          c.name, false, true, undefined, ['ALL'], undefined,
        ]);
        expect(sc?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot).toBe(true);
      }
    }
  });

  it('makes the pinned face model in an init container, into a volume the detector mounts read-only', () => {
    const pod = deployment('detector').spec.template.spec;
    const c = appContainer(deployment('detector'));
    const modelPath = containerEnv(c, objects).MODEL_PATH!;
    const mount = c.volumeMounts!.find((m) => modelPath.startsWith(`${m.mountPath}/`))!;
    expect(mount.readOnly).toBe(true);
    expect(pod.volumes!.find((v) => v.name === mount.name)?.emptyDir).toBeDefined();
    const [init, ...others] = pod.initContainers ?? [];
    expect(others).toEqual([]);
    // The models image of the same release (the detector image holds no converter); its
    // entrypoint is the `model` command.
    expect(init!.image).toBe(c.image.replace('/detector:', '/models:'));
    expect(init!.command).toBeUndefined();
    const [command, name, dirFlag, dir] = init!.args!;
    expect([command, dirFlag]).toEqual(['prepare', '--dir']);
    expect(name).toBe('faceapi-ssd-mobilenetv1');
    expect(findBuiltinModel(name!)).toBeDefined();
    expect(dir).toBe(mount.mountPath);
    expect(modelPath).toBe(`${mount.mountPath}/${findBuiltinModel(name!)!.file}`);
    expect(init!.volumeMounts!.find((m) => m.name === mount.name)).toEqual({ name: mount.name, mountPath: mount.mountPath });
  });

  it('keeps labels, selectors and ports consistent across Deployments, Services, PDBs, HPAs and NetworkPolicies', () => {
    const deployments = byKind<Deployment>(objects, 'Deployment');
    for (const app of Object.keys(APPS) as App[]) {
      const d = deployment(app);
      const labels = d.spec.template.metadata.labels;
      expect(labels['app.kubernetes.io/name']).toBe(app);
      expect(selects(d.spec.selector, labels)).toBe(true);
      expect(d.spec.replicas).toBeUndefined(); // the HPA owns the replica count
      const others = deployments.filter((x) => x !== d).map((x) => x.spec.template.metadata.labels);
      const selectsOnlyThis = (selector: Parameters<typeof selects>[0]) => selects(selector, labels) && others.every((l) => !selects(selector, l));
      const c = appContainer(d);

      const svc = find<Service>(objects, 'Service', app);
      expect(selectsOnlyThis(svc.spec.selector)).toBe(true);
      expect(svc.spec.clusterIP === 'None').toBe(APPS[app].headless);
      for (const p of svc.spec.ports) {
        const target = typeof p.targetPort === 'string' ? portNamed(c, p.targetPort) : (p.targetPort ?? p.port);
        expect([p.name, target]).toEqual([p.name, p.port]);
      }
      expect(svc.spec.ports.map((p) => p.port).sort()).toEqual(c.ports!.map((p) => p.containerPort).sort());

      const pdb = find<PodDisruptionBudget>(objects, 'PodDisruptionBudget', app);
      expect(selectsOnlyThis(pdb.spec.selector)).toBe(true);
      const hpa = find<HorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler', app);
      expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: app });
      expect(hpa.spec.metrics?.map((m) => m.resource?.name)).toEqual(['cpu']);
      // A voluntary disruption always leaves a pod serving.
      expect(hpa.spec.minReplicas! - Number(pdb.spec.maxUnavailable)).toBeGreaterThanOrEqual(1);

      const sa = find(objects, 'ServiceAccount', d.spec.template.spec.serviceAccountName!);
      expect(sa.metadata.labels?.['app.kubernetes.io/name']).toBe(app);
      for (const ref of c.envFrom ?? []) expect(find<ConfigMap>(objects, 'ConfigMap', ref.configMapRef!.name).metadata.labels?.['app.kubernetes.io/name']).toBe(app);
    }

    // The gateway finds detectors through the headless Service, by its cluster DNS name.
    const gw = appContainer(deployment('gateway'));
    const det = appContainer(deployment('detector'));
    const detectorPort = appConfig('detector', containerEnv(det, objects)).port;
    expect(loadGatewayConfig(containerEnv(gw, objects)).detectorTarget).toEqual({ kind: 'dns', host: `detector.${NAMESPACE}.svc.cluster.local`, port: detectorPort });
    expect(containerEnv(gw, objects).DETECTOR_TARGET).toMatch(/^dns:\/\/\//);
    expect(find<Service>(objects, 'Service', 'detector').spec.publishNotReadyAddresses ?? false).toBe(false);
    // Detectors close connections so gateways re-resolve that name and see new pods.
    expect(Number(containerEnv(det, objects).DETECTOR_MAX_CONNECTION_AGE_MS)).toBeGreaterThanOrEqual(1000);
  });

  it('lets clients reach the gateway, the gateway reach detectors, and nothing else reach detectors', () => {
    const gwLabels = deployment('gateway').spec.template.metadata.labels;
    const detLabels = deployment('detector').spec.template.metadata.labels;
    const gwConfig = appConfig('gateway', containerEnv(appContainer(deployment('gateway')), objects));
    const gwPort = gwConfig.port;
    const detPort = appConfig('detector', containerEnv(appContainer(deployment('detector')), objects)).port;
    const policies = byKind<NetworkPolicy>(objects, 'NetworkPolicy');

    const forDetector = policies.filter((p) => selects(p.spec.podSelector, detLabels));
    expect(forDetector).toHaveLength(1);
    const dp = forDetector[0]!.spec;
    expect(dp.policyTypes?.sort()).toEqual(['Egress', 'Ingress']);
    expect(dp.ingress).toHaveLength(1);
    const rule = dp.ingress![0]!;
    expect(rule.from).toHaveLength(1);
    expect(rule.from![0]!.namespaceSelector ?? rule.from![0]!.ipBlock).toBeUndefined();
    expect(selects(rule.from![0]!.podSelector, gwLabels)).toBe(true);
    expect(selects(rule.from![0]!.podSelector, detLabels)).toBe(false);
    expect(rule.ports).toEqual([{ port: detPort, protocol: 'TCP' }]);
    expect(dp.egress ?? []).toEqual([]);

    const forGateway = policies.filter((p) => selects(p.spec.podSelector, gwLabels));
    expect(forGateway).toHaveLength(1);
    const gp = forGateway[0]!.spec;
    expect(gp.policyTypes?.sort()).toEqual(['Egress', 'Ingress']);
    // gRPC, and the HTTP API where the gateway's configuration opens it.
    const gwPorts = [gwPort, ...(gwConfig.httpPort === undefined ? [] : [gwConfig.httpPort])];
    expect(gp.ingress).toEqual([{ ports: gwPorts.map((port) => ({ port, protocol: 'TCP' })) }]);
    const toDetectors = (gp.egress ?? []).filter((r) => (r.to ?? []).some((peer) => selects(peer.podSelector, detLabels) && !peer.namespaceSelector));
    expect(toDetectors.map((r) => r.ports)).toEqual([[{ port: detPort, protocol: 'TCP' }]]);
    const dns = (gp.egress ?? []).filter((r) => r !== toDetectors[0]);
    expect(dns.flatMap((r) => r.ports ?? []).every((p) => p.port === 53)).toBe(true);
  });

  it('runs one image per app, the same tag for both', () => {
    const images = (Object.keys(APPS) as App[]).map((app) => appContainer(deployment(app)).image);
    expect(images[0]).toMatch(/\/gateway:[\w.-]+$/);
    expect(images[1]).toMatch(/\/detector:[\w.-]+$/);
    expect(images[0]!.split(':').pop()).toBe(images[1]!.split(':').pop());
  });
});

describe('the validators', () => {
  // Proof that the schema checks are not vacuous: a Deployment with typical mistakes.
  const broken = (): K8sObject => {
    const d = JSON.parse(JSON.stringify(find<Deployment>(objectsOf('amd64'), 'Deployment', 'detector'))) as Deployment;
    return d;
  };

  it('pass the rendered Deployment as it is', () => {
    expect(schemaErrors(broken())).toEqual([]);
    expect(strictFieldErrors([broken()])).toEqual([]);
  });

  it('reject a wrong type and a missing required field', () => {
    const d = broken() as Deployment;
    (d.spec.template.spec.containers[0]!.ports![0] as { containerPort: unknown }).containerPort = 'fifty';
    expect(schemaErrors(d).join('\n')).toMatch(/containerPort/);
    const e = broken() as Deployment;
    delete (e.spec as { selector?: unknown }).selector;
    expect(schemaErrors(e).join('\n')).toMatch(/selector/);
  });

  it('reject misspelt and misplaced fields', () => {
    const d = broken() as Deployment;
    const c = d.spec.template.spec.containers[0] as unknown as Record<string, unknown>;
    c.readinessProbe = { grcp: { port: 50052 } };
    (c.resources as Record<string, unknown>).limit = { cpu: '1' };
    const errors = strictFieldErrors([d]);
    expect(errors.join('\n')).toMatch(/Deployment\/detector: .*grcp.*IProbe/);
    expect(errors.join('\n')).toMatch(/limit.*IResourceRequirements/);
  });
});

describe('the two overlays', () => {
  it('differ only in placement, sizing and the detector layout', () => {
    const strip = (objects: K8sObject[]) =>
      JSON.parse(
        JSON.stringify(objects, (key, value: unknown) =>
          ['nodeSelector', 'tolerations', 'affinity', 'resources', 'startupProbe'].includes(key) ? undefined : value,
        ),
      ) as K8sObject[];
    const [a, b] = Object.keys(EXPECTED).map((o) => strip(objectsOf(o)));
    const configMapsAside = (objects: K8sObject[]) =>
      objects.filter((o) => o.kind !== 'ConfigMap').map((o) => JSON.stringify(o).replace(/detector-config-[a-z0-9]+/g, 'detector-config'));
    expect(configMapsAside(a!)).toEqual(configMapsAside(b!));
  });
});

describe('components/own-model', () => {
  const objects = () =>
    withTempKustomization(
      { 'kustomization.yaml': 'resources: [k8s/overlays/arm64-rk3399]\ncomponents: [k8s/components/own-model]\n' },
      K8S_DIR,
      (dir) => parseStream(renderKustomization(dir)),
    );

  it('serves model.onnx from the claim detector-model, read-only, with no init container', () => {
    const rendered = objects();
    expect(rendered.flatMap((o) => schemaErrors(o))).toEqual([]);
    expect(strictFieldErrors(rendered)).toEqual([]);
    const d = find<Deployment>(rendered, 'Deployment', 'detector');
    const pod = d.spec.template.spec;
    expect(pod.initContainers).toBeUndefined();
    const c = appContainer(d);
    expect(containerEnv(c, rendered).MODEL_PATH).toBe('/models/model.onnx');
    expect(c.volumeMounts).toContainEqual({ name: 'models', mountPath: '/models', readOnly: true });
    expect(pod.volumes!.find((v) => v.name === 'models')).toEqual({ name: 'models', persistentVolumeClaim: { claimName: 'detector-model', readOnly: true } });
    // Everything else is the overlay's.
    const overlay = parseStream(renderOverlay('arm64-rk3399'));
    expect(rendered.filter((o) => o.kind !== 'Deployment' || o.metadata.name !== 'detector')).toEqual(overlay.filter((o) => o.kind !== 'Deployment' || o.metadata.name !== 'detector'));
  });
});

describe('components/int8', () => {
  it('makes and serves the INT8 face model, and makes the detector insist on INT8; nothing else changes', () => {
    const rendered = withTempKustomization(
      { 'kustomization.yaml': 'resources: [k8s/overlays/arm64-rk3399]\ncomponents: [k8s/components/int8]\n' },
      K8S_DIR,
      (dir) => parseStream(renderKustomization(dir)),
    );
    expect(rendered.flatMap((o) => schemaErrors(o))).toEqual([]);
    expect(strictFieldErrors(rendered)).toEqual([]);
    const d = find<Deployment>(rendered, 'Deployment', 'detector');
    expect(d.spec.template.spec.initContainers!.map((c) => c.args)).toEqual([['prepare', 'faceapi-ssd-mobilenetv1-int8', '--dir', '/models']]);
    const c = appContainer(d);
    const env = containerEnv(c, rendered);
    expect([env.MODEL_PATH, env.MODEL_PRECISION]).toEqual(['/models/faceapi-ssd-mobilenetv1-int8.onnx', 'int8']);
    // The detector's own parser takes it: the model it is told to serve is the one the init container makes.
    const config = loadDetectorConfig(env, { cpus: quantity(c.resources!.limits!.cpu), memoryBytes: quantity(c.resources!.limits!.memory) });
    expect([config.modelPath, config.precision]).toEqual(['/models/faceapi-ssd-mobilenetv1-int8.onnx', 'int8']);
    const overlay = parseStream(renderOverlay('arm64-rk3399'));
    expect(rendered.filter((o) => o.kind !== 'Deployment' || o.metadata.name !== 'detector')).toEqual(overlay.filter((o) => o.kind !== 'Deployment' || o.metadata.name !== 'detector'));
  });
});

describe('components/metrics-scrape', () => {
  it('opens only the metrics ports, only from the monitoring namespace', () => {
    const objects = withTempKustomization(
      { 'kustomization.yaml': 'resources: [k8s/overlays/amd64]\ncomponents: [k8s/components/metrics-scrape]\n' },
      K8S_DIR,
      (dir) => parseStream(renderKustomization(dir)),
    );
    expect(objects.flatMap((o) => schemaErrors(o))).toEqual([]);
    expect(strictFieldErrors(objects)).toEqual([]);
    const policy = find<NetworkPolicy>(objects, 'NetworkPolicy', 'metrics-scrape');
    expect(policy.metadata.namespace).toBe(NAMESPACE);
    for (const app of Object.keys(APPS) as App[]) {
      const d = find<Deployment>(objects, 'Deployment', app);
      expect(selects(policy.spec.podSelector, d.spec.template.metadata.labels)).toBe(true);
      expect(appContainer(d).ports!.some((p) => p.name === 'metrics')).toBe(true);
    }
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.ingress).toEqual([
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: [{ port: 'metrics', protocol: 'TCP' }] },
    ]);
  });
});
