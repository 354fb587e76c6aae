// Calls are admitted before their bodies are read: a real grpc-js server and client.
import * as grpc from '@grpc/grpc-js';
import { allGates, bindServer, ByteBudget, gateInterceptor, measuredService, memoryGate, releaseRequest, requestSize, type CallGate } from '../src';
import { until } from '../src/testing';

let decoded = 0;
const definition: grpc.ServiceDefinition = {
  Echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => {
      decoded++;
      return { bytes: b };
    },
    responseSerialize: (n: number) => Buffer.from(String(n)),
    responseDeserialize: (b: Buffer) => Number(b.toString()),
  },
};

const budget = new ByteBudget(10 * 2 ** 20, { name: 'test budget', maxWaiters: 4, maxWaitMs: 200 });
let server: grpc.Server;
let client: grpc.Client;
let sizes: Array<number | undefined> = [];

beforeAll(async () => {
  const auth: CallGate = { beforeRead: (md) => (md.get('authorization')[0] === 'yes' ? undefined : { code: grpc.status.UNAUTHENTICATED, details: 'no credentials' }) };
  server = new grpc.Server({
    interceptors: [gateInterceptor((method) => (method.path === '/test.Echo/Echo' ? allGates(auth, memoryGate(budget, { worstCaseBytes: 4 * 2 ** 20, factor: 2, maxWaitMs: 200, deadline: Infinity })) : undefined))],
  });
  const guarded = measuredService(definition, { Echo: (bytes) => (bytes[0] === 0xff ? { code: grpc.status.INVALID_ARGUMENT, details: 'starts with 0xff' } : undefined) });
  server.addService(guarded, {
    Echo(call: grpc.ServerUnaryCall<{ bytes: Buffer }, number>, callback: grpc.sendUnaryData<number>) {
      sizes.push(requestSize(call.request));
      // Held while the call runs: the reservation is the real size times the factor.
      callback(null, budget.inUse);
    },
  });
  const port = await bindServer(server, '127.0.0.1:0');
  const Client = grpc.makeGenericClientConstructor(definition, 'Echo');
  client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterAll(() => {
  client.close();
  server.forceShutdown();
});

beforeEach(() => {
  decoded = 0;
  sizes = [];
});

function echo(bytes: Buffer, token?: string): Promise<number> {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', token);
  return new Promise((resolve, reject) => (client as unknown as { Echo: grpc.requestCallback<number> & ((...a: unknown[]) => void) }).Echo(bytes, md, (e: grpc.ServiceError | null, v?: number) => (e ? reject(e) : resolve(v!))));
}

describe('admission before the body', () => {
  it('refuses a call without credentials before its message is read or decoded', async () => {
    await expect(echo(Buffer.alloc(3 * 2 ** 20, 1))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: 'no credentials' });
    expect(decoded).toBe(0);
    expect(budget.inUse).toBe(0);
  });

  it('measures an admitted message, holds factor x its size while it runs, and releases it after', async () => {
    expect(await echo(Buffer.alloc(1000, 1), 'yes')).toBe(2000);
    expect(sizes).toEqual([1000]);
    await new Promise((r) => setTimeout(r, 20));
    expect(budget.inUse).toBe(0);
  });

  it('refuses a message its guard rejects from the bytes alone, without decoding it', async () => {
    await expect(echo(Buffer.from([0xff, 1, 2]), 'yes')).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'starts with 0xff' });
    expect(decoded).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    expect(budget.inUse).toBe(0);
  });

  it('answers RESOURCE_EXHAUSTED, unread, when the worst case cannot be reserved in time', async () => {
    const held = await budget.acquire(8 * 2 ** 20);
    try {
      await expect(echo(Buffer.alloc(10, 1), 'yes')).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/^test budget of 10 MiB is in use/) });
      expect(decoded).toBe(0);
    } finally {
      held.release();
    }
  });
});

describe('a stream whose messages are held after they are read (perMessage)', () => {
  const streamDefinition: grpc.ServiceDefinition = {
    Frames: {
      path: '/test.Echo/Frames',
      requestStream: true,
      responseStream: true,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => ({ bytes: b }),
      responseSerialize: (n: number) => Buffer.from(String(n)),
      responseDeserialize: (b: Buffer) => Number(b.toString()),
    },
  };
  const streamBudget = new ByteBudget(10_000, { name: 'stream budget', maxWaiters: 4, maxWaitMs: 5_000 });
  let streamServer: grpc.Server;
  let streamClient: grpc.Client;
  const received: Array<{ bytes: Buffer }> = [];

  beforeAll(async () => {
    streamServer = new grpc.Server({
      interceptors: [gateInterceptor(() => memoryGate(streamBudget, { worstCaseBytes: 1000, factor: 2, holdForCall: true, perMessage: true, maxWaitMs: 5_000, deadline: Infinity }))],
    });
    streamServer.addService(measuredService(streamDefinition), {
      Frames(call: grpc.ServerDuplexStream<{ bytes: Buffer }, number>) {
        call.on('data', (message: { bytes: Buffer }) => {
          received.push(message);
          call.write(streamBudget.inUse);
        });
        call.on('end', () => call.end());
      },
    });
    const port = await bindServer(streamServer, '127.0.0.1:0');
    const Client = grpc.makeGenericClientConstructor(streamDefinition, 'Echo');
    streamClient = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  afterAll(() => {
    streamClient.close();
    streamServer.forceShutdown();
  });

  it('reserves each message until it is released, holds back what does not fit, and gives everything back at the end', async () => {
    const call = (streamClient as unknown as { Frames(): grpc.ClientDuplexStream<Buffer, number> }).Frames();
    const answers: number[] = [];
    call.on('data', (n: number) => answers.push(n));
    const ended = new Promise((resolve) => call.on('status', resolve));
    // The read slot (1000) plus 2 x 2000 per message: two fit in 10 000, the third must wait.
    for (let i = 0; i < 3; i++) call.write(Buffer.alloc(2000, i + 1));
    await until(() => received.length === 2, 'two messages');
    await new Promise((r) => setTimeout(r, 100));
    expect(received).toHaveLength(2);
    expect(answers).toEqual([5000, 9000]);
    releaseRequest(received[0]);
    await until(() => received.length === 3, 'the third message, once the first is released');
    expect(streamBudget.inUse).toBe(9000);
    call.end();
    await ended;
    await until(() => streamBudget.inUse === 0, 'every reservation released at the end');
  });
});
