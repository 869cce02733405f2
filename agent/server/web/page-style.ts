/** The web page's style sheet (served as `/ui/podflame.css`): system fonts, no external resources. */
export const WEB_PAGE_STYLE = String.raw`:root {
  --bg: #f5f6f8; --card: #fff; --ink: #1d2330; --muted: #6b7383; --line: #e3e6eb; --accent: #d9480f;
  --ok: #2b8a3e; --warn: #b7791f; --bad: #c92a2a; --run: #1c7ed6; --idle: #868e96; --sel: #fff4e6;
  color-scheme: light;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
code { font: 12.5px/1.3 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eef0f3;
  padding: 1px 4px; border-radius: 4px; }
a { color: var(--run); }
button { font: inherit; padding: 4px 10px; border: 1px solid #c5cad3; border-radius: 6px; background: #fff;
  color: var(--ink); cursor: pointer; }
button:hover:not(:disabled) { border-color: var(--accent); color: var(--accent); }
button:disabled { color: var(--idle); cursor: default; background: #f1f3f5; }
button.quiet { border-color: transparent; background: transparent; color: var(--muted); }
select, input[type=datetime-local] { font: inherit; padding: 3px 6px; border: 1px solid #c5cad3; border-radius: 6px;
  background: #fff; color: var(--ink); max-width: 18em; }
input[type=password] { font: inherit; padding: 4px 8px; border: 1px solid #c5cad3; border-radius: 6px; width: 16em; }

.bar { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: center;
  justify-content: space-between; padding: 10px 24px; background: #1d2330; color: #fff; }
.brand { display: flex; align-items: baseline; gap: 12px; }
.brand h1 { margin: 0; font-size: 20px; letter-spacing: .02em; }
.logo { align-self: center; width: 18px; height: 18px; border-radius: 3px;
  background: linear-gradient(0deg, #e8590c 0 34%, #f59f00 34% 67%, #ffd43b 67%); }
.node { color: #c1c7d0; }
.controls { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 14px; }
.controls .muted { color: #aab1bd; }
.token { display: flex; align-items: center; gap: 6px; margin: 0; }
.token label, .auto { color: #dfe3ea; }
.bar button.quiet { color: #aab1bd; }
.banner { margin: 16px 24px 0; padding: 10px 14px; border-radius: 8px; background: #fff5f5; color: var(--bad);
  border: 1px solid #ffc9c9; }

main { padding: 16px 24px 8px; display: grid; gap: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px;
  overflow-x: auto; }
.card-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 14px; justify-content: space-between; }
.card-head h2 { margin: 0; font-size: 16px; }
.card-head > .muted { margin-right: auto; }
.actions { display: flex; gap: 14px; align-items: center; }
.muted { color: var(--muted); }
.state { margin: 10px 0 0; }
.state:empty { display: none; }
.state.empty { color: var(--muted); }
.state.error { color: var(--bad); }
.state.hint { color: var(--muted); font-size: 13px; }
.state.note { color: var(--muted); font-size: 13px; }

table { width: 100%; border-collapse: collapse; margin-top: 10px; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .04em; padding: 6px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
td { padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
tbody tr:last-child td { border-bottom: 0; }
tbody tr:hover { background: #fafbfc; }
tr.selected, tr.selected:hover { background: var(--sel); }
.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
.sub { color: var(--muted); font-size: 12px; }
.target .pod, .name .pod { font-weight: 600; overflow-wrap: anywhere; }
.target { min-width: 16em; }
.nowrap, td code { white-space: nowrap; }
td.act { text-align: right; white-space: nowrap; }
.error-cell { color: var(--bad); max-width: 28em; }
.warnings { max-width: 22em; }
.warnings .badge { white-space: normal; border-radius: 6px; }

.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; line-height: 18px;
  background: #e9ecef; color: #495057; margin: 0 4px 2px 0; white-space: nowrap; }
.badge.ok { background: #d3f9d8; color: var(--ok); }
.badge.warn { background: #fff3bf; color: #8a5a00; }
.badge.bad { background: #ffe3e3; color: var(--bad); }
.badge.run { background: #d0ebff; color: var(--run); }
.badge.idle { background: #f1f3f5; color: var(--idle); }

.query { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; margin-top: 10px; }
.query label { display: inline-flex; align-items: center; gap: 6px; color: var(--muted); }
.query .custom { display: inline-flex; flex-wrap: wrap; gap: 8px 12px; }
.query .custom[hidden] { display: none; }
.query-actions { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; flex-basis: 100%; }
.query-actions .diff { display: inline-flex; flex-wrap: wrap; align-items: center; gap: 6px; color: var(--muted); }

/* A row's button stays in view when a narrow window scrolls its table sideways. */
td.act { position: sticky; right: 0; background: var(--card); box-shadow: -8px 0 8px -8px rgba(0, 0, 0, .25); }
tbody tr:hover td.act { background: #fafbfc; }
tr.selected td.act { background: var(--sel); }
.error-cell .sub { max-width: 32em; overflow-wrap: anywhere; }
#viewer { border-color: #ffc078; }
.frame-box { margin-top: 10px; }
#viewer-frame { display: block; width: 100%; height: 480px; border: 1px solid var(--line); border-radius: 6px;
  background: #fff; }
#viewer-frame[hidden] { display: none; }
footer { padding: 4px 24px 20px; font-size: 12px; }
@media (max-width: 1100px) {
  body { font-size: 13px; }
  main { padding: 12px; }
  .card { padding: 12px; }
  th, td { padding: 6px 6px; }
}
`;
