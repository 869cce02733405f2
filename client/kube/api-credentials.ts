/**
 * The caller's API server address and credentials, taken out of a KubeConfig so that requests that do not go
 * through @kubernetes/client-node (the pod proxy, the agent itself) carry the same identity: bearer token (static,
 * token file, or exec plugin), client certificate, CA and TLS server name.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { RequestOptions } from 'node:https';
import { PodflameError } from '../../shared/errors.js';

export interface ApiTlsOptions {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** False only when the kubeconfig says insecure-skip-tls-verify. */
  rejectUnauthorized?: boolean;
  servername?: string;
}

export interface ApiCredentials {
  /** API server base URL without a trailing slash, e.g. `https://10.0.0.1:6443`. */
  server: string;
  /** The caller's bearer token, when the kubeconfig yields one (certificate-only users have none). */
  bearerToken: string | undefined;
  /** Headers for requests to the API server: Authorization and, when configured, Impersonate-User. */
  headers: Record<string, string>;
  tls: ApiTlsOptions;
}

export async function resolveApiCredentials(kubeConfig: KubeConfig): Promise<ApiCredentials> {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new PodflameError('CONFIG_INVALID', 'The kubeconfig has no current cluster');
  const opts: RequestOptions & { headers?: Record<string, string> } = {};
  try {
    // Fills ca/cert/key/rejectUnauthorized/servername and headers.Authorization, running exec plugins if needed.
    await kubeConfig.applyToHTTPSOptions(opts);
  } catch (err) {
    throw new PodflameError(
      'UNAUTHENTICATED',
      `Could not get credentials for cluster ${cluster.name} from the kubeconfig: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.headers ?? {})) if (typeof v === 'string') headers[k] = v;
  if (typeof opts.auth === 'string' && headers.Authorization === undefined) {
    headers.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
  }
  const auth = headers.Authorization;
  const bearer = auth !== undefined && /^Bearer\s+/i.test(auth) ? auth.replace(/^Bearer\s+/i, '').trim() : undefined;
  const tls: ApiTlsOptions = {};
  if (opts.ca) tls.ca = Buffer.from(opts.ca as Buffer);
  if (opts.cert) tls.cert = Buffer.from(opts.cert as Buffer);
  if (opts.key) tls.key = Buffer.from(opts.key as Buffer);
  if (opts.rejectUnauthorized !== undefined) tls.rejectUnauthorized = opts.rejectUnauthorized;
  if (opts.servername) tls.servername = opts.servername;
  return { server: cluster.server.replace(/\/+$/, ''), bearerToken: bearer || undefined, headers, tls };
}
