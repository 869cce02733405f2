/** Where the agent's Kubernetes API server is, and how each request to it is made (TLS and credentials). */
import type { RequestOptions } from 'node:https';

export interface KubeApiEndpoint {
  /** The server's URL, e.g. `https://10.96.0.1:443`, or with a path prefix (a proxy's); no trailing slash. */
  readonly server: string;
  /** How the endpoint was configured, for messages: `in-cluster` or `kubeconfig FILE`. */
  readonly describe: string;
  /**
   * The node:https options of one request: its agent, CA, client certificate, `rejectUnauthorized` and the
   * Authorization header. Asked per request: service account tokens and exec credentials rotate.
   */
  requestOptions(): Promise<RequestOptions>;
  /** Ends kept-alive connections. Idempotent. */
  close(): void;
}
