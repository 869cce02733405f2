/**
 * The Node flags the agent runs with, wherever it is started: the image's ENTRYPOINT, `podflame-agent`'s shebang,
 * the demo and the bench (test/lint/agent-node-flags.test.ts checks that they agree).
 *
 * A young generation of 2 MiB semi-spaces instead of Node 20's 16 MiB: the agent's main thread only answers requests
 * and moves bytes between the runtime, its profile worker and the store, so short-lived objects are few and small;
 * the default semi-spaces cost ~8 MiB of idle RSS on every node (99.7 → 91.9 MiB, means of 3 starts, local mode).
 * The profile worker, which collapses and draws, sets its own young generation (resourceLimits), unaffected. V8 reads
 * the flag only when the heap is set up, so it has to be on the command line, not set from the code.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
