export interface AgentOverheadOptions {
  root: string;
  scratch: string;
  runs: number;
  log: (line: string) => void;
}

/** Agent request overhead: filled in once the agent has landed. */
export async function agentOverhead(_opts: AgentOverheadOptions): Promise<string> {
  return 'agent request overhead: skipped (not measured yet)';
}
