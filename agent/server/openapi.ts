/**
 * The agent API as an OpenAPI 3.0 document, served at `GET /v1/openapi.json`. Request and response shapes follow
 * shared/api.ts; test/openapi/ checks that every documented operation is a route of the agent and every route is
 * documented, and validates real answers against the schemas here.
 */
import { API_PREFIX, HEADERS, LIMITS, OUTPUT_FORMATS } from '../../shared/api.js';
import { MINWIDTH_FLOOR_PX } from '../../shared/render/options.js';
import { DIFF_FORMATS, HISTORY_FORMATS, HISTORY_HEADERS } from '../../shared/history.js';
import { DEFAULT_PROFILE_EVENT, EVENT_KINDS, PROFILE_EVENTS } from '../../shared/profile-events.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const jsonBody = (schema: Json, description: string): Json => ({
  description,
  content: { 'application/json': { schema } },
});
const errorAnswer = (description: string): Json => jsonBody(ref('Error'), description);
const query = (name: string, description: string, schema: Json = { type: 'string' }): Json => ({
  name,
  in: 'query',
  required: false,
  description,
  schema,
});
const FILTER_QUERY: Json[] = [
  query('namespace', 'Only profiles of this namespace.'),
  query('pod', 'Only profiles of this pod name.'),
  query('container', 'Only profiles of this container name.'),
  query(
    'schedule',
    'Only profiles of this schedule. Without namespace, the schedules of that name must be of one namespace among ' +
      'those the caller may see (else 409 SCHEDULE_AMBIGUOUS: add namespace).',
  ),
  query('labelSelector', 'Only profiles of pods matching this label selector, e.g. app=shop.'),
];
const EVENT_SCHEMA: Json = { type: 'string', enum: [...PROFILE_EVENTS] };
const EVENT_DESCRIPTION = PROFILE_EVENTS.map((e) => `${e} (${EVENT_KINDS[e].unit})`).join(', ');
const eventQuery = (what: string): Json => query('event', `${what}: ${EVENT_DESCRIPTION}.`, EVENT_SCHEMA);
const RANGE_QUERY: Json[] = [
  query('from', 'Start of the time range: RFC 3339 time or an age such as 1h.'),
  query('to', 'End of the time range: RFC 3339 time or an age such as 10m.'),
];
// The formats the history routes take (shared/history.ts), so that the document cannot drift from them.
const graphFormat = (formats: readonly string[]): Json =>
  query('format', `${formats.join(', ')} (default svg).`, { type: 'string', enum: [...formats], default: 'svg' });
