/**
 * The capabilities the manifests add to the agent container (manifests/base/daemonset.yaml, which every node's agent
 * runs with: host mode may be taken on any node), as the host-mode tests run the capture script with them. Read from
 * the YAML itself, without kustomize, so that these tests need no kubectl.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from './docker-env.js';

const BASE_DAEMONSET = join(REPO_ROOT, 'manifests/base/daemonset.yaml');

export function agentCapabilities(): string[] {
  const ds = parse(readFileSync(BASE_DAEMONSET, 'utf8')) as {
    spec: {
      template: { spec: { containers: { name: string; securityContext?: { capabilities?: { add?: string[] } } }[] } };
    };
  };
  const agent = ds.spec.template.spec.containers.find((c) => c.name === 'agent');
  const add = agent?.securityContext?.capabilities?.add;
  if (!add) throw new Error(`${BASE_DAEMONSET}: no agent container with capabilities to add`);
  return [...add];
}
