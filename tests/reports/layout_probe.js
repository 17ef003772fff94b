// Measures a rendered report in the browser and sends the figures, as JSON, to the page that
// frames it (a frame of the phone's or desktop's width), which writes them into the document
// that `chromium --dump-dom` prints (tests/reports/test_browser_layout.py).
// Everything is measured from the layout the browser computed, not from the markup.
(function () {
  "use strict";
  const vw = document.documentElement.clientWidth;
  const round = (x) => Math.round(x * 100) / 100;
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height };
  };
  const overlap = (a, b, slack) =>
    Math.min(a.right, b.right) - Math.max(a.left, b.left) > slack &&
    Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > slack;
  const inside = (p, b) => p.x > b.left && p.x < b.right && p.y > b.top && p.y < b.bottom;
  const hidden = (el) => {
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      if (getComputedStyle(e).display === "none") return true;
    }
    return false;
  };

  // The rendered size of an SVG <text>: its computed font size times the scale from its own
  // user units to CSS pixels (viewBox scaling and any transform, rotation included).
  function renderedFontPx(text) {
    const m = text.getScreenCTM();
    const scale = Math.sqrt(m.a * m.a + m.b * m.b);
    return parseFloat(getComputedStyle(text).fontSize) * scale;
  }

  // Points along a path, in page pixels (every 1.5 px of path length, at most 4,000 per path).
  function samples(path) {
    const length = path.getTotalLength();
    const m = path.getScreenCTM();
    const n = Math.min(4000, Math.max(2, Math.ceil(length * Math.max(Math.abs(m.a), 0.01) / 1.5)));
    const out = [];
    for (let i = 0; i <= n; i++) {
      const p = path.getPointAtLength((length * i) / n);
      out.push({ x: m.a * p.x + m.c * p.y + m.e, y: m.b * p.x + m.d * p.y + m.f });
    }
    return out;
  }

  // Data marks: groups the charts name "<chart>-series-<k>"; a chart drawn before they were
  // named falls back to matplotlib's own lines, bars and error bars outside ticks and legend.
  function seriesPaths(svg) {
    let groups = [...svg.querySelectorAll('g[id*="-series-"]')];
    if (!groups.length) {
      groups = [...svg.querySelectorAll('g[id*="line2d_"], g[id*="LineCollection"]')].filter(
        (g) => !g.closest('g[id*="tick_"], g[id*="legend"]')
      );
    }
    const paths = [];
    for (const g of groups) {
      for (const p of g.querySelectorAll("path")) {
        if (p.closest("defs")) continue;
        paths.push({ group: g.id, path: p });
      }
      // markers are <use> of a path in <defs>: their boxes are the marks
      for (const u of g.querySelectorAll("use")) paths.push({ group: g.id, use: u });
    }
    return paths;
  }

  const charts = [];
  for (const svg of document.querySelectorAll("svg.chart")) {
    if (hidden(svg)) continue;
    const texts = [...svg.querySelectorAll("text")].filter((t) => t.textContent.trim());
    const fonts = texts.map((t) => ({ text: t.textContent.trim(), px: renderedFontPx(t), box: box(t) }));
    const small = fonts.filter((f) => f.px < 11).map((f) => `${f.text} (${round(f.px)} px)`);
    const textOverlaps = [];
    for (let i = 0; i < fonts.length; i++) {
      for (let j = i + 1; j < fonts.length; j++) {
        if (overlap(fonts[i].box, fonts[j].box, 1)) textOverlaps.push(`${fonts[i].text} / ${fonts[j].text}`);
      }
    }
    const marks = seriesPaths(svg);
    const points = [];
    const markBoxes = [];
    for (const mark of marks) {
      if (mark.path) for (const p of samples(mark.path)) points.push({ group: mark.group, ...p });
      else markBoxes.push({ group: mark.group, box: box(mark.use) });
    }
    // a text crossed by a data line or a marker (the legend's own texts included)
    const struck = [];
    for (const f of fonts) {
      const hit = points.find((p) => inside(p, f.box));
      const mark = markBoxes.find((m) => overlap(m.box, f.box, 1));
      if (hit) struck.push(`${f.text} / ${hit.group}`);
      else if (mark) struck.push(`${f.text} / marker of ${mark.group}`);
    }
    // the legend's box (handles and texts) must not be crossed by a data line
    const legendHits = [];
    for (const legend of svg.querySelectorAll('g[id*="legend"]')) {
      if (legend.parentElement.closest('g[id*="legend"]')) continue;
      const b = box(legend);
      const hits = points.filter((p) => inside(p, b));
      if (hits.length) legendHits.push(`${legend.id}: ${hits.length} points of ${[...new Set(hits.map((h) => h.group))].join(", ")}`);
    }
    // error bars (and lines) of two different series must not cross each other
    const seriesOverlaps = [];
    const boxesBySeries = {};
    for (const mark of marks) {
      const b = mark.path ? box(mark.path) : box(mark.use);
      // one series' parts (line, caps, bar) are "<chart>-series-<k>-interval-<i>"
      const key = mark.group.replace(/(-series-\d+(-interval)?).*$/, "$1");
      (boxesBySeries[key] = boxesBySeries[key] || []).push(b);
    }
    const names = Object.keys(boxesBySeries).filter((n) => /-series-\d+-interval/.test(n));
    for (let i = 0; i < names.length; i++) {
      for (let j = i + 1; j < names.length; j++) {
        for (const a of boxesBySeries[names[i]]) {
          for (const b of boxesBySeries[names[j]]) {
            if (overlap(a, b, 0.5)) seriesOverlaps.push(`${names[i]} / ${names[j]}`);
          }
        }
      }
    }
    charts.push({
      id: (svg.querySelector("title") || {}).id || "",
      width: round(svg.getBoundingClientRect().width),
      minFontPx: round(Math.min(...fonts.map((f) => f.px))),
      small: small,
      textOverlaps: textOverlaps,
      struck: struck,
      legendHits: legendHits,
      seriesOverlaps: [...new Set(seriesOverlaps)],
      marks: marks.length,
    });
  }

  // Tables: wholly inside the viewport, or inside a container that scrolls sideways and shows
  // that it does (a scrollbar that takes room, so it is there before anyone touches it).
  const tables = [];
  for (const table of document.querySelectorAll("table")) {
    if (hidden(table)) continue;
    const b = box(table);
    let wrap = table; // a table may scroll itself (display: block; overflow-x: auto)
    while (wrap && wrap !== document.body && !/(auto|scroll)/.test(getComputedStyle(wrap).overflowX)) {
      wrap = wrap.parentElement;
    }
    if (wrap === document.body) wrap = null;
    const entry = {
      id: table.dataset.table || (table.querySelector("caption") || {}).id || table.id || "",
      right: round(b.right),
      fits: b.left >= -0.5 && b.right <= vw + 0.5,
      scrolls: false,
      scrollbarPx: 0,
      wrapRight: null,
      cellsOutOfView: [],
    };
    if (wrap) {
      const w = box(wrap);
      const style = getComputedStyle(wrap);
      const borders = parseFloat(style.borderTopWidth) + parseFloat(style.borderBottomWidth);
      entry.wrapRight = round(w.right);
      entry.scrolls = wrap.scrollWidth > wrap.clientWidth + 0.5;
      entry.scrollbarPx = round(wrap.offsetHeight - wrap.clientHeight - borders);
    }
    for (const cell of table.querySelectorAll("th, td")) {
      if (box(cell).right > vw + 0.5) entry.cellsOutOfView.push(cell.dataset.col || cell.textContent.trim().slice(0, 30));
    }
    // a caption's words must all be in view unscrolled: a caption as wide as a scrolling table
    // runs on past the edge of the screen (it read "...(IT" on a phone), and no one scrolls to read it
    const caption = table.querySelector("caption");
    entry.captionClipped = false;
    if (caption && !hidden(caption)) {
      const range = document.createRange();
      range.selectNodeContents(caption);
      const edge = Math.min(vw, wrap ? box(wrap).right : vw);
      const right = Math.max(0, ...[...range.getClientRects()].map((r) => r.right));
      entry.captionRight = round(right);
      entry.captionClipped = right > edge + 0.5;
    }
    // cells hidden in a scrolling box count as in view only when the box shows its scrollbar
    entry.ok = entry.scrolls
      ? entry.wrapRight <= vw + 0.5 && entry.scrollbarPx >= 6
      : entry.fits && !entry.cellsOutOfView.length;
    tables.push(entry);
  }

  // anything that sticks out of the page itself (not out of a scrolling container)
  const overflowing = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (overflowing.length >= 10 || hidden(el) || box(el).right <= vw + 0.5) continue;
    let clipped = false;
    for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) {
      if (/(auto|scroll|hidden|clip)/.test(getComputedStyle(e).overflowX)) clipped = true;
    }
    if (!clipped) overflowing.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${el.className && typeof el.className === "string" ? "." + el.className : ""} (right ${round(box(el).right)})`);
  }

  window.parent.postMessage(
    JSON.stringify({
      viewport: vw,
      pageScrollWidth: document.documentElement.scrollWidth,
      pageHeight: Math.ceil(document.documentElement.getBoundingClientRect().height),
      overflowing: overflowing,
      charts: charts,
      tables: tables,
    }),
    "*"
  );
})();
