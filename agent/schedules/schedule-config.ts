/**
 * Schedule definitions: the YAML file (`--schedules FILE`, a mounted ConfigMap) and the body of
 * `PUT /v1/schedules/:name`, validated once with zod into `ScheduleSpec`. Every error names the schedule and the field.
 * A schedule is identified by its namespace and name: one name may be used once per namespace.
 *
 * ```yaml
 * schedules:
 *   - name: shop-every-10m
 *     cron: "0 *\/10 * * * *"   # six fields: seconds first
 *     namespace: shop
 *     labelSelector: app=shop
 *     container: app
 *     durationSeconds: 30
 *     frequencyHz: 99
 *     inlined: false            # true: inlined Java frames (loads podflame's JVMTI agent into the JVMs)
 *     event: cpu                # cpu (perf), or alloc, lock, wall (the JVMs' Flight Recorder); default cpu
 *     retention: 7d
 * ```
 */
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { validateDetailed } from 'node-cron';
import { LIMITS } from '../../shared/api.js';
import { PodflameError } from '../../shared/errors.js';
import { parseAgeSeconds, type ScheduleDefinition } from '../../shared/history.js';
import { parseLabelSelector } from '../../shared/label-selector.js';
import {
  DEFAULT_PROFILE_EVENT,
  describeEvent,
  PROFILE_EVENTS,
  type ProfileEvent,
} from '../../shared/profile-events.js';
import { eventOptionProblems, takesFrequency } from '../../shared/event-options.js';

/** One schedule, validated (the shape is shared: `GET /v1/schedules` lists it with its status). */
export type ScheduleSpec = ScheduleDefinition;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

const cronField = z.string().superRefine((value, ctx) => {
  const result = validateDetailed(value.trim());
  if (!result.valid) {
    const why = result.errors.map((e) => e.message).join('; ');
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `'${value}' is not a cron expression (${why || 'wrong number of fields'}); expected e.g. "*/10 * * * *" or, with seconds first, "*/30 * * * * *"`,
    });
  }
});

const retentionField = z.string().superRefine((value, ctx) => {
  try {
    parseAgeSeconds(value, 'retention');
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `'${value}' is not a duration such as 90m, 24h or 7d` });
  }
});

const timezoneField = z.string().superRefine((value, ctx) => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `'${value}' is not an IANA time zone such as Europe/Paris` });
  }
});

const selectorField = z.string().superRefine((value, ctx) => {
  try {
    parseLabelSelector(value);
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
  }
});

const scheduleBody = {
  cron: cronField,
  timezone: timezoneField.optional(),
  namespace: z.string().regex(DNS_LABEL, 'must be a namespace name (lowercase letters, digits and -)'),
  labelSelector: selectorField.optional(),
  pod: z.string().regex(DNS_SUBDOMAIN, 'must be a pod name (lowercase letters, digits, - and .)').optional(),
  container: z.string().regex(DNS_LABEL, 'must be a container name (lowercase letters, digits and -)').optional(),
  durationSeconds: z.number().int().min(LIMITS.durationSeconds.min).max(LIMITS.durationSeconds.max),
  // Optional: alloc and lock take none (eventOptionIssues); cpu and wall default to the API's 99 Hz.
  frequencyHz: z.number().int().min(LIMITS.frequencyHz.min).max(LIMITS.frequencyHz.max).optional(),
  inlined: z.boolean().optional(),
  event: z
    .enum(PROFILE_EVENTS, {
      errorMap: () => ({ message: `must be one of ${PROFILE_EVENTS.map(describeEvent).join(', ')}` }),
    })
    .optional(),
  retention: retentionField.optional(),
};

const nameField = z.string().regex(DNS_LABEL, 'must be a name of lowercase letters, digits and - (at most 63)');

/** The options that mean nothing for the schedule's event, as POST /v1/profiles refuses them (shared/event-options.ts). */
function eventOptionIssues(
  spec: { event?: ProfileEvent | undefined; inlined?: boolean | undefined; frequencyHz?: number | undefined },
  ctx: z.RefinementCtx,
): void {
  const asked = {
    ...(spec.inlined !== undefined ? { inlined: spec.inlined } : {}),
    ...(spec.frequencyHz !== undefined ? { frequencyHz: spec.frequencyHz } : {}),
  };
  for (const message of eventOptionProblems(spec.event ?? DEFAULT_PROFILE_EVENT, asked, OPTION_NAMES)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message });
  }
}
const OPTION_NAMES = { inlined: 'inlined', frequencyHz: 'frequencyHz' };

export const ScheduleSpecSchema = z
  .object({ name: nameField, ...scheduleBody })
  .strict()
  .superRefine(eventOptionIssues);
/** `PUT /v1/schedules/:name`: the name comes from the path; a `name` in the body must agree. */
export const ScheduleBodySchema = z
  .object({ name: nameField.optional(), ...scheduleBody })
  .strict()
  .superRefine(eventOptionIssues);

const SchedulesFileSchema = z.object({ schedules: z.array(z.unknown()).default([]) }).strict();

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.join('.') || '(the whole entry)';
      // The event's option rules name their fields themselves.
      if (issue.code === z.ZodIssueCode.custom && issue.path.length === 0) return issue.message;
      if (issue.code === z.ZodIssueCode.unrecognized_keys) return `unknown field ${issue.keys.join(', ')}`;
      if (issue.code === z.ZodIssueCode.invalid_type && issue.received === 'undefined') return `${field}: is required`;
      return `${field}: ${issue.message}`;
    })
    .join('; ');
}

