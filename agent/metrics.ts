/**
 * The agent's Prometheus metrics, on a registry of its own (never prom-client's global one, so two agents in one
 * process — tests — don't collide). `GET /metrics` serves `registry`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class AgentMetrics {
  readonly registry = new Registry();

  /** Finished captures by outcome: `ok`, or the error code in lower case (`no_samples`, `capture_failed`, ...). */
  readonly capturesTotal = new Counter({
    name: 'podflame_captures_total',
    help: 'Captures finished, by outcome (ok or the error code)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly captureDuration = new Histogram({
    name: 'podflame_capture_duration_seconds',
    help: 'Wall time of a capture, from admission to result (or error)',
    labelNames: ['outcome'] as const,
    buckets: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900],
    registers: [this.registry],
  });

  /** What a caller waits beyond the duration asked for: container start, perf map, perf script, collapse, render. */
  readonly captureOverhead = new Histogram({
    name: 'podflame_capture_overhead_seconds',
    help: 'Wall time of a successful capture minus its requested duration',
    buckets: [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30],
    registers: [this.registry],
  });

  /**
   * Where a successful capture's time went, phase by phase: the agent's own phases (`resolve`, `containerStart`,
   * `recordAndPerfmap`, `perfScript`, `collapse`, `exitAndRemove`, `total`) as in the profile's `timings`, and the
   * capture script's (`capture_checks`, `capture_perf-start`, `capture_recording`, `capture_perf-stop`, `capture_maps`,
   * `capture_script`; `capture_dump` for Flight Recorder events; see CaptureExit.timings).
   */
  readonly capturePhase = new Histogram({
    name: 'podflame_capture_phase_seconds',
    help: "Time of each phase of a successful capture (the profile's timings; capture_* inside the capture script)",
    labelNames: ['phase'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900],
    registers: [this.registry],
  });

  readonly capturesInFlight = new Gauge({
    name: 'podflame_captures_in_flight',
    help: 'Captures running now',
    registers: [this.registry],
  });

  readonly samplesTotal = new Counter({
    name: 'podflame_samples_total',
    help: 'perf samples collapsed into successful profiles',
    registers: [this.registry],
  });

  /** perf script lines the collapser did not understand: a perf whose output format changed shows here first. */
  readonly collapseSkippedLinesTotal = new Counter({
    name: 'podflame_collapse_skipped_lines_total',
    help: 'Lines of perf script output the collapser did not recognize and skipped',
    registers: [this.registry],
  });

  /** Failed calls into the capture path (the Docker engine, or host mode's /proc and tools), by runtime and operation. */
  readonly runtimeErrorsTotal = new Counter({
    name: 'podflame_runtime_errors_total',
    help: 'Container runtime calls that failed, by runtime (docker, host) and operation',
    labelNames: ['runtime', 'operation'] as const,
    registers: [this.registry],
  });

  readonly rejectedTotal = new Counter({
    name: 'podflame_requests_rejected_total',
    help: 'Capture requests refused before a container started, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  /** Connections closed as soon as accepted, by the cap they hit: `total` or `address` (--max-connections*). */
  readonly connectionsRefusedTotal = new Counter({
    name: 'podflame_connections_refused_total',
    help: 'Connections closed as soon as accepted because a cap was reached, by cap (total, address)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly connectionsOpen = new Gauge({
    name: 'podflame_connections_open',
    help: 'Client connections open now (those within the caps)',
    registers: [this.registry],
  });

  constructor() {
    // Process metrics (RSS, event loop lag, ...) are collected on scrape: no timer runs.
    collectDefaultMetrics({ register: this.registry, prefix: 'podflame_agent_' });
  }

  contentType(): string {
    return this.registry.contentType;
  }

  async render(): Promise<string> {
    return this.registry.metrics();
  }
}
