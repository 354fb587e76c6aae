import { Prng } from '../src';

describe('Prng', () => {
  it('gives the same sequence for the same seed, and another for another seed', () => {
    const draw = (seed: number) => {
      const rng = new Prng(seed);
      return Array.from({ length: 5 }, () => rng.nextUint32());
    };
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('pins its first values: model bytes depend on them', () => {
    const rng = new Prng(20240610);
    expect([rng.nextUint32(), rng.nextUint32(), rng.nextUint32()]).toEqual([3556167617, 1441050957, 4139233417]);
  });

  it('draws uniform doubles in [0, 1) and integers in their closed range', () => {
    const rng = new Prng(1);
    let lo = Infinity;
    let hi = -Infinity;
    const counts = [0, 0, 0];
    for (let i = 0; i < 30000; i++) {
      const x = rng.next();
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
      counts[rng.int(0, 2)]!++;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    for (const c of counts) expect(c).toBeGreaterThan(9500);
  });

  it('forks independent generators by label', () => {
    const a = new Prng(3).fork('conv1');
    const b = new Prng(3).fork('conv2');
    expect(a.nextUint32()).not.toBe(b.nextUint32());
    expect(new Prng(3).fork('conv1').nextUint32()).toBe(new Prng(3).fork('conv1').nextUint32());
  });
});