/** A parsed schedule with its defaults filled in. */
export function normalize(spec: z.output<typeof ScheduleSpecSchema>): ScheduleSpec {
  const out: ScheduleSpec = {
    name: spec.name,
    cron: spec.cron.trim(),
    namespace: spec.namespace,
    durationSeconds: spec.durationSeconds,
    // Kept for every event (the capture's and the stored profile's field); shown only where it means something.
    frequencyHz: spec.frequencyHz ?? LIMITS.frequencyHz.default,
  };
  if (spec.timezone !== undefined) out.timezone = spec.timezone;
  if (spec.labelSelector !== undefined) out.labelSelector = spec.labelSelector;
  if (spec.pod !== undefined) out.pod = spec.pod;
  if (spec.container !== undefined) out.container = spec.container;
  if (spec.inlined !== undefined) out.inlined = spec.inlined;
  if (spec.event !== undefined) out.event = spec.event;
  if (spec.retention !== undefined) out.retention = spec.retention;
  return out;
}

/** A schedule as written back (saved from the API): without the frequency its event does not take. */
export function writtenForm(spec: ScheduleSpec): Omit<ScheduleSpec, 'frequencyHz'> & { frequencyHz?: number } {
  if (takesFrequency(spec.event ?? DEFAULT_PROFILE_EVENT)) return spec;
  const { frequencyHz: _unused, ...rest } = spec;
  return rest;
}

/**
 * A schedule is identified by its namespace and name: two namespaces may each have a schedule `nightly`, and one
 * cannot take (or squat) a name the other uses. Neither part can contain `/`, so the key is unambiguous.
 */
export function scheduleKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Parses the schedules file; throws CONFIG_INVALID naming the file, the schedule and the field. */
export function parseSchedulesFile(text: string, source: string): ScheduleSpec[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new PodflameError('CONFIG_INVALID', `schedules file ${source} is not valid YAML: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const file = SchedulesFileSchema.safeParse(doc ?? {});
  if (!file.success) {
    throw new PodflameError(
      'CONFIG_INVALID',
      `schedules file ${source} must be a mapping with a 'schedules:' list (${describeIssues(file.error)})`,
    );
  }
  const specs: ScheduleSpec[] = [];
  const seen = new Set<string>();
  file.data.schedules.forEach((entry, index) => {
    const name = (entry as { name?: unknown } | null)?.name;
    const label = typeof name === 'string' ? `schedule '${name}' (item ${index + 1})` : `schedule item ${index + 1}`;
    const parsed = ScheduleSpecSchema.safeParse(entry);
    if (!parsed.success) {
      throw new PodflameError('CONFIG_INVALID', `schedules file ${source}: ${label}: ${describeIssues(parsed.error)}`, {
        details: { file: source, schedule: name ?? index + 1 },
      });
    }
    // A schedule is its namespace and name: `nightly` may be in shop and in vault, but only once in each.
    const key = scheduleKey(parsed.data.namespace, parsed.data.name);
    if (seen.has(key)) {
      throw new PodflameError(
        'CONFIG_INVALID',
        `schedules file ${source}: ${label}: namespace ${parsed.data.namespace} has the name twice; rename one`,
        { details: { file: source, schedule: parsed.data.name, namespace: parsed.data.namespace } },
      );
    }
    seen.add(key);
    specs.push(normalize(parsed.data));
  });
  return specs;
}

/** A request's `namespace` parameter, checked as a namespace name; throws INVALID_REQUEST. */
export function parseNamespaceParam(value: string): string {
  if (!DNS_LABEL.test(value)) {
    throw new PodflameError(
      'INVALID_REQUEST',
      `namespace '${value}' is not a namespace name (lowercase letters, digits and -, at most 63)`,
      { details: { parameter: 'namespace' } },
    );
  }
  return value;
}

/** Validates a `PUT /v1/schedules/:name` body; throws INVALID_REQUEST naming the field. */
export function parseScheduleBody(name: string, body: unknown): ScheduleSpec {
  const checkedName = nameField.safeParse(name);
  if (!checkedName.success) {
    throw new PodflameError('INVALID_REQUEST', `schedule name '${name}' ${checkedName.error.issues[0]?.message}`);
  }
  const parsed = ScheduleBodySchema.safeParse(body);
  if (!parsed.success) {
    throw new PodflameError('INVALID_REQUEST', `schedule '${name}': ${describeIssues(parsed.error)}`, {
      details: { schedule: name },
    });
  }
  if (parsed.data.name !== undefined && parsed.data.name !== name) {
    throw new PodflameError(
      'INVALID_REQUEST',
      `schedule '${name}': the body names '${parsed.data.name}'; leave name out or use the one in the path`,
    );
  }
  return normalize({ ...parsed.data, name });
}

/** Retention of a schedule in seconds, or undefined for the store's own limit. */
export function retentionSeconds(spec: ScheduleSpec): number | undefined {
  return spec.retention === undefined ? undefined : parseAgeSeconds(spec.retention, 'retention');
}

// Days at most: `14d` reads better in a message than `2w`.
const AGE_UNITS: readonly [string, number][] = [
  ['d', 86400],
  ['h', 3600],
  ['m', 60],
  ['s', 1],
];

/** Seconds as the schedule syntax writes them, in the largest unit that divides them (`2592000` → `30d`). */
export function formatAge(seconds: number): string {
  for (const [unit, size] of AGE_UNITS) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}
