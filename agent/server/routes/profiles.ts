/**
 * `POST /v1/profiles` (synchronous, or `?async=1`), `GET /v1/profiles/:id`, `GET /v1/profiles/:id/flamegraph.svg`
 * and `GET /v1/profiles/:id/folded`.
 */
import express, { type Request, type Response, type Router } from 'express';
import {
  API_PREFIX,
  HEADERS,
  type CaptureWarning,
  type OutputFormat,
  type ProfileAccepted,
  type ResolvedTarget,
} from '../../../shared/api.js';
import { PodflameError } from '../../../shared/errors.js';
import type { CaptureService, ResolvedCapture } from '../../profiles/capture-service.js';
import type { ProfileRecord, ProfileRegistry } from '../../profiles/profile-registry.js';
import { ProfileRenderer } from '../../profiles/render-profile.js';
import { subjectOfRefusal, targetTitle } from '../../targets/resolve.js';
import { hidesTarget } from '../../authz/authorizer.js';
import { logFields } from '../request-log.js';
import { parseProfileRequest } from '../validation.js';
import { jsonBody } from '../middleware/json-body.js';

export interface ProfilesRouteDeps {
  captures: CaptureService;
  registry: ProfileRegistry;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  /** Refuses a caller the resolved target (authorization); absent: everyone may. */
  authorizeTarget?: (req: Request, target: ResolvedTarget) => Promise<void>;
  /** Renders the answers and keeps their SVGs. Default: one of the router's own. */
  renderer?: ProfileRenderer;
}

/** Response headers are limited (Node and undici refuse more than 16 KiB in all): beyond this, warnings are cut. */
const WARNINGS_HEADER_MAX = 4096;

export function encodeWarningsHeader(warnings: readonly CaptureWarning[], profileId: string): string {
  const kept: CaptureWarning[] = [];
  for (const [i, w] of warnings.entries()) {
    const next = encodeURIComponent(JSON.stringify([...kept, w]));
    if (next.length > WARNINGS_HEADER_MAX) {
      kept.push({
        code: 'WARNINGS_TRUNCATED',
        message: `${warnings.length - i} more warnings: GET ${API_PREFIX}/profiles/${profileId}`,
      });
      break;
    }
    kept.push(w);
  }
  return encodeURIComponent(JSON.stringify(kept));
}

function setProfileHeaders(res: Response, record: ProfileRecord): void {
  const m = record.metadata;
  res.setHeader(HEADERS.profileId, m.id);
  res.setHeader(HEADERS.samples, String(m.samples));
  res.setHeader(HEADERS.warnings, encodeWarningsHeader(m.warnings, m.id));
  res.setHeader(HEADERS.jitResolved, m.jitResolved === null ? 'none' : m.jitResolved.toFixed(4));
}

async function sendResult(
  res: Response,
  renderer: ProfileRenderer,
  record: ProfileRecord,
  format: OutputFormat,
): Promise<void> {
  if (record.metadata.status === 'running') {
    const remaining = Date.parse(record.metadata.startedAt) + record.metadata.durationSeconds * 1000 - Date.now();
    throw new PodflameError('PROFILE_NOT_READY', `profile ${record.metadata.id} is still being captured`, {
      details: { id: record.metadata.id, retryAfterSeconds: Math.max(1, Math.ceil(remaining / 1000)) },
    });
  }
  if (record.error) throw record.error;
  const rendered = await renderer.render(record, format);
  setProfileHeaders(res, record);
  res.type(rendered.contentType).send(rendered.body);
}

/** The one answer for a target a caller may not see, whatever the reason: it says nothing of other pods. */
function unseenTarget(): PodflameError {
  return new PodflameError(
    'TARGET_NOT_FOUND',
    'no container on this node matches the target, or you may not profile it: check the pod UID and container ' +
      "name (or the container ID), and that you may profile the pod (create pods/exec, or the agent's --authz-resource)",
  );
}

/** The answer for a profile id this agent does not keep, and for one whose pod the caller may not profile. */
function noProfile(id: string): PodflameError {
  return new PodflameError(
    'PROFILE_NOT_FOUND',
    `no profile ${id} on this agent that you may read: it never existed, or it was evicted (the agent keeps its latest --profile-retention profiles within --profiles-max-bytes of stacks, and none across restarts), or you may not profile its pod`,
    { details: { id } },
  );
}

/**
 * The caller is told a refusal only when it says nothing they may not know (see `refusalToldAsIs`); any other
 * becomes `unseen`, the answer for what does not exist, and the refusal goes to the request's log line only.
 */