const nameParam: Json = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };
const scheduleNamespace = (what: string): Json =>
  query('namespace', what, { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' });
const SCHEDULE_BY_NAME =
  "A schedule is its namespace and name. With namespace, that namespace's schedule (403 FORBIDDEN when the caller " +
  'may not profile pods there); without, the one schedule of that name among the namespaces the caller may see. ' +
  'A schedule of a namespace the caller may not see is answered as one that does not exist (404).';
const AMBIGUOUS_SCHEDULE = errorAnswer(
  'Several namespaces the caller may see have a schedule of that name (SCHEDULE_AMBIGUOUS; details: schedule, ' +
    'namespaces): add namespace.',
);
const MERGE_TOO_LARGE = errorAnswer(
  'PROFILE_TOO_LARGE: the selected profiles add up to more distinct stacks than the merge cap (half of ' +
    '--worker-heap of them, or ten times --max-stacks; both sides of a diff together; details: maxMergeStacks, ' +
    'maxMergeBytes, countedStacks, countedBytes): narrow the time range or filter. Or a graph that would not fit in ' +
    "the profile worker's heap beside the captures being collapsed.",
);
const MERGES_BUSY = errorAnswer(
  'Merges and diffs run one at a time with four waiting; beyond those TOO_MANY_MERGES (details: running, waiting, ' +
    'retryAfterSeconds), with Retry-After. The same while 64 MiB of drawn answers are not yet taken by their callers ' +
    '(details: answerBytesHeld, answerBytes, retryAfterSeconds); a caller that takes nothing of its answer for 30 s ' +
    'is cut.',
);
const idParam: Json = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const GRAPH_CONTENT: Record<string, Json> = {
  svg: { 'image/svg+xml': { schema: { type: 'string' } } },
  folded: { 'text/plain': { schema: { type: 'string' } } },
  pprof: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
};
const graphAnswer = (description: string, formats: readonly string[]): Json => ({
  description,
  content: Object.assign({}, ...formats.map((f) => GRAPH_CONTENT[f])) as Json,
});
const v1 = (path: string): string => `${API_PREFIX}${path}`;

const SCHEMAS: Record<string, Json> = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', description: 'Stable error code, e.g. TARGET_NOT_FOUND.' },
          message: { type: 'string', description: 'What went wrong and what to do.' },
          details: { type: 'object' },
        },
      },
    },
  },
  ProfileTarget: {
    oneOf: [
      {
        type: 'object',
        required: ['podUid', 'container'],
        additionalProperties: false,
        properties: { podUid: { type: 'string' }, container: { type: 'string' } },
      },
      {
        type: 'object',
        required: ['containerId'],
        additionalProperties: false,
        properties: { containerId: { type: 'string', description: 'docker://… or 12 to 64 hex digits.' } },
      },
    ],
  },
  ProfileRequest: {
    type: 'object',
    required: ['target'],
    additionalProperties: false,
    properties: {
      target: ref('ProfileTarget'),
      durationSeconds: {
        type: 'integer',
        minimum: LIMITS.durationSeconds.min,
        maximum: LIMITS.durationSeconds.max,
        default: LIMITS.durationSeconds.default,
      },
      frequencyHz: {
        type: 'integer',
        minimum: LIMITS.frequencyHz.min,
        maximum: LIMITS.frequencyHz.max,
        default: LIMITS.frequencyHz.default,
        description:
          "Sampling frequency: perf's for cpu; for wall Flight Recorder's period in whole ms (at least 10, so at " +
          'most 100 Hz: more is refused). Refused (400) with alloc and lock, which are not sampled at a frequency.',
      },
      format: { type: 'string', enum: [...OUTPUT_FORMATS], default: 'svg' },
      title: { type: 'string', maxLength: 200 },
      render: {
        type: 'object',
        additionalProperties: false,
        properties: {
          title: { type: 'string', maxLength: 200 },
          subtitle: { type: 'string', maxLength: 200 },
          width: { type: 'integer', minimum: 100, maximum: 10000 },
          minwidth: { oneOf: [{ type: 'number', minimum: MINWIDTH_FLOOR_PX, maximum: 1000 }, { type: 'string' }] },
          colors: { type: 'string', maxLength: 20 },
          inverted: { type: 'boolean' },
          reverse: { type: 'boolean' },
          hash: { type: 'boolean' },
        },
      },
      java: ref('JavaOptions'),
      event: {
        ...EVENT_SCHEMA,
        default: DEFAULT_PROFILE_EVENT,
        description:
          "What to record: cpu (perf, any process) or a JVM's Flight Recorder event, alloc (bytes allocated), " +
          'lock (nanoseconds blocked) or wall (samples of threads running Java code or in native code such as ' +
          'blocking I/O; threads blocked entering a monitor are in lock).',
      },
    },
  },
  JavaOptions: {
    type: 'object',
    additionalProperties: false,
    properties: {
      inlined: {
        type: 'boolean',
        default: false,
        description:
          "Name the methods the JIT inlined (frames tagged _[i]): loads podflame's JVMTI agent into each JVM of the " +
          'target; on JDK 21+ the JVM logs a warning about a dynamically loaded agent. cpu only: true with another ' +
          'event is refused (400).',
      },
    },
  },
  CaptureWarning: {
    type: 'object',
    required: ['code', 'message'],
    properties: { code: { type: 'string' }, message: { type: 'string' }, pid: { type: 'integer' } },
  },
  ResolvedTarget: {
    type: 'object',
    required: ['containerId'],
    properties: {
      containerId: { type: 'string' },
      containerName: { type: 'string' },
      podUid: { type: 'string' },
      podName: { type: 'string' },
      namespace: { type: 'string' },
    },
  },
  ProfileMetadata: {
    type: 'object',
    required: [
      'id',
      'status',
      'node',
      'target',
      'startedAt',
      'durationSeconds',
      'frequencyHz',
      'java',
      'samples',
      'warnings',
    ],
    properties: {
      id: { type: 'string' },
      status: { type: 'string', enum: ['running', 'done', 'failed'] },
      node: { type: 'string' },
      target: ref('ResolvedTarget'),
      startedAt: { type: 'string', format: 'date-time' },
      finishedAt: { type: 'string', format: 'date-time' },
      durationSeconds: { type: 'integer' },
      frequencyHz: { type: 'integer' },
      java: {
        type: 'object',
        required: ['inlined'],
        properties: { inlined: { type: 'boolean', description: 'Inlined frames were asked for.' } },
      },
      event: { ...EVENT_SCHEMA, description: 'What the profile counts; samples is in its unit.' },
      samples: { type: 'integer' },
      jitResolved: { type: 'number', nullable: true, description: 'Share (0..1) of JIT frames named; null if none.' },
      warnings: { type: 'array', items: ref('CaptureWarning') },
      dropped: {
        type: 'object',
        required: ['stacks', 'samples'],
        description:
          'Set when the profile was larger than the agent keeps (--max-stacks, --max-profile-bytes; warning ' +
          'PROFILE_TOO_LARGE): its smaller stacks dropped and their samples, counted under the root frame [dropped stacks].',
        properties: { stacks: { type: 'integer' }, samples: { type: 'integer' } },
      },
      error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
      schedule: {
        type: 'object',
        description: 'The schedule that took this profile; absent for one asked for with POST /v1/profiles.',
        required: ['namespace', 'name'],
        properties: { namespace: { type: 'string' }, name: { type: 'string' } },
      },
      timings: { type: 'object', additionalProperties: { type: 'number' } },
    },
  },
  ProfileJson: {
    description: 'format "json": the metadata plus the folded stacks, sorted by stack.',
    allOf: [
      ref('ProfileMetadata'),
      {
        type: 'object',
        required: ['stacks'],
        properties: {
          stacks: {
            type: 'array',
            items: {
              type: 'object',
              required: ['stack', 'count'],
              properties: {
                stack: { type: 'string', description: 'Frames, root first, separated by ;.' },
                count: { type: 'number', description: "The stack's weight, in the event's unit." },
                events: {
                  type: 'integer',
                  description:
                    'How many events made up the count, for an event that counts them (lock: the contentions, ' +
                    "pprof's contentions/count); absent for the others.",
                },
              },
            },
          },
        },
      },
    ],
  },
  RecentProfilesResponse: {
    type: 'object',
    required: ['node', 'items'],
    properties: { node: { type: 'string' }, items: { type: 'array', items: ref('ProfileMetadata') } },
  },
  ProfileAccepted: {
    type: 'object',
    required: ['id', 'status', 'location'],
    properties: { id: { type: 'string' }, status: { type: 'string' }, location: { type: 'string' } },
  },
  TargetContainer: {
    type: 'object',
    required: ['containerId', 'name', 'image', 'state', 'jvm'],
    properties: {
      containerId: { type: 'string' },
      name: { type: 'string' },
      image: { type: 'string' },
      state: { type: 'string' },
      podUid: { type: 'string' },
      podName: { type: 'string' },
      namespace: { type: 'string' },
      containerName: { type: 'string' },
      jvm: { type: 'boolean', description: 'A process in the container looks like a JVM.' },
    },
  },
  TargetsResponse: {
    type: 'object',
    required: ['node', 'runtime', 'items'],
    properties: {
      node: { type: 'string' },
      runtime: {
        type: 'string',
        enum: ['docker', 'host'],
        description: 'The capture path in use: Docker capture containers, or host mode (/proc and cgroups, no Docker).',
      },
      items: { type: 'array', items: ref('TargetContainer') },
    },
  },
  Health: {
    type: 'object',
    required: ['status', 'node'],
    properties: { status: { type: 'string' }, node: { type: 'string' } },
  },
  Schedule: {
    type: 'object',
    description: 'A schedule as in the schedules file (agent/schedules/schedule-config.ts), with its status.',
    required: ['name'],
    properties: {
      name: { type: 'string' },
      event: { ...EVENT_SCHEMA, default: DEFAULT_PROFILE_EVENT, description: 'What every capture records.' },
    },
  },
  ListResponse: {
    type: 'object',
    required: ['node', 'items'],
    properties: { node: { type: 'string' }, items: { type: 'array', items: { type: 'object' } } },
  },
};

