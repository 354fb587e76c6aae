// docker/Dockerfile as data: its global ARGs and its stages with their instructions (line
// continuations joined, comments dropped). Enough to check the file and to run what an image runs.
interface Instruction {
  op: string;
  args: string;
}

export interface Stage {
  name: string;
  from: string;
  platform?: string;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const logical = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, op, rest] = /^(\S+)\s*(.*)$/.exec(line)!;
    const upper = op!.toUpperCase();
    if (upper === 'FROM') {
      const m = /^(?:--platform=(\S+)\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest!);
      if (!m) throw new Error(`cannot parse FROM ${rest}`);
      stages.push({ platform: m[1], from: m[2]!, name: m[3] ?? `#${stages.length}`, instructions: [] });
    } else if (stages.length === 0 && upper === 'ARG') {
      const [k, v] = rest!.split('=');
      args[k!] = v ?? '';
    } else {
      stages[stages.length - 1]!.instructions.push({ op: upper, args: rest! });
    }
  }
  return { args, stages };
}

