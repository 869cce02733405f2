/**
 * podflame's client library: profile pods, workloads and label selectors through the Kubernetes API and the
 * podflame agent on each node. See client/README.md and docs/cli.md ("The client library") for examples.
 */
export {
  PodflameClient,
  profilePod,
  profileSelector,
  DEFAULT_CLIENT_OPTIONS,
  PROFILE_FORMATS,
  type PodflameClientOptions,
  type CaptureSettings,
  type ProfilePodRequest,
  type ProfileSelectorRequest,
  type ProfileResult,
  type PodOutcome,
  type ProfileFormat,
} from './profile-pod.js';
export { formatProfile, type FormatOptions, type FormattedProfile } from './profile-output.js';
export { loadKubeConfig, type KubeConfigOptions, type LoadedKubeConfig } from './kube/kubeconfig.js';
export { resolveApiCredentials, type ApiCredentials } from './kube/api-credentials.js';
export { KubeLookup, type WorkloadKind } from './kube/kube-lookup.js';
export {
  AGENT_LABEL_SELECTOR,
  AGENT_PORT_NAME,
  DEFAULT_AGENT_NAMESPACE,
  DEFAULT_AGENT_PORT,
  findAgentOnNode,
  listAgentPods,
  type AgentPod,
} from './kube/agent-discovery.js';
export { podTarget, type PodTarget } from './kube/pod-target.js';
export { parseTargetSpec, type TargetSpec } from './kube/target-spec.js';
export { AgentRouter, type AgentRouterOptions } from './routing/agent-router.js';
export { AgentClient, type AgentClientOptions } from './agent-client.js';
export {
  directRoute,
  proxyRoute,
  VIA_MODES,
  type AgentRoute,
  type AgentTlsOptions,
  type Via,
} from './routing/agent-route.js';
export {
  AgentTransport,
  type AgentTransportOptions,
  type AgentRequest,
  type ProfileCallOptions,
} from './transport/agent-transport.js';
export { AgentPools, type AgentPoolsOptions } from './transport/agent-pools.js';
export {
  urlEndpoint,
  type AgentEndpoint,
  type UrlEndpoint,
  type RoutedEndpoint,
  type EndpointTls,
} from './transport/agent-endpoint.js';
export type { AgentAnswer } from './transport/agent-errors.js';
export type { ProfileAnswer } from './transport/profile-answer.js';
export { PodflameError, ERROR_CODES, type ErrorCode } from '../shared/errors.js';
