import { availableParallelism } from 'node:os';
import { availableCpus, parseCpuMax } from '../src';

describe('CPU quota', () => {
  it('reads cgroup v2 cpu.max as CPUs', () => {
    expect(parseCpuMax('max 100000\n')).toBeUndefined();
    expect(parseCpuMax('200000 100000\n')).toBe(2);
    expect(parseCpuMax('150000 100000')).toBe(1.5);
    expect(parseCpuMax('garbage')).toBeUndefined();
  });

  it('sizes from the quota, not the host, and never below one CPU', () => {
    const cores = availableParallelism();
    expect(availableCpus(() => 'max 100000')).toBe(cores);
    expect(availableCpus(() => '50000 100000')).toBe(1);
    expect(availableCpus(() => `${(cores + 8) * 100000} 100000`)).toBe(cores);
    expect(availableCpus(() => {
      throw new Error('no cgroup v2');
    })).toBe(cores);
  });
});
