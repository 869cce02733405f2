/**
 * Scheduled captures through the agent's capture service, the same path as `POST /v1/profiles`: target checks,
 * per-container and global admission, the capture container, the collapser. The target is the container ID the
 * schedule found, so the capture profiles exactly that container.
 */
import type { CaptureOrigin, ResolvedCapture } from '../profiles/capture-service.js';
import { parseFoldedBytes } from '../profiles/folded-bytes.js';
import type { ProfileRecord } from '../profiles/profile-registry.js';
import type { ValidProfileRequest } from '../../shared/api.js';
import type { ScheduledCapture } from './scheduler.js';

/** The part of CaptureService this uses. */
export interface CaptureStarter {
  resolve(request: ValidProfileRequest, signal?: AbortSignal): Promise<ResolvedCapture>;
  start(resolved: ResolvedCapture, signal?: AbortSignal, origin?: CaptureOrigin): Promise<ProfileRecord>;
  /** Counts a refusal of `resolve` (podflame_requests_rejected_total), as the capture route does. */
  countRefusal(err: unknown): void;
}

export function captureThrough(service: CaptureStarter): ScheduledCapture {
  return async ({ target, durationSeconds, frequencyHz, javaInlined, event, schedule, signal }) => {
    // The schedule's operator chose the targets: nothing to authorize between finding the container and capturing.
    const resolved = await service
      .resolve(
        {
          target: { containerId: target.containerId },
          durationSeconds,
          frequencyHz,
          format: 'folded',
          java: { inlined: javaInlined },
          event,
        },
        signal,
      )
      .catch((err: unknown) => {
        service.countRefusal(err);
        throw err;
      });
    const record = await service.start(resolved, signal, { schedule });
    await record.settled;
    if (record.error) throw record.error;
    return {
      stacks: record.folded ? parseFoldedBytes(record.folded) : new Map(),
      ...(record.eventCounts !== undefined ? { eventCounts: record.eventCounts } : {}),
      warnings: record.metadata.warnings,
      startedAtMs: Date.parse(record.metadata.startedAt),
    };
  };
}
