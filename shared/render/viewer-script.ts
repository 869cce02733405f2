/**
 * The JavaScript embedded in every SVG: the interactive viewer flamegraph.pl users know, written for podflame.
 * Same page elements (`#frames`, `#details`, `#unzoom`, `#search`, `#ignorecase`, `#matched`, a `<title>` in each
 * frame) and URL state (`?x=&y=` zoomed frame, `&s=` search term), so links and habits carry over:
 *
 * - hover a frame: its details (name, count, share) under the graph;
 * - click a frame: zoom into it (ancestors dimmed with class `parent`, unrelated frames get class `hide`); click
 *   an ancestor or "Reset Zoom" to go back;
 * - "Search" (or Ctrl-F / F3): a regular expression over function names; matches turn magenta and "Matched: N%"
 *   shows their share (nested matches counted once); "ic" (or Ctrl-I) toggles case-insensitive matching.
 *
 * Kept to ES5 so that any SVG viewer with a script engine runs it.
 */
import { jsStringLiteral } from './xml.js';

export interface ViewerConfig {
  nametype: string;
  fontsize: number;
  fontwidth: number;
  xpad: number;
  inverted: boolean;
  searchcolor: string;
}

export function viewerScript(config: ViewerConfig): string {
  const literal =
    `{nametype: ${jsStringLiteral(config.nametype)}, fontsize: ${String(config.fontsize)}, ` +
    `fontwidth: ${String(config.fontwidth)}, xpad: ${String(config.xpad)}, inverted: ${String(config.inverted)}, ` +
    `searchcolor: ${jsStringLiteral(config.searchcolor)}}`;
  return VIEWER_SOURCE.replace('__CONFIG__', literal);
}

