/**
 * `podflame install`: the agent DaemonSet and what it needs (namespace, RBAC, schedules ConfigMap, NetworkPolicy),
 * as `kubectl apply -k manifests/` would create them, from the manifests shipped in the package, applied with
 * server-side apply through the Kubernetes API; then waits until every scheduled agent is ready.
 *
 *   podflame install --image registry.example/podflame-agent:0.1.0 --capture-image registry.example/podflame-perf:0.1.0
 *   podflame install --dry-run > podflame.yaml      # the YAML, applied nowhere
 */
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { PodflameError } from '../../../shared/errors.js';
import { bundledInstall, type InstallSettings, type KubeObject } from '../../install/bundled-manifests.js';
import { applyObjects, describeObject, waitForDaemonSet } from '../../install/installer.js';
import {
  addInstallConnectionOptions,
  apiCredentials,
  cancellable,
  progressLine,
  timeoutMs,
  type InstallConnectionFlags,
} from './install-options.js';

export interface InstallFlags extends InstallConnectionFlags {
  image?: string;
  captureImage?: string;
  namespace?: string;
  dryRun?: boolean;
  wait: boolean;
}

// e.g. registry.example:5000/team/podflame-agent:0.1.0 or ...@sha256:<64 hex>
const IMAGE_REF = /^[a-z0-9][a-z0-9._\-/:]*(@sha256:[a-f0-9]{64})?$/;
// A DNS label, as Kubernetes requires of a namespace's name.
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Flags → the settings of the install, checked (USAGE naming the flag). */
export function installSettings(flags: InstallFlags): InstallSettings {
  for (const [flag, value] of [
    ['--image', flags.image],
    ['--capture-image', flags.captureImage],
  ] as const) {
    if (value !== undefined && !IMAGE_REF.test(value)) {
      throw new PodflameError('USAGE', `${flag} must be an image reference such as REGISTRY/NAME:TAG, got '${value}'`);
    }
  }
  if (flags.namespace !== undefined && !NAMESPACE.test(flags.namespace)) {
    throw new PodflameError(
      'USAGE',
      `--namespace must be a namespace name (lower-case letters, digits and -), got '${flags.namespace}'`,
    );
  }
  return {
    ...(flags.image !== undefined ? { image: flags.image } : {}),
    ...(flags.captureImage !== undefined ? { captureImage: flags.captureImage } : {}),
    ...(flags.namespace !== undefined ? { namespace: flags.namespace } : {}),
  };
}

/** The objects as one multi-document YAML stream, as `kubectl kustomize` prints them. */
async function toYamlStream(objects: readonly KubeObject[]): Promise<string> {
  // Loaded on use: every command's start-up loads this module, and only --dry-run writes YAML.
  const { stringify } = await import('yaml');
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

export async function runInstall(flags: InstallFlags, io: CliIO): Promise<void> {
  const settings = installSettings(flags);
  const wait = timeoutMs(flags);
  const objects = await bundledInstall(settings);
  if (flags.dryRun) {
    io.stdout.write(await toYamlStream(objects));
    return;
  }
  const credentials = await apiCredentials(flags, io);
  const left = 'what was applied stays: podflame install again finishes it, podflame uninstall removes it';
  const daemonSet = objects.find((o) => o.kind === 'DaemonSet');
  const progress = progressLine(io);
  try {
    await cancellable(io.signal, 'install', left, async () => {
      // One deadline for the applies and the wait: --timeout bounds the whole install.
      const deadline = { at: Date.now() + wait, timeoutMs: wait };
      const applied = (obj: KubeObject): void => void io.stdout.write(`${describeObject(obj)} applied\n`);
      await applyObjects(credentials, objects, applied, io.signal, deadline);
      if (!flags.wait || !daemonSet) return;
      await waitForDaemonSet(credentials, daemonSet, {
        timeoutMs: wait,
        deadline: deadline.at,
        onProgress: progress.show,
        signal: io.signal,
      });
      io.stderr.write(`podflame: installed; podflame agents lists the agents\n`);
    });
  } finally {
    progress.done();
  }
}

export function registerInstall(program: Command, io: CliIO): void {
  const cmd = program
    .command('install')
    .description(
      'install the podflame agents on the cluster (server-side apply of the bundled manifests) and wait for them',
    )
    .option('--image <ref>', 'the agent image, e.g. REGISTRY/podflame-agent:TAG (default: podflame-agent:VERSION)')
    .option(
      '--capture-image <ref>',
      'the capture image Docker nodes run, e.g. REGISTRY/podflame-perf:TAG (default: podflame-perf:VERSION)',
    )
    .option('-n, --namespace <ns>', 'namespace of the agents (default: podflame)')
    .option('--dry-run', 'print the YAML that would be applied, and apply nothing')
    .option('--no-wait', 'apply, and do not wait for the agents to be ready');
  addInstallConnectionOptions(cmd);
  cmd.action(async (flags: InstallFlags) => {
    await runInstall(flags, io);
  });
}
