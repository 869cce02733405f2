/** The flame graph renderer: folded stacks → interactive SVG (flamegraph.pl's output, well-formed and deterministic). */
export { renderFlameGraph, type RenderResult } from './flamegraph.js';
export { DEFAULT_RENDER_OPTIONS, resolveRenderOptions, type RenderOptions } from './options.js';
export { parseNameAttrs, type NameAttrs, type ParsedNameAttrs } from './nameattr.js';
export { parsePaletteMap, serializePaletteMap } from './palette-map.js';
export { PALETTES, BACKGROUNDS, type PaletteName, type BackgroundName } from './palette.js';
