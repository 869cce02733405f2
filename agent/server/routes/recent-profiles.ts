/**
 * `GET /v1/profiles/recent`: the on-demand profiles this agent process keeps in memory (the profile registry:
 * running ones and the latest `--profile-retention` finished ones), newest first, as `GET /v1/profiles/:id` shows
 * each. `GET /v1/profiles` is the other list: the profiles of the node-local store (schedules).
 *
 * Mounted before the capture routes, which would otherwise read `recent` as a profile id.
 */
import express, { type Request, type Router } from 'express';
import {
  API_PREFIX,
  type ProfileMetadata,
  type RecentProfilesResponse,
  type ResolvedTarget,
} from '../../../shared/api.js';
import { PodflameError } from '../../../shared/errors.js';
import type { ProfileRegistry } from '../../profiles/profile-registry.js';

export const RECENT_PROFILES_PATH = `${API_PREFIX}/profiles/recent`;

export interface RecentProfilesRouteDeps {
  registry: Pick<ProfileRegistry, 'list'>;
  nodeName: string;
  /**
   * Refuses a caller a target (authorization), as reading one profile does: refused profiles are left out of the
   * list. Absent: whoever passed authentication sees every profile.
   */
  authorizeTarget?: (req: Request, target: ResolvedTarget) => Promise<void>;
}

function targetKey(t: ResolvedTarget): string {
  return JSON.stringify([t.containerId, t.podUid ?? null, t.namespace ?? null, t.podName ?? null]);
}

export function recentProfilesRouter(deps: RecentProfilesRouteDeps): Router {
  const router = express.Router();

  /** The profiles the caller may read; one authorization per target, however many profiles it has. */
  const visible = async (req: Request, items: ProfileMetadata[]): Promise<ProfileMetadata[]> => {
    const authorize = deps.authorizeTarget;
    if (!authorize) return items;
    const allowed = new Map<string, Promise<boolean>>();
    const decide = (target: ResolvedTarget): Promise<boolean> =>
      authorize(req, target).then(
        () => true,
        (err: unknown) => {
          // Only a refusal hides a profile; an API server that cannot answer is the caller's error to see.
          if (err instanceof PodflameError && err.code === 'FORBIDDEN') return false;
          throw err;
        },
      );
    const decisions: boolean[] = [];
    for (const m of items) {
      const key = targetKey(m.target);
      let decision = allowed.get(key);
      if (!decision) {
        decision = decide(m.target);
        allowed.set(key, decision);
      }
      decisions.push(await decision);
    }
    return items.filter((_m, i) => decisions[i] === true);
  };

  router.get(RECENT_PROFILES_PATH, async (req, res) => {
    const unknown = Object.keys(req.query);
    if (unknown.length > 0) {
      throw new PodflameError(
        'INVALID_REQUEST',
        `unknown query parameter '${unknown[0]}' for ${RECENT_PROFILES_PATH}: it takes none`,
        { details: { parameter: unknown[0] } },
      );
    }
    // Copies: the registry's metadata objects change while a capture runs.
    const items = deps.registry.list().map((r) => structuredClone(r.metadata));
    res.json({ node: deps.nodeName, items: await visible(req, items) } satisfies RecentProfilesResponse);
  });

  return router;
}
