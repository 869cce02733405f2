/**
 * The API server of a kubeconfig file (`--kubeconfig FILE`, the agent outside a cluster): @kubernetes/client-node
 * reads it, with everything a kubeconfig may hold (client certificates, exec plugins, OIDC, proxies), and gives each
 * request its options. Loaded only for `--kubeconfig`: the in-cluster agent does without client-node's memory.
 */
import type { RequestOptions } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { asPodflameError } from '../../shared/errors.js';
import type { KubeApiEndpoint } from './api-endpoint.js';

/** The endpoint of a kubeconfig file's current context; CONFIG_INVALID when it cannot be read or names no cluster. */
export function loadKubeconfigEndpoint(file: string): KubeApiEndpoint {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    throw asPodflameError(err, 'CONFIG_INVALID', `cannot load the agent's kubeconfig ${file}`);
  }
  return kubeConfigEndpoint(kc, `kubeconfig ${file}`);
}

/** The endpoint of an already loaded KubeConfig's current context. */
export function kubeConfigEndpoint(kc: KubeConfig, describe = 'kubeconfig'): KubeApiEndpoint {
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw asPodflameError(
      new Error('no current cluster'),
      'CONFIG_INVALID',
      `the ${describe} has no current context with a cluster`,
    );
  }
  return {
    server: cluster.server.replace(/\/+$/, ''),
    describe,
    async requestOptions() {
      const options: RequestOptions = {};
      await kc.applyToHTTPSOptions(options);
      return options;
    },
    close() {
      // Each request's agent is client-node's own and is not kept alive.
    },
  };
}
