/** What the renderer writes into the viewer script for one graph (replacing `__CONFIG__`, see viewer-script.ts). */
export interface ViewerConfig {
  /** Prefix of the details line, e.g. `Function:`. */
  nametype: string;
  fontsize: number;
  fontwidth: number;
  /** Left and right padding of the graph, in px. */
  xpad: number;
  /** Icicle graph: the root at the top. */
  inverted: boolean;
  /** Fill of frames that match a search. */
  searchcolor: string;
}
