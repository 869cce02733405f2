/**
 * Text that someone else wrote (an agent's or the API server's answer), made safe to print on a terminal: a hostile
 * answer must not be able to clear the screen, set the window title, hide text in colours, or reorder what the
 * reader sees. So control characters go (C0, DEL, C1: every escape sequence starts with one), line breaks become
 * spaces (one answer stays on one line), and the Unicode bidi controls go too (U+202A–U+202E, U+2066–U+2069, the
 * marks U+200E/U+200F and U+061C), which turn `evil.txt\u202Egnp.` into what looks like another name.
 */

/** How much of someone else's text goes into one message, in characters, unless the caller says otherwise. */
export const MAX_FOREIGN_TEXT_CHARS = 300;

// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` without control and bidi characters, line breaks as spaces, cut to `max` characters (marked with `…`). */
export function terminalSafe(text: string, max: number = MAX_FOREIGN_TEXT_CHARS): string {
  // Cut first, so a 50 MB message costs no 50 MB of replacing.
  const head = text.length > max * 4 ? text.slice(0, max * 4) : text;
  const clean = head.replace(/[\r\n\t]+/g, ' ').replace(CONTROLS, '');
  return clean.length > max || head.length < text.length ? `${clean.slice(0, max)}…` : clean;
}