const VIEWER_SOURCE = String.raw`
"use strict";
var fg = __CONFIG__;
var fgState = { frames: [], byRect: null, details: null, searchBtn: null, caseBtn: null, unzoomBtn: null,
	matched: null, fullWidth: 0, zoomed: null, term: null, ignoreCase: false };

function init(evt) {
	var s = fgState;
	s.details = document.getElementById("details").firstChild;
	s.searchBtn = document.getElementById("search");
	s.caseBtn = document.getElementById("ignorecase");
	s.unzoomBtn = document.getElementById("unzoom");
	s.matched = document.getElementById("matched");
	var root = document.documentElement;
	s.fullWidth = parseFloat(root.getAttribute("width")) - 2 * fg.xpad;
	var groups = document.getElementById("frames").children;
	for (var i = 0; i < groups.length; i++) {
		var g = groups[i];
		var rect = g.querySelector("rect"), text = g.querySelector("text"), title = g.querySelector("title");
		if (!rect || !text || !title) continue;
		var label = title.textContent;
		g.fgIndex = s.frames.length;
		s.frames.push({
			g: g, rect: rect, text: text, title: label,
			name: label.replace(/ \([^(]*\)$/, ""),
			x: parseFloat(rect.getAttribute("x")), width: parseFloat(rect.getAttribute("width")),
			y: parseFloat(rect.getAttribute("y")), xText: rect.getAttribute("x"), yText: rect.getAttribute("y"),
			widthText: rect.getAttribute("width"),
			fill: rect.getAttribute("fill")
		});
	}
	window.addEventListener("click", fgOnClick, false);
	window.addEventListener("mouseover", function (e) {
		var f = fgFrameOf(e.target);
		if (f) s.details.nodeValue = fg.nametype + " " + f.title;
	}, false);
	window.addEventListener("mouseout", function (e) {
		if (fgFrameOf(e.target)) s.details.nodeValue = " ";
	}, false);
	window.addEventListener("keydown", function (e) {
		if (e.keyCode === 114 || (e.ctrlKey && e.keyCode === 70)) {
			e.preventDefault();
			fgSearchPrompt();
		} else if (e.ctrlKey && e.keyCode === 73) {
			e.preventDefault();
			fgToggleIgnoreCase();
		}
	}, false);
	var params = fgGetParams();
	if (params.x !== undefined && params.y !== undefined) {
		for (var j = 0; j < s.frames.length; j++) {
			var f = s.frames[j];
			if (f.xText === params.x && f.yText === params.y) { fgZoom(f); break; }
		}
	}
	if (params.s) fgSearch(params.s);
}

// The frame (an entry of fgState.frames) an event target belongs to, if any.
function fgFrameOf(node) {
	while (node && node.parentNode) {
		if (node.parentNode.id === "frames") return node.fgIndex === undefined ? null : fgState.frames[node.fgIndex];
		node = node.parentNode;
	}
	return null;
}

function fgOnClick(e) {
	var f = fgFrameOf(e.target);
	if (f) {
		// A frame with a link (--nameattr href) follows it; Ctrl-click zooms instead.
		if (f.g.nodeName === "a") {
			if (!e.ctrlKey) return;
			e.preventDefault();
		}
		// The root, or an ancestor at full width: back to the whole graph.
		if (f.width >= fgState.fullWidth - 0.0001) { fgClearZoom(); return; }
		fgZoom(f);
		var params = fgGetParams();
		params.x = f.xText;
		params.y = f.yText;
		fgSetParams(params);
		return;
	}
	var id = e.target && e.target.id;
	if (id === "unzoom") fgClearZoom();
	else if (id === "search") fgSearchPrompt();
	else if (id === "ignorecase") fgToggleIgnoreCase();
}

// URL state: ?x=<frame x>&y=<frame y> for the zoomed frame, s=<search term>.
function fgGetParams() {
	var params = {};
	var parts = window.location.search.substr(1).split("&");
	for (var i = 0; i < parts.length; i++) {
		var eq = parts[i].indexOf("=");
		if (eq <= 0) continue;
		var value = parts[i].substr(eq + 1);
		if (value === "") continue;
		try { params[parts[i].substr(0, eq)] = decodeURIComponent(value); } catch (err) { /* ignore a bad escape */ }
	}
	return params;
}
function fgSetParams(params) {
	var query = [];
	for (var key in params) {
		if (Object.prototype.hasOwnProperty.call(params, key)) query.push(key + "=" + encodeURIComponent(params[key]));
	}
	var url = window.location.href.split("?")[0].split("#")[0];
	if (query.length) url += "?" + query.join("&");
	try { history.replaceState(null, "", url); } catch (err) { /* e.g. file: URLs in some viewers */ }
}

// Fits the label to the frame's current width, cutting it with ".." as flamegraph.pl does.
function fgUpdateText(f) {
	var x = parseFloat(f.rect.getAttribute("x"));
	var w = parseFloat(f.rect.getAttribute("width")) - 3;
	var t = f.text;
	t.setAttribute("x", (x + 3).toFixed(2));
	var label = f.name.replace(/_\[[kwij]\]$/, "");
	if (w < 2 * fg.fontsize * fg.fontwidth) { t.textContent = ""; return; }
	t.textContent = label;
	if (/^ *$/.test(label)) return;
	var full = t.getSubStringLength(0, label.length);
	if (full <= w) return;
	// Measured on the full label: the first n + 2 characters stand in for n characters and "..".
	for (var n = Math.min(label.length - 2, Math.floor(label.length * w / full)); n > 0; n--) {
		if (t.getSubStringLength(0, n + 2) <= w) { t.textContent = label.substring(0, n) + ".."; return; }
	}
	t.textContent = "";
}

function fgResetGeometry() {
	var frames = fgState.frames;
	for (var i = 0; i < frames.length; i++) {
		var f = frames[i];
		f.g.classList.remove("parent");
		f.g.classList.remove("hide");
		f.rect.setAttribute("x", f.xText);
		f.rect.setAttribute("width", f.widthText);
	}
}

function fgZoom(target) {
	var s = fgState;
	// A frame drawn 0.0 px wide (a URL pointing at one) cannot be magnified.
	if (!(target.width > 0)) return;
	fgResetGeometry();
	var xmin = target.x, xmax = target.x + target.width, ymin = target.y;
	var ratio = s.fullWidth / target.width;
	var fudge = 0.0001;
	for (var i = 0; i < s.frames.length; i++) {
		var f = s.frames[i];
		var above = fg.inverted ? f.y < ymin : f.y > ymin;
		if (above) {
			if (f.x <= xmin + fudge && f.x + f.width + fudge >= xmax) {
				f.g.classList.add("parent");
				f.rect.setAttribute("x", String(fg.xpad));
				f.rect.setAttribute("width", String(s.fullWidth));
			} else {
				f.g.classList.add("hide");
			}
		} else if (f.x < xmin - fudge || f.x + fudge >= xmax) {
			f.g.classList.add("hide");
		} else {
			f.rect.setAttribute("x", String(fg.xpad + (f.x - xmin) * ratio));
			f.rect.setAttribute("width", String(f.width * ratio));
		}
	}
	s.zoomed = target;
	for (var j = 0; j < s.frames.length; j++) if (!s.frames[j].g.classList.contains("hide")) fgUpdateText(s.frames[j]);
	s.unzoomBtn.classList.remove("hide");
	fgSearch();
}

function fgClearZoom() {
	var s = fgState;
	fgResetGeometry();
	s.zoomed = null;
	for (var i = 0; i < s.frames.length; i++) fgUpdateText(s.frames[i]);
	s.unzoomBtn.classList.add("hide");
	var params = fgGetParams();
	delete params.x;
	delete params.y;
	fgSetParams(params);
	fgSearch();
}

function fgToggleIgnoreCase() {
	var s = fgState;
	s.ignoreCase = !s.ignoreCase;
	if (s.ignoreCase) s.caseBtn.classList.add("show");
	else s.caseBtn.classList.remove("show");
	fgSearch();
}

function fgSearchPrompt() {
	var s = fgState;
	if (s.term !== null) { fgResetSearch(); return; }
	var term = prompt("Enter a search term (regexp allowed, eg: ^ext4_)" +
		(s.ignoreCase ? ", ignoring case" : "") + "\nPress Ctrl-i to toggle case sensitivity", "");
	if (term !== null && term !== "") fgSearch(term);
}

function fgClearHighlight() {
	var frames = fgState.frames;
	for (var i = 0; i < frames.length; i++) frames[i].rect.setAttribute("fill", frames[i].fill);
}

function fgResetSearch() {
	var s = fgState;
	s.term = null;
	fgClearHighlight();
	s.searchBtn.classList.remove("show");
	s.searchBtn.firstChild.nodeValue = "Search";
	s.matched.classList.add("hide");
	s.matched.firstChild.nodeValue = " ";
	var params = fgGetParams();
	delete params.s;
	fgSetParams(params);
}

// Highlights the frames whose function name matches and shows their share of the visible graph.
function fgSearch(term) {
	var s = fgState;
	if (term !== undefined) s.term = term;
	if (s.term === null) return;
	fgClearHighlight();
	var re;
	try {
		re = new RegExp(s.term, s.ignoreCase ? "i" : "");
	} catch (err) {
		s.matched.classList.remove("hide");
		s.matched.firstChild.nodeValue = "Invalid regexp";
		return;
	}
	var spans = [];
	var maxWidth = 0;
	for (var i = 0; i < s.frames.length; i++) {
		var f = s.frames[i];
		if (f.g.classList.contains("hide")) continue;
		var x = parseFloat(f.rect.getAttribute("x")), w = parseFloat(f.rect.getAttribute("width"));
		if (w > maxWidth) maxWidth = w;
		if (re.test(f.name)) {
			f.rect.setAttribute("fill", fg.searchcolor);
			spans.push([x, w]);
		}
	}
	// Nested matches overlap their ancestors: count the union of [x, x + w) spans once.
	spans.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });
	var covered = 0, end = -Infinity, fudge = 0.0001;
	for (var k = 0; k < spans.length; k++) {
		var sx = spans[k][0], se = spans[k][0] + spans[k][1];
		if (sx >= end - fudge) { covered += se - sx; end = se; }
		else if (se > end) { covered += se - end; end = se; }
	}
	var pct = maxWidth > 0 ? 100 * covered / maxWidth : 0;
	var params = fgGetParams();
	params.s = s.term;
	fgSetParams(params);
	s.searchBtn.classList.add("show");
	s.searchBtn.firstChild.nodeValue = "Reset Search";
	s.matched.classList.remove("hide");
	s.matched.firstChild.nodeValue = "Matched: " + (Math.abs(pct - 100) < 0.0001 ? "100" : pct.toFixed(1)) + "%";
}
`;
