/**
 * `podflame uninstall`: deletes what `podflame install -n NS` (or, for the default namespace, `kubectl apply -k
 * manifests/`) created — each object of the bundled install rendered for NS, by name; nothing else, whatever its
 * labels — and waits until it is gone. The agents' node-local profile stores (/var/lib/podflame on each node) stay:
 * they are files on the nodes, not API objects.
 *
 *   podflame uninstall
 *   podflame uninstall -n team-a
 */
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { bundledInstall } from '../../install/bundled-manifests.js';
import { deleteInstall } from '../../install/installer.js';
import {
  addInstallConnectionOptions,
  apiCredentials,
  cancellable,
  progressLine,
  timeoutMs,
  type InstallConnectionFlags,
} from './install-options.js';
import { installSettings } from './install.js';

export interface UninstallFlags extends InstallConnectionFlags {
  namespace?: string;
}

export async function runUninstall(flags: UninstallFlags, io: CliIO): Promise<void> {
  const settings = installSettings({ ...flags, wait: true });
  const wait = timeoutMs(flags);
  const objects = await bundledInstall(settings);
  const credentials = await apiCredentials(flags, io);
  const progress = progressLine(io);
  let deleted: string[];
  try {
    deleted = await cancellable(io.signal, 'uninstall', 'podflame uninstall again deletes what is left', () =>
      deleteInstall(credentials, objects, {
        timeoutMs: wait,
        onProgress: progress.show,
        onDeleted: (what) => io.stdout.write(`${what} deleted\n`),
        signal: io.signal,
      }),
    );
  } finally {
    progress.done();
  }
  io.stderr.write(
    deleted.length === 0 ? 'podflame: nothing to delete: podflame is not installed\n' : 'podflame: uninstalled\n',
  );
}

export function registerUninstall(program: Command, io: CliIO): void {
  const cmd = program
    .command('uninstall')
    .description('delete what podflame install -n NS created (each of its objects, by name) and wait')
    .option('-n, --namespace <ns>', 'namespace of the agents (default: podflame)');
  addInstallConnectionOptions(cmd);
  cmd.action(async (flags: UninstallFlags) => {
    await runUninstall(flags, io);
  });
}
