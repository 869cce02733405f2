/**
 * Counts the capture containers an agent creates, from the engine's event stream (so a container created and removed
 * between two looks is still counted), and lists the ones that exist now. Agents label their captures with
 * `io.podflame.agent-instance=NODE.UUID`; tests give each agent a unique node name. Not a test file.
 */
import type Docker from 'dockerode';
import { CAPTURE_LABELS } from '../../agent/runtime/container-runtime.js';

export interface CaptureWatch {
  /** Capture containers of this node's agents created since the watch began. */
  created(): number;
  /** The most that existed at once (create → destroy). */
  maxAlive(): number;
  stop(): void;
}

export async function watchCaptures(docker: Docker, nodeName: string): Promise<CaptureWatch> {
  const stream = (await docker.getEvents({
    filters: { type: ['container'], event: ['create', 'destroy'], label: [CAPTURE_LABELS.owner] },
  })) as NodeJS.ReadableStream & { destroy(): void };
  let created = 0;
  let alive = 0;
  let maxAlive = 0;
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim() === '') continue;
      const event = JSON.parse(line) as { Action?: string; Actor?: { Attributes?: Record<string, string> } };
      const instance = event.Actor?.Attributes?.[CAPTURE_LABELS.agentInstance] ?? '';
      if (!instance.startsWith(`${nodeName}.`)) continue;
      if (event.Action === 'create') {
        created++;
        alive++;
        maxAlive = Math.max(maxAlive, alive);
      } else if (event.Action === 'destroy') alive--;
    }
  });
  stream.on('error', () => undefined);
  return {
    created: () => created,
    maxAlive: () => maxAlive,
    stop: () => stream.destroy(),
  };
}

/** IDs of the capture containers of this node's agents that exist now (running or not). */
export async function captureContainersOf(docker: Docker, nodeName: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [CAPTURE_LABELS.owner] } });
  return list.filter((c) => (c.Labels[CAPTURE_LABELS.agentInstance] ?? '').startsWith(`${nodeName}.`)).map((c) => c.Id);
}