/** Version of the API described (the `/v1` paths), not of the agent build. */
export const AGENT_API_VERSION = '1.0.0';

/** The document; built once per call (callers keep it), so nothing runs on import. */
export function agentOpenApiDocument(): Json {
  return {
    openapi: '3.0.3',
    info: {
      title: 'podflame agent API',
      version: AGENT_API_VERSION,
      description:
        'One agent per node: on-demand CPU flame graphs of containers on this node, stored profiles and schedules. ' +
        `Every answer names the node in ${HEADERS.node}. Errors are {"error": {"code", "message", "details"}}. ` +
        'Request bodies are JSON sent as application/json (else 415 UNSUPPORTED_MEDIA_TYPE). A request whose Origin ' +
        "is not the agent's own is refused (403 FOREIGN_ORIGIN), a /v1 request whose Sec-Fetch-Site is cross-site " +
        'or same-site (403 CROSS_SITE_REQUEST), and with --auth none one whose Host is not a loopback name ' +
        '(403 HOST_NOT_ALLOWED). Requests with refused credentials are limited per client address, ' +
        'and API requests per caller (429 RATE_LIMITED with Retry-After).',
    },
    components: {
      schemas: SCHEMAS,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'With --auth kubernetes or --auth token.' },
        podflameAuthorization: {
          type: 'apiKey',
          in: 'header',
          name: HEADERS.authorization,
          description: 'The same credentials, for callers behind the API server pod proxy (which drops Authorization).',
        },
      },
    },
    paths: {
      '/healthz': {
        get: { summary: 'The process answers.', responses: { '200': jsonBody(ref('Health'), 'Alive.') } },
      },
      '/readyz': {
        get: {
          summary: 'The Docker engine answers and the capture image is present.',
          responses: {
            '200': jsonBody({ type: 'object' }, 'Ready.'),
            '503': errorAnswer('Not ready (AGENT_NOT_READY), with each reason.'),
          },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics of the agent.',
          responses: { '200': { description: 'Text exposition format.', content: { 'text/plain': {} } } },
        },
      },
      [v1('/openapi.json')]: {
        get: { summary: 'This document.', responses: { '200': jsonBody({ type: 'object' }, 'OpenAPI 3.0.') } },
      },
      [v1('/targets')]: {
        get: {
          summary: 'Containers on this node that can be profiled (only those the caller may profile).',
          responses: { '200': jsonBody(ref('TargetsResponse'), 'The containers.'), '401': errorAnswer('No caller.') },
        },
      },
      [v1('/profiles')]: {
        post: {
          summary: 'Profile a container now; answers when the capture is done (or at once with ?async=1).',
          parameters: [query('async', '1 answers 202 at once; poll the location.')],
          requestBody: { required: true, content: { 'application/json': { schema: ref('ProfileRequest') } } },
          responses: {
            '200': {
              description: `The profile in the requested format; ${HEADERS.profileId}, ${HEADERS.samples}, ${HEADERS.jitResolved} and ${HEADERS.warnings} headers.`,
              content: {
                'image/svg+xml': { schema: { type: 'string' } },
                'text/plain': { schema: { type: 'string' } },
                'application/json': { schema: ref('ProfileJson') },
              },
            },
            '202': jsonBody(ref('ProfileAccepted'), 'Started (async).'),
            '400': errorAnswer('Invalid request.'),
            '403': errorAnswer(
              'The caller may profile pods of the namespace, but this pod runs on another node or its labels do ' +
                'not match the API server (FORBIDDEN).',
            ),
            '404': errorAnswer(
              'No such running container on this node, or one the caller may not profile: both get the same ' +
                'answer (TARGET_NOT_FOUND).',
            ),
            '415': errorAnswer('The body is not sent as application/json (UNSUPPORTED_MEDIA_TYPE).'),
            '429': errorAnswer(
              'Too many captures at once: on the agent (TOO_MANY_CAPTURES, --max-concurrent) or of the namespace ' +
                '(TOO_MANY_NAMESPACE_CAPTURES, --namespace-max-concurrent); Retry-After says when to retry.',
            ),
          },
        },
        get: {
          summary: 'Stored profiles (needs --data-dir), each with its event.',
          parameters: [
            ...FILTER_QUERY,
            ...RANGE_QUERY,
            eventQuery('Only profiles of this event (default: every event)'),
          ],
          responses: {
            '200': jsonBody(ref('ListResponse'), 'The stored profiles, newest first.'),
            '404': errorAnswer('No store on this agent (NO_STORED_PROFILES).'),
            '409': AMBIGUOUS_SCHEDULE,
          },
        },
      },
      [v1('/profiles/recent')]: {
        get: {
          summary:
            'On-demand profiles this agent keeps in memory (running, and the latest --profile-retention finished), ' +
            'newest first; only those the caller may read.',
          responses: {
            '200': jsonBody(ref('RecentProfilesResponse'), 'The profiles.'),
            '400': errorAnswer('A query parameter (it takes none).'),
            '401': errorAnswer('No caller.'),
          },
        },
      },
      [v1('/profiles/{id}')]: {
        get: {
          summary: 'A recent profile: status and metadata.',
          parameters: [idParam],
          responses: {
            '200': jsonBody(ref('ProfileMetadata'), 'The profile.'),
            '404': errorAnswer('Unknown id, or a profile the caller may not read (PROFILE_NOT_FOUND).'),
          },
        },
      },
      [v1('/profiles/{id}/flamegraph.svg')]: {
        get: {
          summary: 'A recent profile as an SVG flame graph.',
          parameters: [idParam],
          responses: {
            '200': { description: 'SVG.', content: { 'image/svg+xml': { schema: { type: 'string' } } } },
            '404': errorAnswer('Unknown id, or a profile the caller may not read (PROFILE_NOT_FOUND).'),
          },
        },
      },
      [v1('/profiles/{id}/folded')]: {
        get: {
          summary: 'A recent profile as folded stacks.',
          parameters: [idParam],
          responses: {
            '200': { description: 'Folded stacks.', content: { 'text/plain': { schema: { type: 'string' } } } },
            '404': errorAnswer('Unknown id, or a profile the caller may not read (PROFILE_NOT_FOUND).'),
          },
        },
      },
      [v1('/flamegraph')]: {
        get: {
          summary: `Stored profiles matching the filter, merged into one flame graph of one event (${HISTORY_HEADERS.event}).`,
          parameters: [
            ...FILTER_QUERY,
            ...RANGE_QUERY,
            eventQuery('The event merged (default cpu; events are never mixed)'),
            graphFormat(HISTORY_FORMATS),
          ],
          responses: {
            '200': graphAnswer('The merged graph (pprof: gzipped protobuf).', HISTORY_FORMATS),
            '400': errorAnswer('A bad parameter (INVALID_REQUEST).'),
            '404': errorAnswer('Nothing matches, or no store.'),
            '409': AMBIGUOUS_SCHEDULE,
            '503': MERGES_BUSY,
            '507': MERGE_TOO_LARGE,
          },
        },
      },
      [v1('/diff')]: {
        get: {
          summary: 'Differential flame graph of two time ranges of stored profiles.',
          parameters: [
            ...FILTER_QUERY,
            query('baseFrom', 'Start of the base range.'),
            query('baseTo', 'End of the base range.'),
            query('targetFrom', 'Start of the target range.'),
            query('targetTo', 'End of the target range.'),
            graphFormat(DIFF_FORMATS),
            query('normalize', 'Scale both sides to the same total.'),
            eventQuery('The event of both sides (default cpu)'),
            query('baseEvent', "The base side's event instead of event; must be the target's.", EVENT_SCHEMA),
            query('targetEvent', "The target side's event instead of event; must be the base's.", EVENT_SCHEMA),
          ],
          responses: {
            '200': graphAnswer('The differential graph.', DIFF_FORMATS),
            '400': errorAnswer(
              'A bad parameter (INVALID_REQUEST), or sides of different events (EVENT_MISMATCH, details: base, target).',
            ),
            '404': errorAnswer('Nothing matches.'),
            '409': AMBIGUOUS_SCHEDULE,
            '503': MERGES_BUSY,
            '507': MERGE_TOO_LARGE,
          },
        },
      },
      [v1('/schedules')]: {
        get: {
          summary: 'The schedules of this agent with their status, in the namespaces the caller may see.',
          parameters: [scheduleNamespace('Only the schedules of this namespace (403 when the caller may not see it).')],
          responses: {
            '200': jsonBody(ref('ListResponse'), 'The schedules.'),
            '403': errorAnswer('The caller may not profile pods of the namespace named.'),
          },
        },
      },
      [v1('/schedules/{name}')]: {
        get: {
          summary: 'One schedule with its status.',
          description: SCHEDULE_BY_NAME,
          parameters: [nameParam, scheduleNamespace("The schedule's namespace.")],
          responses: {
            '200': jsonBody(ref('Schedule'), 'The schedule.'),
            '403': errorAnswer('The caller may not profile pods of the namespace named.'),
            '404': errorAnswer('Unknown schedule (SCHEDULE_NOT_FOUND).'),
            '409': AMBIGUOUS_SCHEDULE,
          },
        },
        put: {
          summary: 'Create or replace a schedule (same fields as in the schedules file).',
          description:
            "The schedule is the body's namespace and the path's name: other namespaces may have schedules of the " +
            'same name, which this leaves alone.',
          parameters: [nameParam, scheduleNamespace("Optional; when given, the body's namespace (else 400).")],
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
          responses: {
            '200': jsonBody(ref('Schedule'), 'Replaced.'),
            '201': jsonBody(ref('Schedule'), 'Created.'),
            '400': errorAnswer('Invalid schedule, or its retention above --schedule-max-retention.'),
            '415': errorAnswer('The body is not sent as application/json (UNSUPPORTED_MEDIA_TYPE).'),
            '403': errorAnswer(
              'The caller may not profile the namespace (FORBIDDEN), or the namespace already has ' +
                '--namespace-max-schedules schedules (QUOTA_EXCEEDED; details: quota, limit, namespace).',
            ),
          },
        },
        delete: {
          summary: 'Remove a schedule.',
          description: SCHEDULE_BY_NAME,
          parameters: [nameParam, scheduleNamespace("The schedule's namespace.")],
          responses: {
            '204': { description: 'Removed.' },
            '403': errorAnswer('The caller may not profile pods of the namespace named.'),
            '404': errorAnswer('Unknown schedule (SCHEDULE_NOT_FOUND).'),
            '409': errorAnswer(
              'Several namespaces the caller may see have a schedule of that name (SCHEDULE_AMBIGUOUS): add ' +
                'namespace; or the schedule is defined in the schedules file (SCHEDULE_READ_ONLY).',
            ),
          },
        },
      },
    },
  };
}