function hideRefusal(res: Response, refusal: unknown, unseen: () => PodflameError): unknown {
  if (!hidesTarget(refusal)) return refusal;
  logFields(res).denied = refusal.message;
  return unseen();
}

function wantsAsync(req: Request): boolean {
  const v = req.query.async;
  return v === '1' || v === 'true';
}

export function profilesRouter(deps: ProfilesRouteDeps): Router {
  const router = express.Router();
  const renderer = deps.renderer ?? new ProfileRenderer();
  // Only a body declared as JSON is read (see json-body.ts); the limit is checked before parsing.
  const json = jsonBody(deps.bodyLimitBytes);

  router.post(`${API_PREFIX}/profiles`, ...json, async (req, res) => {
    const request = parseProfileRequest(req.body);
    const isAsync = wantsAsync(req);
    // A synchronous caller who goes away takes the capture with them; an async one is not tied to the connection.
    const clientGone = new AbortController();
    if (!isAsync) {
      res.once('close', () => {
        // A PodflameError as the reason: whatever step the capture is in rethrows it, and a caller going away is
        // routine (the request log's client_gone), not the unexpected error a bare DOMException would be taken for.
        if (!res.writableFinished) {
          clientGone.abort(
            new PodflameError('CAPTURE_ABORTED', 'the caller went away before the capture was answered'),
          );
        }
      });
    }
    const signal = isAsync ? undefined : clientGone.signal;
    const authorize = deps.authorizeTarget;
    // Whether the target exists, and what it is, is told only to a caller who may profile its pod: every other
    // caller gets the one answer of a target that does not exist, in its body and in the metrics (which are open).
    const resolveVisible = async (): Promise<ResolvedCapture> => {
      const resolved = await deps.captures.resolve(request, signal).catch(async (err: unknown) => {
        // A refusal names the pod's containers, IDs or state: only for a caller who may profile that pod. A refusal
        // that names no pod is checked as a container of no pod (refused under --auth kubernetes).
        if (!authorize || !(err instanceof PodflameError) || !err.code.startsWith('TARGET_')) throw err;
        const subject = subjectOfRefusal(err) ?? { containerId: '' };
        await authorize(req, subject).catch((denied: unknown) => {
          throw hideRefusal(res, denied, unseenTarget);
        });
        throw err;
      });
      if (authorize) {
        await authorize(req, resolved.target).catch((denied: unknown) => {
          throw hideRefusal(res, denied, unseenTarget);
        });
      }
      return resolved;
    };
    const resolved = await resolveVisible().catch((err: unknown) => {
      deps.captures.countRefusal(err);
      throw err;
    });
    const record = await deps.captures.start(resolved, signal);
    const log = logFields(res);
    log.profileId = record.metadata.id;
    log.target = targetTitle(record.metadata.target);
    log.containerId = record.metadata.target.containerId;
    log.durationSeconds = request.durationSeconds;
    log.frequencyHz = request.frequencyHz;
    if (isAsync) {
      const location = `${API_PREFIX}/profiles/${record.metadata.id}`;
      res.setHeader(HEADERS.profileId, record.metadata.id);
      res
        .status(202)
        .location(location)
        .json({ id: record.metadata.id, status: 'running', location } satisfies ProfileAccepted);
      return;
    }
    await record.settled;
    log.samples = record.metadata.samples;
    log.jitResolved = record.metadata.jitResolved;
    res.setHeader(HEADERS.profileId, record.metadata.id);
    await sendResult(res, renderer, record, request.format);
  });

  // A profile shows what ran in someone's pod: reading it needs the same permission as capturing it.
  // One the caller may not read is answered as one that does not exist.
  const readable = async (req: Request, res: Response): Promise<ProfileRecord> => {
    const id = String(req.params.id);
    const record = deps.registry.get(id);
    if (!record) throw noProfile(id);
    if (deps.authorizeTarget) {
      await deps.authorizeTarget(req, record.metadata.target).catch((denied: unknown) => {
        throw hideRefusal(res, denied, () => noProfile(id));
      });
    }
    return record;
  };

  router.get(`${API_PREFIX}/profiles/:id`, async (req, res) => {
    res.json((await readable(req, res)).metadata);
  });

  router.get(`${API_PREFIX}/profiles/:id/flamegraph.svg`, async (req, res) => {
    await sendResult(res, renderer, await readable(req, res), 'svg');
  });

  router.get(`${API_PREFIX}/profiles/:id/folded`, async (req, res) => {
    await sendResult(res, renderer, await readable(req, res), 'folded');
  });

  return router;
}
