// Hand-written SVG charts. Each returns a <figure>: the drawing, and beside
// it the same numbers as text (a table), so nothing is only in the picture.
'use strict';
(function () {
  const NS = 'http://www.w3.org/2000/svg';
  const PALETTE = ['#2357c6', '#c0612b', '#2e8b57', '#8e44ad', '#b8860b', '#d6336c', '#0f7c8c', '#6b6b6b'];

  function s(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(w, h, label) {
    return s('svg', { viewBox: `0 0 ${w} ${h}`, width: w, height: h, role: 'img', 'aria-label': label });
  }
  function figure(drawing, table) {
    const f = document.createElement('figure');
    const c = document.createElement('figcaption');
    const wrap = document.createElement('div');
    wrap.className = 'scroll';
    wrap.tabIndex = 0;
    wrap.appendChild(table);
    c.appendChild(wrap);
    f.append(drawing, c);
    return f;
  }
  function table(head, rows) {
    const t = document.createElement('table');
    const tr = t.createTHead().insertRow();
    head.forEach((h, i) => {
      const th = document.createElement('th');
      th.textContent = h;
      if (i > 0) th.className = 'n';
      tr.appendChild(th);
    });
    const b = t.createTBody();
    rows.forEach((r) => {
      const row = b.insertRow();
      r.forEach((v, i) => {
        const td = row.insertCell();
        td.textContent = v;
        if (i > 0) td.className = 'n';
      });
    });
    return t;
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  const short = (v) => (Math.abs(v) >= 1000 ? (v / 1000).toFixed(Math.abs(v) >= 10000 ? 0 : 1) + 'k' : String(+v.toFixed(Math.abs(v) >= 10 ? 0 : 2)));

  // A legend entry in its series' colour. Set through the CSSOM: a fill
  // attribute loses to the stylesheet's `svg text` rule, and the CSP
  // (style-src 'self') refuses style attributes.
  function tinted(el, color) {
    el.style.fill = color;
    el.classList.add('legend');
    return el;
  }

  // Lines over x categories. series: [{name, values:[number|null]}]; fmt formats numbers in the table.
  // The y axis starts at 0, or below it when a value is negative.
  function line(title, xLabels, series, fmt) {
    const W = 420, H = 200, L = 44, R = 10, T = 12, B = 28;
    const g = svg(W, H, title);
    const all = series.flatMap((x) => x.values).filter((v) => v != null);
    const max = niceMax(Math.max(...all, 0));
    const least = Math.min(...all, 0);
    const min = least < 0 ? -niceMax(-least) : 0;
    const x = (i) => L + (xLabels.length < 2 ? (W - L - R) / 2 : (i * (W - L - R)) / (xLabels.length - 1));
    const y = (v) => T + (H - T - B) * (1 - (v - min) / (max - min));
    for (let k = 0; k <= 4; k++) {
      const v = min + ((max - min) * k) / 4;
      g.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#e3e6eb' }), s('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end' }, short(v)));
    }
    if (min < 0) g.append(s('line', { x1: L, x2: W - R, y1: y(0), y2: y(0), stroke: '#9aa3b0', 'stroke-dasharray': '3 3' }));
    const step = Math.max(1, Math.ceil(xLabels.length / 8));
    xLabels.forEach((l, i) => { if (i % step === 0 || i === xLabels.length - 1) g.append(s('text', { x: x(i), y: H - 8, 'text-anchor': 'middle' }, l)); });
    series.forEach((se, j) => {
      const color = PALETTE[j % PALETTE.length];
      const pts = se.values.map((v, i) => (v == null ? null : [x(i), y(v)])).filter(Boolean);
      if (pts.length > 1) g.append(s('polyline', { points: pts.map((p) => p.join(',')).join(' '), fill: 'none', stroke: color, 'stroke-width': 2 }));
      pts.forEach((p) => g.append(s('circle', { cx: p[0], cy: p[1], r: 3, fill: color })));
      g.append(tinted(s('text', { x: L + 6 + j * 110, y: T + 10 }, '● ' + se.name), color));
    });
    const rows = xLabels.map((l, i) => [l, ...series.map((se) => (se.values[i] == null ? '–' : fmt(se.values[i])))]);
    return figure(g, table(['', ...series.map((x) => x.name)], rows));
  }

  // Horizontal bars. rows: [{label, value}]
  function bars(title, rows, fmt, head) {
    const W = 420, rowH = 22, L = 130, R = 56, H = rows.length * rowH + 8;
    const g = svg(W, Math.max(H, 30), title);
    const max = niceMax(Math.max(...rows.map((r) => r.value), 0));
    rows.forEach((r, i) => {
      const w = ((W - L - R) * r.value) / max;
      const yy = 4 + i * rowH;
      g.append(
        s('text', { x: L - 6, y: yy + 14, 'text-anchor': 'end' }, r.label.length > 20 ? r.label.slice(0, 19) + '…' : r.label),
        s('rect', { x: L, y: yy + 3, width: Math.max(w, 1), height: rowH - 7, fill: PALETTE[0], rx: 2 }),
        s('text', { x: L + w + 4, y: yy + 14 }, fmt(r.value)),
      );
    });
    return figure(g, table(head || ['', 'value'], rows.map((r) => [r.label, fmt(r.value)])));
  }

  // Stacked columns. columns: [{label, counts:{key:n}}], keys in stacking order.
  function stacked(title, columns, keys) {
    const W = 420, H = 200, L = 44, R = 10, T = 24, B = 26;
    const g = svg(W, H, title);
    const totals = columns.map((c) => keys.reduce((a, k) => a + (c.counts[k] || 0), 0));
    const max = niceMax(Math.max(...totals, 0));
    const bw = (W - L - R) / Math.max(columns.length, 1);
    const y = (v) => T + (H - T - B) * (1 - v / max);
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      g.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#e3e6eb' }), s('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end' }, short(v)));
    }
    columns.forEach((c, i) => {
      let acc = 0;
      keys.forEach((k, j) => {
        const v = c.counts[k] || 0;
        if (v > 0) g.append(s('rect', { x: L + i * bw + 1, y: y(acc + v), width: Math.max(bw - 2, 1), height: y(acc) - y(acc + v), fill: PALETTE[j % PALETTE.length] }));
        acc += v;
      });
      if (i % Math.max(1, Math.ceil(columns.length / 6)) === 0) g.append(s('text', { x: L + i * bw + bw / 2, y: H - 8, 'text-anchor': 'middle' }, c.label));
    });
    keys.forEach((k, j) => g.append(tinted(s('text', { x: L + (j % 4) * 92, y: 10 + Math.floor(j / 4) * 12 }, '■ ' + k), PALETTE[j % PALETTE.length])));
    const sums = keys.map((k) => [k, String(columns.reduce((a, c) => a + (c.counts[k] || 0), 0))]);
    return figure(g, table(['type', 'events'], sums));
  }

  // Bubbles on two axes. points: [{label, x, y, size}]
  function scatter(title, points, xName, yName, fmtX, fmtY) {
    const W = 420, H = 240, L = 48, R = 16, T = 14, B = 34;
    const g = svg(W, H, title);
    // From 0 when every value is positive, else the data's range padded.
    const range = (vals) => {
      const lo = Math.min(...vals), hi = Math.max(...vals);
      if (lo >= 0) return [0, niceMax(hi * 1.15)];
      const pad = (hi - lo) * 0.18 || 1;
      return [lo - pad, hi + pad];
    };
    const [x0, x1] = range(points.map((p) => p.x));
    const [y0, y1] = range(points.map((p) => p.y));
    const maxSize = Math.max(...points.map((p) => p.size), 1);
    const x = (v) => L + ((W - L - R) * (v - x0)) / (x1 - x0);
    const y = (v) => T + (H - T - B) * (1 - (v - y0) / (y1 - y0));
    g.append(s('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: '#9aa3b0' }), s('line', { x1: L, x2: L, y1: T, y2: H - B, stroke: '#9aa3b0' }));
    g.append(s('text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle' }, xName), s('text', { x: 4, y: T - 2 }, yName));
    [0, 0.5, 1].forEach((f) => {
      const vx = x0 + (x1 - x0) * f, vy = y0 + (y1 - y0) * f;
      g.append(s('text', { x: x(vx), y: H - B + 14, 'text-anchor': 'middle' }, short(vx)), s('text', { x: L - 4, y: y(vy) + 4, 'text-anchor': 'end' }, short(vy)));
    });
    points.forEach((p, i) => {
      const r = 4 + 18 * Math.sqrt(p.size / maxSize);
      g.append(s('circle', { cx: x(p.x), cy: y(p.y), r, fill: PALETTE[i % PALETTE.length], 'fill-opacity': 0.55, stroke: PALETTE[i % PALETTE.length] }), s('text', { x: x(p.x), y: y(p.y) + 4, 'text-anchor': 'middle' }, p.label));
    });
    return figure(g, table(['segment', xName, yName, 'size'], points.map((p) => [p.label, fmtX(p.x), fmtY(p.y), String(p.size)])));
  }

  // Point estimates with intervals. rows: [{label, value, low, high}]; a zero line when the range crosses 0.
  function intervals(title, rows, fmt) {
    const W = 420, rowH = 26, L = 110, R = 16, H = rows.length * rowH + 26;
    const g = svg(W, H, title);
    const vals = rows.flatMap((r) => [r.low, r.high, r.value]).filter((v) => v != null && isFinite(v));
    let lo = Math.min(0, ...vals), hi = Math.max(0, ...vals);
    if (hi - lo < 1e-9) { lo -= 0.01; hi += 0.01; }
    const pad = (hi - lo) * 0.08;
    lo -= pad; hi += pad;
    const x = (v) => L + ((W - L - R) * (v - lo)) / (hi - lo);
    g.append(s('line', { x1: x(0), x2: x(0), y1: 2, y2: H - 20, stroke: '#9aa3b0', 'stroke-dasharray': '3 3' }));
    g.append(s('text', { x: x(lo + pad), y: H - 6, 'text-anchor': 'start' }, fmt(lo + pad)), s('text', { x: x(hi - pad), y: H - 6, 'text-anchor': 'end' }, fmt(hi - pad)));
    rows.forEach((r, i) => {
      const yy = 8 + i * rowH + rowH / 2;
      g.append(s('text', { x: L - 6, y: yy + 4, 'text-anchor': 'end' }, r.label.length > 16 ? r.label.slice(0, 15) + '…' : r.label));
      if (r.low != null && r.high != null) g.append(s('line', { x1: x(r.low), x2: x(r.high), y1: yy, y2: yy, stroke: PALETTE[0], 'stroke-width': 3 }));
      if (r.value != null) g.append(s('circle', { cx: x(r.value), cy: yy, r: 5, fill: PALETTE[1] }));
    });
    const t = table(['', 'estimate', '95% interval'], rows.map((r) => [r.label, r.value == null ? '–' : fmt(r.value), r.low == null ? '–' : `${fmt(r.low)} to ${fmt(r.high)}`]));
    return figure(g, t);
  }

  // Classical MDS (PCA of the rows): two coordinates per row, from the top
  // two eigenvectors of the centred Gram matrix by power iteration.
  function pca2(rows) {
    const k = rows.length, d = rows.length ? rows[0].length : 0;
    const mean = Array(d).fill(0);
    rows.forEach((r) => r.forEach((v, j) => { mean[j] += v / k; }));
    const X = rows.map((r) => r.map((v, j) => v - mean[j]));
    const G = X.map((a) => X.map((b) => a.reduce((acc, v, j) => acc + v * b[j], 0)));
    const comps = [];
    for (let c = 0; c < 2; c++) {
      let v = G.map((_, i) => 1 + ((i * 7 + c * 3) % 5)), lambda = 0;
      for (let it = 0; it < 300; it++) {
        let w = G.map((row) => row.reduce((acc, g, j) => acc + g * v[j], 0));
        for (const [u] of comps) { const dot = w.reduce((acc, x, i) => acc + x * u[i], 0); w = w.map((x, i) => x - dot * u[i]); }
        const n = Math.hypot(...w);
        if (!(n > 1e-12)) { lambda = 0; break; }
        lambda = n;
        v = w.map((x) => x / n);
      }
      comps.push([v, lambda]);
    }
    return X.map((_, i) => comps.map(([u, l]) => u[i] * Math.sqrt(l)));
  }

  window.Charts = { line, bars, stacked, scatter, intervals, table, pca2 };
})();
