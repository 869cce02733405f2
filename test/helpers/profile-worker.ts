/**
 * One profile worker for the in-process agents of a test file. Under tap's TypeScript loader a worker thread compiles
 * its modules anew, which takes seconds, so the agents of a file share one (an agent does not close a worker it was
 * given) instead of each starting its own. The built agent (dist/) starts its own in milliseconds.
 */
import { ProfileWorker } from '../../agent/profiles/profile-worker.js';

let shared: ProfileWorker | undefined;
const renderStartListeners: (() => void)[] = [];

/** The file's shared worker; its thread ends with the process (an idle worker does not keep it alive). */
export function testProfileWorker(): ProfileWorker {
  shared ??= new ProfileWorker({ onRenderStarted: () => renderStartListeners.splice(0).forEach((f) => f()) });
  return shared;
}

/** Resolves when the shared worker's thread next starts a render job. */
export function nextRenderStart(): Promise<void> {
  return new Promise((resolve) => renderStartListeners.push(resolve));
}
