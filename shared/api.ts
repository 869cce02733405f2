/**
 * Agent API v1: request and response shapes shared by the agent (which validates them) and the client (which sends
 * and reads them). Requests are validated with zod in strict mode: unknown fields are rejected, not ignored.
 */
import { MINWIDTH_FLOOR_PERCENT, MINWIDTH_FLOOR_PX } from './render/options.js';
import { DEFAULT_PROFILE_EVENT, PROFILE_EVENTS, type ProfileEvent } from './profile-events.js';
import { z } from 'zod';

export const API_PREFIX = '/v1';

/** Response headers of a finished capture. */
export const HEADERS = {
  profileId: 'x-podflame-profile-id',
  samples: 'x-podflame-samples',
  /** JSON array of CaptureWarning, URI-encoded so any text survives an HTTP header. */
  warnings: 'x-podflame-warnings',
  node: 'x-podflame-node',
  /** Share (0..1) of JIT-compiled frames whose names resolved through the perf map. */
  jitResolved: 'x-podflame-jit-resolved',
  /** Caller's credentials on every path (the API server's pod proxy drops Authorization). */
  authorization: 'x-podflame-authorization',
} as const;

export const LIMITS = {
  durationSeconds: { min: 1, max: 600, default: 30 },
  frequencyHz: { min: 1, max: 999, default: 99 },
} as const;

// Kubernetes names: DNS-1123 labels; container IDs: hex. Nothing else can ever reach Docker or a command line.
const containerName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a Kubernetes container name (lowercase letters, digits and -)');
const podUid = z.string().regex(/^[0-9a-fA-F-]{8,64}$/, 'a pod UID such as 3f1c2a9e-5b7d-4c1e-9a8f-1d2e3f4a5b6c');
const containerId = z
  .string()
  .regex(/^(docker:\/\/|containerd:\/\/|cri-o:\/\/)?[0-9a-f]{12,64}$/, 'a container ID of 12 to 64 hex digits');

export const ProfileTargetSchema = z.union([
  z.object({ podUid, container: containerName }).strict(),
  z.object({ containerId }).strict(),
]);

