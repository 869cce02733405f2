/**
 * The API server as a pod sees it: `KUBERNETES_SERVICE_HOST`/`_PORT` (read by the agent's config module) and the
 * service account's files, `token` and `ca.crt`, as kubelet mounts them. kubelet rewrites a projected token before
 * it expires (about hourly); the files are read again after a minute, as client-go does, and the CA with them.
 */
import { readFile } from 'node:fs/promises';
import https from 'node:https';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import { PodflameError } from '../../shared/errors.js';
import type { KubeApiEndpoint } from './api-endpoint.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface InClusterService {
  /** `KUBERNETES_SERVICE_HOST`, e.g. `10.96.0.1` or an IPv6 address. */
  host: string;
  /** `KUBERNETES_SERVICE_PORT`, e.g. `443`. */
  port: string;
  /** Where the service account's `token` and `ca.crt` are. Default SERVICE_ACCOUNT_DIR. */
  serviceAccountDir?: string;
}

/** How long the token and CA read from the files are used before they are read again. */
const REREAD_MS = 60_000;
/** How long connections made with a replaced CA may finish their requests: past the pod watch's longest. */
const OLD_AGENT_CLOSE_MS = 15 * 60_000;

export interface InClusterDeps {
  /** Clock in ms, for tests. Default Date.now. */
  now?: () => number;
}

export function inClusterEndpoint(service: InClusterService, deps: InClusterDeps = {}): KubeApiEndpoint {
  const dir = service.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const now = deps.now ?? Date.now;
  const host = isIPv6(service.host) ? `[${service.host}]` : service.host;
  // client-go's and client-node's rule: the API server's plain-HTTP ports; every other port is TLS.
  const scheme = ['80', '8080', '8001'].includes(service.port) ? 'http' : 'https';
  let read: { at: number; token: string; ca: Buffer; agent: https.Agent } | undefined;
  let reading: Promise<void> | undefined;

  const reread = async (): Promise<void> => {
    const [token, ca] = await Promise.all([
      readServiceAccountFile(join(dir, 'token')),
      readServiceAccountFile(join(dir, 'ca.crt')),
    ]);
    const sameCa = read !== undefined && read.ca.equals(ca);
    if (read && !sameCa) {
      // A new CA (the cluster's was rotated): new connections use it; the old ones finish what they carry (a watch
      // ends within minutes) and are closed after that.
      const old = read.agent;
      setTimeout(() => old.destroy(), OLD_AGENT_CLOSE_MS).unref();
    }
    // Room for every review in flight (the authenticator allows 16 TokenReviews) beside the pod watch.
    const agent = read && sameCa ? read.agent : new https.Agent({ keepAlive: true, maxSockets: 32, ca });
    read = { at: now(), token: token.toString('utf8').trim(), ca, agent };
  };

  return {
    server: `${scheme}://${host}:${service.port}`,
    describe: `in-cluster (${dir})`,
    async requestOptions() {
      if (read === undefined || now() - read.at >= REREAD_MS) {
        reading ??= reread().finally(() => (reading = undefined));
        try {
          await reading;
        } catch (err) {
          // A token read a minute ago still works until it expires: keep it rather than fail every request.
          if (read === undefined) throw err;
        }
      }
      const current = read as NonNullable<typeof read>;
      return {
        ...(scheme === 'https' ? { agent: current.agent } : {}),
        ...(current.token === '' ? {} : { headers: { Authorization: `Bearer ${current.token}` } }),
      };
    },
    close() {
      read?.agent.destroy();
    },
  };
}

async function readServiceAccountFile(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    throw new PodflameError(
      'CONFIG_INVALID',
      `cannot read the agent's service account file ${file}: give the agent's pod a service account token ` +
        '(automountServiceAccountToken), or pass --kubeconfig FILE',
      { cause: err },
    );
  }
}
