// The ordering and overload policy of one stream, without I/O.
import { FrameWindow, SequenceError, type WindowFrame } from '../src/service/detect-stream-window';

const frame = (sequence: number, arrivedAt = 0, maxLatencyMs = 0): WindowFrame<string> => ({ sequence: BigInt(sequence), arrivedAt, maxLatencyMs, payload: `f${sequence}` });
const answered = (w: FrameWindow<string, string>) =>
  w.takeAnswers().map(({ frame: f, outcome }) => `${f.sequence}:${outcome.kind === 'served' ? outcome.result : outcome.cause}`);

describe('QUEUE', () => {
  it('starts at most max_in_flight frames and answers in sequence order whatever order results come in', () => {
    const w = new FrameWindow<string, string>('QUEUE', 2);
    const frames = [1, 2, 3].map((s) => frame(s));
    frames.forEach((f) => w.arrive(f));
    expect(w.start(0).map((f) => f.payload)).toEqual(['f1', 'f2']);
    expect(w.start(0)).toEqual([]);
    w.finish(frames[1]!, 'r2', 10);
    expect(answered(w)).toEqual([]);
    expect(w.start(10).map((f) => f.payload)).toEqual(['f3']);
    w.finish(frames[0]!, 'r1', 20);
    expect(answered(w)).toEqual(['1:r1', '2:r2']);
    w.finish(frames[2]!, 'r3', 30);
    expect(answered(w)).toEqual(['3:r3']);
    expect(w.unanswered).toBe(0);
  });

  it('never drops a frame, however late, and stops accepting while a window of frames waits', () => {
    const w = new FrameWindow<string, string>('QUEUE', 1);
    const frames = [1, 2].map((s) => frame(s, 0, 5));
    frames.forEach((f) => w.arrive(f));
    expect(w.start(0)).toHaveLength(1);
    expect(w.acceptsMore).toBe(false);
    w.finish(frames[0]!, 'r1', 1000);
    expect(w.start(1000)).toHaveLength(1);
    expect(w.acceptsMore).toBe(true);
    w.finish(frames[1]!, 'r2', 2000);
    expect(answered(w)).toEqual(['1:r1', '2:r2']);
  });

  it('refuses a sequence that does not increase', () => {
    const w = new FrameWindow<string, string>('QUEUE', 1);
    w.arrive(frame(5));
    expect(() => w.arrive(frame(5))).toThrow(SequenceError);
    expect(() => w.arrive(frame(4))).toThrow('frame sequence 4 does not follow 5');
    w.arrive(frame(9));
  });
});

describe('LATEST', () => {
  it('drops a waiting frame as superseded when a newer one arrives, answered in its place in order', () => {
    const w = new FrameWindow<string, string>('LATEST', 1);
    const f1 = frame(1);
    w.arrive(f1);
    w.start(0);
    [2, 3, 4].forEach((s) => w.arrive(frame(s)));
    expect(w.waitingCount).toBe(1);
    expect(w.acceptsMore).toBe(true);
    expect(answered(w)).toEqual([]);
    w.finish(f1, 'r1', 40);
    const next = w.start(40);
    expect(next.map((f) => f.payload)).toEqual(['f4']);
    expect(answered(w)).toEqual(['1:r1', '2:superseded', '3:superseded']);
    w.finish(next[0]!, 'r4', 80);
    expect(answered(w)).toEqual(['4:r4']);
  });

  it('drops a frame that has waited past max_latency_ms, or would pass it given the recent service time', () => {
    const w = new FrameWindow<string, string>('LATEST', 2);
    const f1 = frame(1, 0, 100);
    w.arrive(f1);
    w.start(0);
    w.finish(f1, 'r1', 60);
    expect(w.serviceEstimateMs).toBe(60);
    // f2 is in flight, so f3 (waited 50 + 2 x 60 after f2 > 100) could not be fresh any more.
    const f2 = frame(2, 100, 100);
    w.arrive(f2);
    w.start(100);
    w.arrive(frame(3, 100, 100));
    expect(w.start(150)).toEqual([]);
    // Without a limit, a frame waits as long as it takes.
    w.arrive(frame(4, 150, 0));
    expect(w.start(150).map((f) => f.payload)).toEqual(['f4']);
    expect(answered(w)).toEqual(['1:r1']);
    w.finish(f2, 'r2', 160);
    expect(answered(w)).toEqual(['2:r2', '3:stale']);
    // Past its limit, a frame is dropped without a look at the estimate.
    w.arrive(frame(5, 160, 30));
    expect(w.start(200)).toEqual([]);
  });

  it('starts one frame with a limit at a time until the service time is known', () => {
    const w = new FrameWindow<string, string>('LATEST', 8);
    const f1 = frame(1, 0, 200);
    w.arrive(f1);
    expect(w.start(0)).toEqual([f1]);
    const f2 = frame(2, 33, 200);
    w.arrive(f2);
    expect(w.start(33)).toEqual([]);
    w.finish(f1, 'r1', 50);
    expect(w.start(50)).toEqual([f2]);
    // Known now (50 ms): a frame starts while it would finish within its limit behind those in
    // flight (2 x 50, then 3 x 50, then 4 x 50 ms); the next would not.
    const more = [3, 4, 5].map((s) => frame(s, 60, 200));
    more.forEach((f) => {
      w.arrive(f);
      expect(w.start(60)).toEqual([f]);
    });
    expect(w.inFlight).toBe(4);
    w.arrive(frame(6, 60, 200));
    expect(w.start(60)).toEqual([]);
    expect(w.inFlight).toBe(4);
  });

  it('with nothing in flight, still starts a frame within its limit even when the service is slower than the limit', () => {
    const w = new FrameWindow<string, string>('LATEST', 1);
    const f1 = frame(1, 0, 50);
    w.arrive(f1);
    w.start(0);
    w.finish(f1, 'r1', 200);
    const f2 = frame(2, 200, 50);
    w.arrive(f2);
    expect(w.start(210)).toEqual([f2]);
    w.finish(f2, 'r2', 400);
    const f3 = frame(3, 400, 50);
    w.arrive(f3);
    expect(w.start(460)).toEqual([]);
    expect(answered(w)).toEqual(['1:r1', '2:r2', '3:stale']);
  });
});