export const OUTPUT_FORMATS = ['svg', 'folded', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Renderer options a request may set: a safe subset (no files are read on the agent). */
export const RenderRequestSchema = z
  .object({
    title: z.string().max(200).optional(),
    subtitle: z.string().max(200).optional(),
    width: z.number().int().min(100).max(10000).optional(),
    minwidth: z
      .union([
        z
          .number()
          .min(MINWIDTH_FLOOR_PX, `must be at least ${MINWIDTH_FLOOR_PX} px or ${MINWIDTH_FLOOR_PERCENT}%`)
          .max(1000),
        z.string().regex(/^\d+(\.\d+)?%$/),
      ])
      .optional(),
    colors: z.string().max(20).optional(),
    inverted: z.boolean().optional(),
    reverse: z.boolean().optional(),
    hash: z.boolean().optional(),
  })
  .strict();

/** What a request leaves out of `java`. */
export const DEFAULT_JAVA_REQUEST = Object.freeze({ inlined: false });

/**
 * JVM-specific capture options. `inlined`: load podflame's JVMTI agent into each JVM so that its perf map names the
 * methods the JIT inlined at each address (frames tagged `_[i]`); default false, since loading an agent into a
 * running JVM is intrusive (on JDK 21+ the JVM logs a warning about a dynamically loaded agent).
 */
export const JavaRequestSchema = z.object({ inlined: z.boolean().default(DEFAULT_JAVA_REQUEST.inlined) }).strict();

export const ProfileRequestSchema = z
  .object({
    target: ProfileTargetSchema,
    durationSeconds: z
      .number()
      .int()
      .min(LIMITS.durationSeconds.min)
      .max(LIMITS.durationSeconds.max)
      .default(LIMITS.durationSeconds.default),
    frequencyHz: z
      .number()
      .int()
      .min(LIMITS.frequencyHz.min)
      .max(LIMITS.frequencyHz.max)
      .default(LIMITS.frequencyHz.default),
    format: z.enum(OUTPUT_FORMATS).default('svg'),
    title: z.string().max(200).optional(),
    render: RenderRequestSchema.optional(),
    java: JavaRequestSchema.optional(),
    /** What to record: `cpu` (perf, any process) or a JVM's Flight Recorder event (`alloc`, `lock`, `wall`). */
    event: z.enum(PROFILE_EVENTS).default(DEFAULT_PROFILE_EVENT),
  })
  .strict();

export type ProfileTarget = z.infer<typeof ProfileTargetSchema>;
export type ProfileRequest = z.input<typeof ProfileRequestSchema>;
export type ValidProfileRequest = z.output<typeof ProfileRequestSchema>;
export type JavaRequest = z.output<typeof JavaRequestSchema>;

/** A problem the capture found that makes the graph incomplete or misleading; shown to the user, never hidden. */
export interface CaptureWarning {
  /** Stable code, e.g. NO_PRESERVE_FRAME_POINTER, JDK_TOO_OLD, ATTACH_FAILED, TARGET_EXITED, NO_JVM. */
  code: string;
  message: string;
  pid?: number;
}

export type ProfileStatus = 'running' | 'done' | 'failed';

export interface ResolvedTarget {
  containerId: string;
  containerName?: string;
  podUid?: string;
  podName?: string;
  namespace?: string;
}

/** A schedule: its namespace and name. */
export interface ScheduleRef {
  namespace: string;
  name: string;
}

export interface ProfileMetadata {
  id: string;
  status: ProfileStatus;
  node: string;
  target: ResolvedTarget;
  startedAt: string;
  finishedAt?: string;
  durationSeconds: number;
  frequencyHz: number;
  /** The request's JVM options, defaults filled in: whether inlined frames were asked for. */
  java: JavaRequest;
  /** What the profile counts; its unit is EVENT_KINDS[event].unit. */
  event: ProfileEvent;
  /** The sum of the stacks' counts: samples for cpu and wall, bytes for alloc, nanoseconds for lock. */
  samples: number;
  /** Share (0..1) of JIT frames that resolved to Java names; null when there were none. */
  jitResolved: number | null;
  warnings: CaptureWarning[];
  /**
   * Set when the profile was larger than the agent keeps (its `--max-stacks`, `--max-profile-bytes`): how many of its
   * smaller stacks were dropped and their samples, counted under the root frame `[dropped stacks]` (warning
   * PROFILE_TOO_LARGE).
   */
  dropped?: { stacks: number; samples: number };
  error?: { code: string; message: string };
  /** The schedule that took this profile; absent for one asked for with POST /v1/profiles. */
  schedule?: ScheduleRef;
  /** Where the time went, in ms (see CaptureTimings); set once the capture has finished. */
  timings?: CaptureTimings;
}

/** The phases of one capture, in ms, measured by the agent (for `npm run bench` and slow-capture reports). */
export interface CaptureTimings {
  /** Finding the target container (Docker listing). */
  resolve: number;
  /** runCapture until the capture container was running (create + attach + start). */
  containerStart: number;
  /** Container running until its first byte of perf script: perf record for the duration, then the JVMs' perf maps. */
  recordAndPerfmap: number;
  /** First to last byte of perf script, collapsed as it streamed. */
  perfScript: number;
  /** Of which, CPU time inside the collapser. */
  collapse: number;
  /** End of output until the capture container had exited and was removed. */
  exitAndRemove: number;
  /** Rendering the answer (SVG or text), when one was rendered. */
  render?: number;
  /** Admission to the end of the capture (without rendering). */
  total: number;
  /** Inside the capture container, as its script measured (checks, recording, maps, script, ...; see CaptureExit). */
  capture?: Record<string, number>;
}

/** `202 Accepted` answer to `POST /v1/profiles?async=1`; `location` is the status URL. */
export interface ProfileAccepted {
  id: string;
  status: ProfileStatus;
  location: string;
}

/** `format: "json"`: the metadata plus the folded stacks, sorted by stack. */
export interface ProfileJson extends ProfileMetadata {
  /**
   * `events`: how many events made up the stack's count, for an event that counts them (a lock profile's
   * contentions, pprof's `contentions/count`); absent for the others, and from agents before it.
   */
  stacks: { stack: string; count: number; events?: number }[];
}

export interface TargetContainer {
  containerId: string;
  name: string;
  image: string;
  state: string;
  podUid?: string;
  podName?: string;
  namespace?: string;
  containerName?: string;
  /** True when a process in the container looks like a JVM (from the container's process list). */
  jvm: boolean;
}

export interface TargetsResponse {
  node: string;
  /** The capture path in use: `docker` (capture containers through the Docker engine) or `host` (/proc and cgroups). */
  runtime: 'docker' | 'host';
  items: TargetContainer[];
}

/** `GET /v1/profiles/recent`: the on-demand profiles this agent process keeps in memory, newest first. */
export interface RecentProfilesResponse {
  node: string;
  items: ProfileMetadata[];
}
