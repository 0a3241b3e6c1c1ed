// The courserec console: a small single-page app over the public API.
// Pages are hash routes; every figure comes from an API response.
'use strict';
(function () {
  const KEY = 'courserec.key';
  const main = document.getElementById('main');
  const C = window.Charts;
  const F = window.Format;
  const { RFM_GROUPS, money, pct, num, int } = F;
  // Routes the server documents in /openapi.json: parts of the console that
  // need routes this server lacks say so instead of calling them.
  const paths = fetch('/openapi.json').then((r) => r.json()).then((d) => new Set(Object.keys(d.paths || {})));

  // ---------- helpers ----------
  function h(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'class') e.className = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids.flat()) if (k != null) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  const when = (t) => (t ? new Date(t).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : '–');
  const stat = (k, v, id) => h('div', { class: 'card stat' }, h('span', { class: 'v', id }, v), h('span', { class: 'k' }, k));
  const note = (text, id) => h('p', { class: 'note', 'data-testid': id }, text);
  const card = (title, ...kids) => h('section', { class: 'card' }, h('h2', {}, title), ...kids);
  const courseLink = (id, text) => h('a', { href: '#/courses/' + encodeURIComponent(id) }, text == null ? id : text);
  // Course ids as links separated by commas.
  const courseLinks = (ids) => ids.flatMap((c, i) => (i ? [', ', courseLink(c)] : [courseLink(c)]));
  const scroll = (t) => h('div', { class: 'scroll', tabindex: '0' }, t);
  // Labels of a list item: the merchandising rule that placed or moved it,
  // and whether an exploration slot gave it.
  const itemTags = (it) => [].concat(it.rule_id ? [' ', h('span', { class: 'chip tag-rule', 'data-rule-id': it.rule_id }, 'rule ' + it.rule_id)] : [],
    it.explored ? [' ', h('span', { class: 'chip tag-explored' }, 'exploration')] : []);
  function table(head, rows, numeric, id) {
    return scroll(h('table', { id }, h('thead', {}, h('tr', {}, head.map((x, i) => h('th', { class: numeric && numeric[i] ? 'n' : null }, x)))),
      h('tbody', {}, rows.map((r) => (r instanceof Node ? r : h('tr', {}, r.map((x, i) => h('td', { class: numeric && numeric[i] ? 'n' : null }, x))))))));
  }

  class ApiError extends Error {
    constructor(status, code, message, details) { super(message); this.status = status; this.code = code; this.details = details || []; }
  }

  // Every call goes through here: the key (if any) as a bearer token, JSON
  // errors turned into ApiError, a 401 opens the key prompt.
  async function api(path, opts = {}) {
    const headers = Object.assign({}, opts.headers);
    const key = sessionStorage.getItem(KEY);
    if (key) headers.Authorization = 'Bearer ' + key;
    let body;
    if (opts.body !== undefined) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(opts.body); }
    const r = await fetch(path, { method: opts.method || 'GET', headers, body });
    if (r.status === 401) { askForKey(key ? 'That key was refused.' : ''); throw new ApiError(401, 'unauthorized', 'an API key is needed'); }
    if (opts.raw && r.ok) return r;
    const data = r.status === 204 ? null : await r.json().catch(() => null);
    const err = (data && data.error) || {};
    if (!r.ok) throw new ApiError(r.status, err.code, err.message || r.statusText, err.details);
    return data;
  }
  const has = async (p) => (await paths).has(p);
  function failure(e) {
    if (e.status === 403) return note('This key may not read this (' + e.message + ').', 'forbidden');
    const fields = (e.details || []).map((d) => `${d.field}: ${d.reason}`).join('; ');
    return h('p', { class: 'error', role: 'alert' }, `Could not load: ${e.message}${e.code ? ' (' + e.code + ')' : ''}${fields ? ': ' + fields : ''}`);
  }
  // Saves what `path` answers as CSV (with the console's key) under `filename`.
  async function downloadCsv(path, filename) {
    const r = await api(path, { headers: { Accept: 'text/csv' }, raw: true });
    const url = URL.createObjectURL(await r.blob());
    const a = h('a', { href: url, download: filename });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }
  // ---------- key prompt ----------
  const prompt = document.getElementById('key-prompt');
  const forget = document.getElementById('forget-key');
  function askForKey(msg) {
    prompt.hidden = false;
    main.hidden = true;
    document.getElementById('key-error').textContent = msg || '';
    document.getElementById('key-input').focus();
  }
  document.getElementById('key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = document.getElementById('key-input').value.trim();
    if (!v) return;
    sessionStorage.setItem(KEY, v);
    document.getElementById('key-input').value = '';
    prompt.hidden = true;
    main.hidden = false;
    forget.hidden = false;
    route();
  });
  forget.hidden = !sessionStorage.getItem(KEY);
  forget.addEventListener('click', () => { sessionStorage.removeItem(KEY); forget.hidden = true; askForKey(''); });

  // ---------- pages ----------
  async function overview() {
    const [model, hist, stats, ready] = await Promise.allSettled([
      api('/model'),
      has('/model/history').then((ok) => (ok ? api('/model/history?limit=20') : Promise.reject(new ApiError(404, 'not_available', 'no history on this server')))),
      has('/events/stats').then((ok) => (ok ? api('/events/stats?hours=24') : Promise.reject(new ApiError(404, 'not_available', 'no event statistics on this server')))),
      fetch('/readyz').then((r) => r.json()),
    ]);
    const out = [h('h1', {}, 'Overview')];
    if (model.status === 'rejected') throw model.reason;
    const m = model.value;
    const rd = ready.status === 'fulfilled' ? ready.value : { status: 'unknown' };
    out.push(h('div', { class: 'cards' },
      stat('model version', m.version == null ? 'none yet' : String(m.version), 'model-version'),
      stat('trained at', when(m.trained_at), 'trained-at'),
      stat('training time', m.training_seconds == null ? '–' : m.training_seconds.toFixed(1) + ' s'),
      stat('users · courses', `${int(m.n_users)} · ${int(m.n_courses)}`),
      stat('events trained on', int(m.n_events)),
      stat('store', `${rd.store || rd.status} (${rd.backend || '?'})`, 'store-health')));
    out.push(trainingControls(m));
    if (m.version == null && !m.n_events) {
      out.push(card('Getting started', note('No events yet. Post behaviour events to POST /events, load a history with ' +
        'the command line (a CSV bulk load), or restart with --demo for a generated platform. ' +
        'A model is trained once there are events; popularity serves until then.', 'empty-platform')));
    }
    if (m.metrics && m.baseline_metrics) {
      const keys = ['precision', 'recall', 'ndcg', 'map', 'hit_rate', 'coverage'];
      out.push(card('Holdout metrics at K=10 (this version)', table(['metric', 'model', 'popularity', 'ratio'],
        keys.map((k) => [k, num(m.metrics[k]), num(m.baseline_metrics[k]), m.baseline_metrics[k] > 0 ? (m.metrics[k] / m.baseline_metrics[k]).toFixed(2) + '×' : '–']), [0, 1, 1, 1])));
    }
    if (m.paths && m.paths.next_course) out.push(nextCourseCard(m.paths));
    if (m.marketing && m.marketing.uplift) out.push(upliftCard(m.marketing.uplift));
    if (hist.status === 'fulfilled') {
      const runs = hist.value.items;
      const pub = runs.filter((r) => r.status === 'published' && r.metrics).reverse();
      const failed = runs.filter((r) => r.status === 'failed');
      out.push(h('div', { class: 'grid' },
        card('NDCG@10 by version: model vs popularity',
          pub.length ? C.line('NDCG at 10 of each published version, model and popularity baseline', pub.map((r) => 'v' + r.version),
            [{ name: 'model', values: pub.map((r) => r.metrics.ndcg) }, { name: 'popularity', values: pub.map((r) => r.baseline_metrics && r.baseline_metrics.ndcg) }], (v) => v.toFixed(4))
            : note('No published version with holdout metrics yet.')),
        card('Training runs',
          h('p', {}, `${runs.length} recent runs, `, h('strong', { id: 'failure-count' }, String(failed.length)), ' failed.'),
          table(['finished', 'status', 'version', 'seconds', 'reason'], runs.slice(0, 10).map((r) => [when(r.finished_at), r.status, r.version == null ? '–' : String(r.version), r.training_seconds.toFixed(1), r.reason || '']), [0, 0, 1, 1, 0]))));
    } else out.push(card('Model history', note('Model history is not available on this server.', 'history-unavailable')));
    if (stats.status === 'fulfilled') {
      const st = stats.value;
      const keys = Object.keys(st.totals);
      out.push(card(`Events ingested by type, last ${st.hours} hours (${int(st.total)} in all)`,
        C.stacked('Events ingested per hour, stacked by type', st.buckets.map((b) => ({ label: b.hour.slice(11, 13) + 'h', counts: b.counts })), keys)));
    } else out.push(card('Events ingested', failure(stats.reason)));
    return out;
  }

  // The order model's holdout: each candidate at predicting a learner's next
  // course, whether order matters at all (shuffle test), and whether the
  // blend won enough to serve in /recommend.
  const VERDICTS = {
    order_carries_signal: 'the order learners take courses in carries signal',
    order_hurts: 'the learned order does worse than a shuffled one',
    no_detectable_signal: 'no detectable signal in the order',
  };
  function nextCourseCard(p) {
    const r = p.next_course, st = r.shuffle_test;
    return card('Next course (holdout)',
      h('p', { class: 'muted' }, `The first course each of ${int(r.test_users)} test learners started after the training period, predicted from the ones before.`),
      table(['candidate', `HR@${r.k}`, `NDCG@${r.k}`], r.candidates.map((c) => [c.name, num(c.hit_rate), num(c.ndcg)]), [0, 1, 1], 'next-course-table'),
      h('p', { id: 'next-course-shuffle' }, `Shuffle test: ${VERDICTS[st.verdict] || st.verdict} `
        + `(NDCG ${num(st.ndcg_ordered)} ordered vs ${num(st.ndcg_shuffled)} shuffled, p = ${num(st.p_value)}).`),
      h('p', { id: 'next-course-blend' }, p.serving_blend
        ? `The blend serves in recommendations (weight ${num(p.blend_weight, 2)}, NDCG gain ${num(r.blend_gain, 4)}, p = ${num(r.blend_p_value)}).`
        : `The blend does not serve: its NDCG gain ${num(r.blend_gain, 4)} (p = ${num(r.blend_p_value)}) did not win.`));
  }

  const UPLIFT_SERVING = { this_training: 'this training\'s', previous_training: 'the previous training\'s' };
  // The uplift model behind rank_by=uplift and uplift targeting: which one
  // serves, and what the latest training measured on past campaigns (the
  // held-out Qini of each candidate ranking, with 95 % intervals).
  function upliftCard(u) {
    const f = u.fit;
    const ci = (x) => (x ? `${num(x[0], 4)} to ${num(x[1], 4)}` : '–');
    const serving = u.serving
      ? `Serving: ${UPLIFT_SERVING[u.serving] || words(u.serving)} model (${words(u.serving_method)}).`
      : 'No uplift model serves: uplift targeting is not available yet.';
    const min = u.min_effect == null ? '' : ` Learners whose uplift is within ${F.points(u.min_effect, 1).replace('+', '')} of zero count as unmoved (sure thing or lost cause).`;
    const out = [h('p', { id: 'uplift-serving' }, serving + min)];
    if (!f) return h('section', { class: 'card', id: 'uplift-card' }, h('h2', {}, 'Uplift model'), out, note('No uplift fit yet.', 'uplift-no-fit'));
    const g = f.gain_over_propensity;
    out.push(h('p', { id: 'uplift-status' }, `Latest fit: ${words(f.status)}${f.method ? ' (' + words(f.method) + ')' : ''}${f.reason ? ': ' + f.reason : ''}.`),
      h('div', { class: 'cards' }, stat('campaigns', int(f.campaigns), 'uplift-campaigns'), stat('randomised learners', int(f.learners), 'uplift-learners'),
        stat('treated · control', `${int(f.treated)} · ${int(f.control)}`), stat('conversions', int(f.conversions)),
        f.learners_needed != null ? stat('learners still needed', int(f.learners_needed), 'uplift-learners-needed') : null),
      (f.candidates || []).length ? table(['ranking', 'Qini (held out)', '95% interval'], f.candidates.map((c) => h('tr', { 'data-method': c.method },
        h('td', {}, words(c.method)), h('td', { class: 'n' }, num(c.qini, 4)), h('td', { class: 'n' }, ci(c.qini_ci)))), [0, 1, 1], 'uplift-candidates') : null,
      g ? h('p', { id: 'uplift-gain' }, `Gain of ${words(g.method)} over propensity: ${num(g.qini, 4)} (95% interval ${ci(g.qini_ci)}).`) : null,
      (f.by_offer_kind || []).length ? table(['offer kind', 'campaigns', 'learners', 'Qini', '95% interval', 'learners still needed'], f.by_offer_kind.map((k) => [
        k.offer_kind, int(k.campaigns), int(k.learners), num(k.qini, 4), ci(k.qini_ci), k.learners_needed == null ? '–' : int(k.learners_needed)]), [0, 1, 1, 1, 1, 1]) : null,
      h('p', { class: 'muted' }, `Validation: ${words(f.validation || null)}; ${int(f.bootstrap_replicates)} bootstrap replicates.`));
    return h('section', { class: 'card', id: 'uplift-card' }, h('h2', {}, 'Uplift model'), out);
  }

  // "Training: evaluate (phase 4 of about 7), 3.2 s so far".
  function runningText(p) {
    if (!p) return 'A training is running; this page refreshes until it ends.';
    return `Training: ${p.name} (phase ${p.phases_done + 1} of about 7), ${p.seconds.toFixed(1)} s so far; this page refreshes until it ends.`;
  }
  // Retrain now (admin key), and while a training runs, the page refreshes
  // itself every 2 s until the new version shows.
  function trainingControls(m) {
    const msg = h('span', { class: 'muted', id: 'retrain-status', role: 'status' },
      m.training ? runningText(m.training_phase) : '');
    const button = h('button', {
      type: 'button', id: 'retrain', disabled: m.training,
      onclick: async () => {
        button.disabled = true;
        try {
          await api('/model/retrain', { method: 'POST' });
          msg.textContent = 'Training started; this page refreshes until it ends.';
          setTimeout(refreshOverview, 2000);
        } catch (e) {
          msg.textContent = e.code === 'training_in_progress' ? 'A training is already running.'
            : e.status === 403 ? 'Retraining needs a key with the admin scope.' : `Could not start: ${e.message}`;
          button.disabled = false;
        }
      },
    }, m.training ? 'Training…' : 'Retrain now');
    if (m.training) setTimeout(refreshOverview, 2000);
    return h('div', { class: 'actions' }, button, ' ', msg);
  }
  function refreshOverview() {
    if ((location.hash.replace(/^#\/?/, '') || 'overview').startsWith('overview')) route();
  }

  async function segments() {
    const data = await api('/segments');
    const segs = data.segments;
    const out = [h('h1', {}, 'Segments')];
    out.push(h('div', { class: 'cards' },
      stat('taste segments', String(segs.length), 'segment-count'),
      stat('silhouette', data.silhouette == null ? '–' : data.silhouette.toFixed(3)),
      stat('model version', data.model_version == null ? '–' : String(data.model_version)),
      stat('users segmented', int(segs.reduce((a, x) => a + x.size, 0)))));
    if (!segs.length) return out.concat(note('No segments yet: the first training makes them.'));
    const rows = segs.map((x) => h('tr', { 'data-segment-id': String(x.id) },
      h('td', {}, String(x.id)), h('td', {}, x.label), h('td', { class: 'n', 'data-size': String(x.size) }, int(x.size)), h('td', { class: 'n' }, pct(x.share)),
      h('td', {}, x.top_categories.map((c) => h('span', { class: 'chip' }, `${c.category} ${pct(c.share, 0)}`))),
      h('td', { class: 'n' }, num(x.activity.mean_events_30d, 1)), h('td', { class: 'n' }, num(x.activity.mean_recency_days, 0)),
      h('td', { class: 'n' }, pct(x.activity.buyer_share)), h('td', { class: 'n' }, money(x.activity.mean_spend_cents))));
    out.push(card('Taste segments', table(['id', 'label', 'size', 'share', 'top categories', 'events / 30 d', 'days since seen', 'buyers', 'mean spend'], rows, [0, 0, 1, 1, 0, 1, 1, 1, 1])));
    out.push(h('div', { class: 'grid' },
      card('Sizes', C.bars('Segment sizes', segs.map((x) => ({ label: `${x.id} ${x.label}`, value: x.size })), int, ['segment', 'users'])),
      card('Taste map: category mix, first two principal axes (bubble area = size)', tasteMap(segs)),
      card('Value map: activity against spend (bubble area = size)', C.scatter('Segments by mean events in 30 days and mean spend',
        segs.map((x) => ({ label: String(x.id), x: x.activity.mean_events_30d, y: x.activity.mean_spend_cents / 100, size: x.size })),
        'events / 30 d', 'mean spend ($)', (v) => v.toFixed(1), (v) => money(v * 100)))));
    out.push(await rfmCard());
    out.push(membersCard(segs));
    return out;
  }

  // Segments placed by their category mix (top categories' shares), so
  // segments with similar tastes sit close together.
  function tasteMap(segs) {
    const cats = [...new Set(segs.flatMap((x) => x.top_categories.map((c) => c.category)))];
    const rows = segs.map((x) => cats.map((c) => (x.top_categories.find((t) => t.category === c) || { share: 0 }).share));
    const xy = C.pca2(rows);
    return C.scatter('Segments by category mix', segs.map((x, i) => ({ label: String(x.id), x: xy[i][0], y: xy[i][1], size: x.size })),
      'taste axis 1', 'taste axis 2', (v) => v.toFixed(3), (v) => v.toFixed(3));
  }

  // RFM group sizes come from /audiences (the marketing API) when the server has it.
  async function rfmCard() {
    if (!(await has('/audiences'))) return card('RFM groups', note('RFM groups are not available on this server (it has no GET /audiences).', 'rfm-unavailable'));
    try {
      const sizes = await Promise.all(RFM_GROUPS.map((g) => api('/audiences?limit=1&rfm=' + g).then((a) => ({ label: g, value: a.size }))));
      return card('RFM groups', C.bars('Learners per RFM group', sizes, int, ['group', 'learners']));
    } catch (e) { return card('RFM groups', failure(e)); }
  }

  function membersCard(segs) {
    const list = h('div', { id: 'members' });
    const sel = h('select', { id: 'member-segment' }, segs.map((x) => h('option', { value: String(x.id) }, `${x.id} · ${x.label}`)));
    let after = null;
    async function load(reset) {
      if (reset) { after = null; list.replaceChildren(); }
      try {
        const p = await api(`/segments/${sel.value}/users?limit=50${after ? '&after=' + encodeURIComponent(after) : ''}`);
        after = p.next;
        list.append(h('p', { class: 'muted' }, `${int(p.total)} members`),
          h('ul', {}, p.users.map((u) => h('li', {}, h('a', { href: '#/learners/' + encodeURIComponent(u) }, u)))));
        more.disabled = !after;
      } catch (e) { list.append(failure(e)); }
    }
    async function csv() {
      try { await downloadCsv(`/segments/${sel.value}/users`, `segment-${sel.value}.csv`); } catch (e) { list.prepend(failure(e)); }
    }
    const more = h('button', { type: 'button', class: 'secondary', onclick: () => load(false) }, 'More');
    sel.addEventListener('change', () => load(true));
    load(true);
    return card('Members', h('form', { class: 'row', onsubmit: (e) => e.preventDefault() },
      h('label', {}, 'segment', sel), h('button', { type: 'button', id: 'export-csv', onclick: csv }, 'Export CSV')), list, more);
  }

  async function learners(id) {
    const input = h('input', { id: 'learner-id', required: true, value: id || '', placeholder: 'user id', 'aria-label': 'learner id' });
    const form = h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); location.hash = '#/learners/' + encodeURIComponent(input.value.trim()); } },
      h('label', {}, 'learner id', input), h('button', { type: 'submit' }, 'Look up'));
    const out = [h('h1', {}, 'Learners'), form];
    if (!id) {
      try {
        const segs = (await api('/segments')).segments;
        if (segs.length) {
          const p = await api(`/segments/${segs[0].id}/users?limit=5`);
          out.push(h('p', {}, 'For example: ', p.users.map((u) => [h('a', { href: '#/learners/' + encodeURIComponent(u) }, u), ' '])));
        }
      } catch (e) { if (e.status !== 503) out.push(failure(e)); }
      return out;
    }
    const q = encodeURIComponent(id);
    const [prof, recs] = await Promise.allSettled([api(`/users/${q}/profile`), api(`/recommend/${q}?n=10&explain=true`)]);
    const grid = h('div', { class: 'grid' });
    out.push(grid);
    if (prof.status === 'fulfilled') {
      const p = prof.value;
      const counts = Object.entries(p.counts || {});
      grid.append(card('Profile',
        table(['', ''], [
          ['segment', p.segment ? `${p.segment.segment_id} · ${p.segment.label || ''}` : '–'],
          ['net spend', money(p.spend_cents)],
          ['days since last event', p.recency_days == null ? '–' : p.recency_days.toFixed(1)],
          ['events in 30 / 90 days', `${p.events_30d} / ${p.events_90d}`],
          ['events by type', counts.map(([k, v]) => `${k} ${v}`).join(', ') || '–'],
          ['interests', (p.interests || []).slice(0, 5).map((c) => `${c.category} ${pct(c.share, 0)}`).join(', ') || '–'],
        ])));
      const pr = p.predictions, rfm = p.rfm;
      grid.append(card('Predictions and RFM',
        pr ? table(['', ''], [
          [`purchase in ${pr.horizon_days} days`, pct(pr.purchase_probability)],
          ['churn', pr.churn_probability == null ? 'not active recently' : pct(pr.churn_probability)],
          ['predicted spend', money(pr.predicted_spend_cents)]]) : note('Predictions are not available on this server.', 'predictions-unavailable'),
        rfm ? h('p', { id: 'rfm-group' }, `RFM ${rfm.r}-${rfm.f}-${rfm.m}: `, h('strong', {}, rfm.group.replace(/_/g, ' '))) : note('RFM groups are not available on this server.', 'learner-rfm-unavailable')));
      grid.append(feedbackCard(p.feedback));
    } else grid.append(card('Profile', prof.reason.status === 404 ? note(`No learner "${id}".`, 'learner-not-found') : failure(prof.reason)));
    if (recs.status === 'fulfilled') {
      const r = recs.value;
      // Items carry their titles; reasons name the learner's own courses.
      const items = r.items.map((it) => ({ it, c: it, why: it.reasons || [] }));
      grid.append(card(`Recommendations (${r.strategy}, model ${r.model_version == null ? '–' : r.model_version})`,
        items.length ? h('ol', { class: 'recs', id: 'recommendations' }, items.map(({ it, c, why }) => h('li', { 'data-course-id': it.course_id },
          h('a', { href: '#/courses/' + encodeURIComponent(it.course_id) }, c.title), ` (${it.course_id}, ${c.category || '?'}) score ${num(it.score)}`, itemTags(it),
          (it.missing_prerequisites || []).length ? h('span', { class: 'needs' }, ' needs: ', courseLinks(it.missing_prerequisites)) : null,
          why.length ? h('div', { class: 'muted' }, 'because of: ' + why.map((w) => w.title).join('; ')) : null)))
          : note('No recommendations.')));
    } else grid.append(card('Recommendations', failure(recs.reason)));
    const first = recs.status === 'fulfilled' && recs.value.items[0];
    grid.append(pathCard(id, first ? first.category : ''));
    return out;
  }

  // What the learner's own feedback keeps out of or sinks in their lists.
  function feedbackCard(fb) {
    const line = (id, label, ids, why) => [h('p', {}, h('strong', {}, label + ': '), h('span', { id }, ids.length ? courseLinks(ids) : 'none')),
      h('p', { class: 'muted' }, why)];
    return h('section', { class: 'card', id: 'learner-feedback' }, h('h2', {}, 'Feedback'), fb
      ? [...line('learner-dismissed', 'Dismissed', fb.dismissed || [],
        'Said not interested; stays out of lists until a later positive event (click, favourite, cart, watch, rating, purchase).'),
      ...line('learner-fatigued', 'Fatigued', fb.fatigued || [],
        'Shown repeatedly without a positive event (by default 5 times in 14 days); demoted in lists.')]
      : note('Feedback is not available on this server.', 'feedback-unavailable'));
  }

  const REASONS = { prerequisite: 'required by a later step', next_level: 'a level up', learned_order: 'what learners took next' };
  // A plan of courses from what the learner owns to a goal: a category (its
  // top level) or one course. Planned on submit only, since it is optional.
  function pathCard(id, category) {
    const kind = h('select', { id: 'path-goal-kind' }, h('option', { value: 'category' }, 'category'), h('option', { value: 'course' }, 'course'));
    const goal = h('input', { id: 'path-goal', required: true, value: category || '', placeholder: 'category or course id' });
    const box = h('div', { id: 'path-result' });
    async function plan(e) {
      e.preventDefault();
      const param = kind.value === 'course' ? 'course_id' : 'category';
      box.replaceChildren(h('p', { class: 'muted' }, 'Planning…'));
      try {
        const p = await api(`/users/${encodeURIComponent(id)}/path?${param}=${encodeURIComponent(goal.value.trim())}`);
        const owned = p.already_owned.length ? h('p', { id: 'path-owned' }, 'Already owned: ', courseLinks(p.already_owned)) : null;
        // Notes carry an id as well as their data-testid, for the browser tests.
        if (!p.steps.length) return box.replaceChildren(Object.assign(note('The learner already reached this goal.', 'path-done'), { id: 'path-done' }), owned || '');
        const n = p.steps.length;
        box.replaceChildren(h('ol', { class: 'recs', id: 'path-steps' }, p.steps.map((s) => h('li', { 'data-course-id': s.course_id },
          courseLink(s.course_id, s.title), ` (${s.course_id}) · ${s.level} · ${money(s.price_cents)}`,
          h('div', { class: 'muted' }, (REASONS[s.reason] || s.reason) + (s.after.length ? ` · after: ${s.after.join(', ')}` : ''))))),
        h('p', { id: 'path-total' }, `Total: ${money(p.total_price_cents)} for ${int(n)} course${n === 1 ? '' : 's'}`), owned || '');
      } catch (err) {
        box.replaceChildren(err.status === 404 ? Object.assign(note('No such course or category.', 'path-not-found'), { id: 'path-not-found' })
          : err.code === 'path_too_long' ? h('p', { class: 'error', role: 'alert', id: 'path-too-long' }, err.message) : failure(err));
      }
    }
    return card('Learning path', h('form', { class: 'row', id: 'path-form', onsubmit: plan },
      h('label', {}, 'goal', kind), h('label', {}, 'category or course id', goal), h('button', { type: 'submit', id: 'path-submit' }, 'Plan path')), box);
  }

  async function courses(id) {
    const params = new URLSearchParams(location.hash.split('?')[1] || '');
    const qi = h('input', { id: 'course-q', value: params.get('q') || '', placeholder: 'title, id or tag' });
    const ci = h('input', { id: 'course-category', value: params.get('category') || '', placeholder: 'e.g. rust' });
    const form = h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); location.hash = `#/courses?q=${encodeURIComponent(qi.value)}&category=${encodeURIComponent(ci.value)}`; } },
      h('label', {}, 'search', qi), h('label', {}, 'category', ci), h('button', { type: 'submit' }, 'Search'));
    const out = [h('h1', {}, 'Courses'), form];
    if (!id) {
      if (!(await has('/courses'))) return out.concat(note('Catalog search is not available on this server.'));
      const r = await api(`/courses?limit=50&q=${encodeURIComponent(qi.value)}&category=${encodeURIComponent(ci.value)}`);
      out.push(card(`${int(r.total)} courses`, table(['course', 'category', 'level', 'price', 'active'], r.items.map((c) => h('tr', {},
        h('td', {}, h('a', { href: '#/courses/' + encodeURIComponent(c.course_id) }, c.title), h('span', { class: 'muted' }, ' ' + c.course_id)),
        h('td', {}, c.category), h('td', {}, c.level), h('td', { class: 'n' }, money(c.price_cents)), h('td', {}, c.active ? 'yes' : 'no'))), [0, 0, 0, 1, 0])));
      // A category's audience: who to offer the category's courses to.
      const category = ci.value.trim();
      if (category && (await has('/audiences'))) out.push(await audienceCard({ category, title: category }));
      return out;
    }
    const c = await api('/courses/' + encodeURIComponent(id));
    out.push(h('h2', { id: 'course-title' }, c.title), h('p', {}, `${c.course_id} · ${c.category} · ${c.level} · ${money(c.price_cents)} · `, c.tags.map((t) => h('span', { class: 'chip' }, t))));
    if ((c.prerequisites || []).length) out.push(h('p', { id: 'course-prereqs' }, 'Prerequisites: ', courseLinks(c.prerequisites)));
    const grid = h('div', { class: 'grid' });
    out.push(grid);
    try {
      const sim = await api(`/courses/${encodeURIComponent(id)}/similar?n=10`);
      const rows = sim.items.map((it) => [h('a', { href: '#/courses/' + encodeURIComponent(it.course_id) }, it.title), num(it.score)]);
      grid.append(card('Similar courses', rows.length ? table(['course', 'similarity'], rows, [0, 1]) : note('None yet.')));
    } catch (e) { grid.append(card('Similar courses', failure(e))); }
    try {
      const nx = await api(`/courses/${encodeURIComponent(id)}/next?n=10`);
      grid.append(card('Learners take next', nx.items.length
        ? [h('p', { class: 'muted' }, `Of ${int(nx.learners)} learners who took this course, the share who took each next:`),
          table(['course', 'title', 'share'], nx.items.map((it) => [courseLink(it.course_id), it.title, pct(it.share)]), [0, 0, 1], 'next-table')]
        : Object.assign(note('No learner has taken another course after this one yet.', 'next-empty'), { id: 'next-empty' })));
    } catch (e) { grid.append(card('Learners take next', failure(e))); }
    grid.append(await audienceCard(c));
    return out;
  }

  // The offer an audience is for: a course (its page) or a category (the
  // catalog filtered by one).
  const offerOf = (c) => (c.course_id ? { course_id: c.course_id } : { category: c.category });
  const learnerLink = (id) => h('a', { href: '#/learners/' + encodeURIComponent(id) }, id);
  // The server's reason no uplift model can rank yet (409 uplift_model_not_ready).
  const upliftNotReady = (e) => h('p', { class: 'note', role: 'status', 'data-testid': 'uplift-not-ready' }, 'Uplift is not available yet: ' + e.message);
  const words = (s) => (s == null ? '–' : String(s).replace(/_/g, ' '));

  // With the marketing API: filtered /audiences and "create a campaign";
  // without it: the ranked /courses/<id>/audience and a note.
  async function audienceCard(c) {
    let segs = [];
    try { segs = (await api('/segments')).segments; } catch (_) { /* shown elsewhere */ }
    const segSel = h('select', { id: 'aud-segment' }, h('option', { value: '' }, 'any'), segs.map((x) => h('option', { value: String(x.id) }, `${x.id} · ${x.label}`)));
    const box = h('div', { id: 'audience' });
    const [market, campaigns] = await Promise.all([has('/audiences'), has('/campaigns')]);
    const offer = offerOf(c);
    const fields = market ? {
      rfm: h('select', { id: 'aud-rfm' }, h('option', { value: '' }, 'any'), RFM_GROUPS.map((g) => h('option', { value: g }, g.replace(/_/g, ' ')))),
      min_purchase_probability: h('input', { id: 'aud-minp', type: 'number', min: '0', max: '1', step: 'any', size: '5' }),
      min_churn_probability: h('input', { id: 'aud-minc', type: 'number', min: '0', max: '1', step: 'any', size: '5' }),
      active_days: h('input', { id: 'aud-active', type: 'number', min: '1', size: '5' }),
      inactive_days: h('input', { id: 'aud-inactive', type: 'number', min: '1', size: '5' }),
    } : {};
    // Best expected value first (P(buying) × price), or best expected
    // uplift first (what the offer adds, from the uplift model).
    const rankBy = market ? h('select', { id: 'aud-rank-by', onchange: () => load() },
      h('option', { value: 'expected_value' }, 'expected value'), h('option', { value: 'uplift' }, 'uplift')) : null;
    // The form's strings, typed as the API reads them.
    const filters = () => {
      const raw = { segment: segSel.value };
      for (const [k, el] of Object.entries(fields)) raw[k] = el.value;
      return F.typedFilter(raw);
    };
    let latest = 0;
    async function load() {
      const mine = ++latest;
      const { filter, errors } = filters();
      if (errors.length) return box.replaceChildren(h('p', { class: 'error', role: 'alert', id: 'filter-error' }, errors.join('; ')));
      box.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
      try {
        const shown = market ? await marketAudience(c, offer, filter, rankBy.value, campaigns) : await rankedAudience(c, segSel.value);
        if (mine === latest) box.replaceChildren(...shown);
      } catch (e) {
        if (mine === latest) box.replaceChildren(e.code === 'uplift_model_not_ready' ? upliftNotReady(e) : failure(e));
      }
    }
    const form = h('form', { class: 'row', id: 'audience-form', onsubmit: (e) => { e.preventDefault(); load(); } },
      h('label', {}, 'segment', segSel), Object.entries(fields).map(([k, el]) => h('label', {}, k.replace(/_/g, ' '), el)),
      rankBy ? h('label', {}, 'rank by', rankBy) : null, h('button', { type: 'submit' }, 'Apply filters'));
    await load();
    return card(c.course_id ? 'Audience' : `Audience: category ${c.category}`, form, box);
  }

  // /audiences for the offer: its size and expected figures, the best 50,
  // and the campaign form.
  async function marketAudience(c, offer, filter, rankBy, campaigns) {
    const ranking = rankBy === 'uplift' ? { rank_by: 'uplift' } : {};
    const a = await api('/audiences?limit=50&' + F.audienceQuery(Object.assign({}, offer, ranking), filter));
    const incremental = a.expected_incremental_conversions == null ? '' : ` · expected incremental conversions ${num(a.expected_incremental_conversions, 1)}`;
    return [h('p', { id: 'audience-size' }, `${int(a.size)} learners · expected conversions ${num(a.expected_conversions, 1)} · expected revenue ${money(a.expected_revenue_cents)}${incremental}`),
      audienceTable(a.users), campaignForm(c, offer, filter, a.size, campaigns, rankBy)];
  }

  // Without the marketing API: the course's learners by model score.
  async function rankedAudience(c, segment) {
    const a = await api(`/courses/${encodeURIComponent(c.course_id)}/audience?n=50${segment ? '&segment=' + segment : ''}`);
    return [h('p', { id: 'audience-size' }, `${a.users.length} learners most likely to buy (by model score)`),
      table(['learner', 'score', 'segment'], a.users.map((u) => [learnerLink(u.user_id), num(u.score), u.segment_id == null ? '–' : String(u.segment_id)]), [0, 1, 1]),
      note('Campaigns are not available on this server (it has no POST /campaigns); this audience can be exported but not sent.', 'campaigns-unavailable')];
  }

  // Audience members; with an uplift model, each one's expected uplift (in
  // points) and response group too.
  function audienceTable(users) {
    const scored = users.some((u) => u.uplift != null || u.response_group != null);
    const head = ['learner', 'purchase', 'churn', 'expected value', 'segment', 'RFM'].concat(scored ? ['uplift', 'response group'] : []);
    const numeric = [0, 1, 1, 1, 1, 0, 1, 0];
    const rows = users.map((u) => h('tr', { 'data-user-id': u.user_id },
      [learnerLink(u.user_id), pct(u.purchase_probability), pct(u.churn_probability), money(u.expected_value_cents),
        u.segment_id == null ? '–' : String(u.segment_id), u.rfm_group || '–'].map((x, i) => h('td', { class: numeric[i] ? 'n' : null }, x)),
      scored ? [h('td', { class: 'n' }, F.points(u.uplift)),
        h('td', { class: 'response-group', 'data-group': u.response_group }, words(u.response_group))] : null));
    return table(head, rows, numeric, 'audience-table');
  }

  // An arm row of the campaign form: its name, discount and share of the treated.
  function armRow(name, discount, onRemove) {
    const row = h('div', { class: 'row arm' },
      h('label', {}, 'arm name', h('input', { class: 'arm-name', value: name, maxlength: '64', size: '10' })),
      h('label', {}, 'discount %', h('input', { class: 'arm-discount', type: 'number', min: '0', max: '100', step: 'any', size: '4', value: discount })),
      h('label', {}, 'share', h('input', { class: 'arm-share', type: 'number', min: '0', max: '1', step: 'any', size: '5' })),
      h('button', { type: 'button', class: 'secondary arm-remove', onclick: () => onRemove(row) }, 'Remove'));
    return row;
  }

  // The campaign's offers: the one discount field, or (after "Add an arm")
  // two to eight arm rows; adding or removing one splits the treated equally.
  function armsEditor(discount, onChange) {
    const single = h('label', {}, 'discount %', discount);
    const list = h('div', { id: 'camp-arms' });
    const rows = () => [...list.querySelectorAll('.arm')];
    const field = (r, cls) => r.querySelector(cls).value;
    const split = () => rows().forEach((r, _, all) => { r.querySelector('.arm-share').value = String(+(1 / all.length).toFixed(4)); });
    const unusedName = () => [...'ABCDEFGH'].find((l) => !rows().some((r) => field(r, '.arm-name').trim() === l)) || '';
    function remove(row) {
      row.remove();
      const left = rows();
      if (left.length === 1) { discount.value = field(left[0], '.arm-discount'); left[0].remove(); single.hidden = false; }
      add.disabled = false;
      split(); onChange();
    }
    function grow() {
      if (!rows().length) { list.append(armRow('A', discount.value, remove)); single.hidden = true; }
      list.append(armRow(unusedName(), '', remove));
      add.disabled = rows().length >= 8;
      split(); onChange();
    }
    const add = h('button', { type: 'button', class: 'secondary', id: 'camp-add-arm', onclick: grow }, 'Add an arm');
    list.addEventListener('input', onChange);
    // {arms} with two rows or more, else {off} (the one discount, null when blank), or {error}.
    function value() {
      const rs = rows();
      if (!rs.length) {
        const off = discount.value === '' ? null : Number(discount.value);
        return off != null && !(off >= 0 && off <= 100) ? { error: 'discount must be from 0 to 100 %' } : { off };
      }
      const { arms, errors } = F.typedArms(rs.map((r) => ({ name: field(r, '.arm-name'), discount_pct: field(r, '.arm-discount'), share: field(r, '.arm-share') })));
      return errors.length ? { error: errors.join('; ') } : { arms };
    }
    return { single, list, add, value };
  }

  // Propensity against uplift targeting for the same offer, size and
  // discount (percent; null: the uplift model's mean): how many
  // conversions each would add and how much discount it would give away.
  async function compareTargeting(offer, filter, n, discount, box) {
    if (!(n >= 1)) return box.replaceChildren(note('Nobody to compare: the audience is empty.'));
    const ask = (rank) => api('/audiences?' + F.audienceQuery(Object.assign({}, offer,
      { size: n, limit: 1, rank_by: rank }, discount == null ? {} : { discount_pct: +discount.toFixed(4) }), filter));
    box.replaceChildren(h('p', { class: 'muted' }, 'Comparing…'));
    const [p, u] = await Promise.allSettled([ask('expected_value'), ask('uplift')]);
    if (p.status === 'rejected') return box.replaceChildren(failure(p.reason));
    const row = (name, a) => h('tr', { 'data-targeting': name }, h('td', {}, name), h('td', { class: 'n' }, int(a.size)),
      h('td', { class: 'n' }, num(a.expected_incremental_conversions, 1)), h('td', { class: 'n' }, money(a.expected_discount_cost_cents)));
    const rows = [row('propensity', p.value)];
    let why = null;
    if (u.status === 'fulfilled') rows.push(row('uplift', u.value));
    else why = u.reason.code === 'uplift_model_not_ready' ? upliftNotReady(u.reason) : failure(u.reason);
    const at = p.value.discount_pct == null ? '' : ` at a ${num(p.value.discount_pct, 1)} % discount`;
    box.replaceChildren(h('p', { class: 'muted' }, `The best ${int(n)} learners by each targeting${at}:`),
      table(['targeting', 'learners', 'expected incremental conversions', 'expected discount cost'], rows, [0, 1, 1, 1], 'camp-preview-table'), why || '');
  }

  // A campaign for the audience shown above (its offer and typed filters):
  // a preview of the sizes from the audience's size, a comparison of
  // propensity and uplift targeting, then the sizes the server drew.
  function campaignForm(c, offer, filter, audienceSize, available, rankBy) {
    if (!available) return note('Campaigns are not available on this server.', 'campaigns-unavailable');
    const name = h('input', { id: 'camp-name', required: true, value: `${c.title} offer` });
    const size = h('input', { id: 'camp-size', type: 'number', min: '1', step: '1', size: '6' });
    const control = h('input', { id: 'camp-control', type: 'number', min: '0.01', max: '0.99', step: '0.01', value: '0.1', size: '5' });
    const discount = h('input', { id: 'camp-discount', type: 'number', min: '0', max: '100', step: 'any', size: '4' });
    const targeting = h('select', { id: 'camp-targeting' }, ['propensity', 'uplift', 'random'].map((t) => h('option', { value: t, selected: t === 'uplift' && rankBy === 'uplift' }, t)));
    const budget = h('input', { id: 'camp-budget', type: 'number', min: '0.01', step: '0.01', size: '7', placeholder: 'none' });
    const submit = h('button', { type: 'submit', id: 'create-campaign' }, 'Create campaign');
    const split = h('p', { id: 'camp-split', role: 'status' });
    const compared = h('div', { id: 'camp-compare', role: 'status' });
    const msg = h('div', { role: 'status' });
    const arms = armsEditor(discount, showPreview);
    // One key per campaign being created: a retried or double submit
    // returns the first campaign instead of creating a second.
    const newKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
    let idempotencyKey = newKey();
    // The form's numbers, or the reason they are not valid.
    function values() {
      const cap = size.value === '' ? null : Number(size.value);
      const share = Number(control.value);
      const cents = budget.value === '' ? null : Math.round(Number(budget.value) * 100);
      if (cap != null && !(Number.isInteger(cap) && cap >= 1)) return { error: 'size must be a whole number of at least 1' };
      if (!(share > 0 && share < 1)) return { error: 'control share must be above 0 and below 1' };
      if (cents != null && !(cents >= 1)) return { error: 'budget must be at least $0.01' };
      const offers = arms.value();
      return offers.error ? offers : Object.assign({ cap, share, cents, targeting: targeting.value }, offers);
    }
    function showPreview() {
      const v = values();
      for (const k of ['total', 'treatment', 'control']) delete split.dataset[k];
      if (v.error) { split.textContent = 'No preview: ' + v.error + '.'; return; }
      const p = F.previewSplit(audienceSize, v.cap, v.share);
      Object.assign(split.dataset, { total: p.total, treatment: p.treatment, control: p.control });
      split.textContent = `Preview: ${int(p.total)} learners, about ${int(p.treatment)} treatment and ${int(p.control)} control `
        + '(each learner\'s group is drawn when the campaign is created)'
        + (v.cents != null ? '; the budget may stop it sooner.' : '.');
    }
    for (const el of [size, control, budget, discount]) el.addEventListener('input', showPreview);
    showPreview();
    function compare() {
      const v = values();
      if (v.error) return compared.replaceChildren(h('p', { class: 'error', role: 'alert' }, v.error));
      const d = v.arms ? F.meanDiscount(v.arms) : v.off;
      compareTargeting(offer, filter, v.cap == null ? audienceSize : Math.min(v.cap, audienceSize), d, compared);
    }
    async function create(e) {
      e.preventDefault();
      const v = values();
      if (v.error) return msg.replaceChildren(h('p', { class: 'error', role: 'alert' }, v.error));
      const body = Object.assign({ name: name.value }, offer, { audience: filter, control_share: v.share });
      if (v.cap != null) body.size = v.cap;
      if (v.arms) body.arms = v.arms;
      else if (v.off != null) body.discount_pct = v.off;
      if (v.targeting !== 'propensity') body.targeting = v.targeting;
      if (v.cents != null) body.budget_cents = v.cents;
      submit.disabled = true;
      msg.replaceChildren(h('p', { class: 'muted' }, 'Creating…'));
      try {
        const r = await api('/campaigns', { method: 'POST', body, headers: { 'Idempotency-Key': idempotencyKey } });
        idempotencyKey = newKey();
        msg.replaceChildren(created(r));
      } catch (err) {
        msg.replaceChildren(err.code === 'uplift_model_not_ready'
          ? h('p', { class: 'error', role: 'alert', id: 'camp-error', 'data-testid': 'uplift-not-ready' }, 'Uplift targeting is not available yet: ' + err.message)
          : failure(err));
      }
      submit.disabled = false;
    }
    return h('div', {}, h('h3', {}, 'Campaign for this audience'),
      h('form', { class: 'row', id: 'campaign-form', onsubmit: create },
        h('label', {}, 'campaign name', name), h('label', {}, 'size (best first)', size), h('label', {}, 'control share', control),
        h('label', {}, 'targeting', targeting), h('label', {}, 'budget $ (optional)', budget),
        arms.single, arms.add, arms.list, submit,
        h('button', { type: 'button', class: 'secondary', id: 'camp-preview', onclick: compare }, 'Compare targeting')),
      split, compared, msg);
  }

  // What POST /campaigns answered: the sizes drawn (per arm with several)
  // and a link to the campaign.
  function created(r) {
    const held = r.held_out_overlap == null ? '' : `; ${int(r.held_out_overlap)} held out (in the control group of a running campaign for an overlapping offer)`;
    const arms = (r.arms || []).length > 1 ? ` Arms: ${r.arms.map((a) => `${a.name} ${int(a.users)}`).join(', ')}.` : '';
    const by = r.targeting && r.targeting !== 'propensity' ? ` Targeted by ${r.targeting}.` : '';
    return h('p', { id: 'camp-created', class: 'ok', 'data-campaign-id': r.campaign_id, 'data-treatment': r.treatment_size, 'data-control': r.control_size,
      'data-held-out': r.held_out_overlap == null ? null : r.held_out_overlap },
    `Created: ${int(r.treatment_size)} treatment and ${int(r.control_size)} control${held}.${arms}${by} `,
    h('a', { id: 'camp-open', href: '#/marketing/campaign/' + encodeURIComponent(r.campaign_id) }, 'Open the campaign'));
  }

  async function marketing(args) {
    if (args[0] === 'campaign' && args[1]) return campaign(args[1]);
    if (args[0] === 'experiment' && args[1]) return experiment(args[1]);
    const out = [h('h1', {}, 'Campaigns and experiments')];
    if (await has('/campaigns')) {
      try {
        const r = await api('/campaigns');
        const list = r.items || r.campaigns || (Array.isArray(r) ? r : []);
        out.push(card('Campaigns', list.length ? table(['campaign', 'offer', 'targeting', 'treatment', 'control', 'created', 'ends'], list.map((x) => [
          h('a', { href: '#/marketing/campaign/' + encodeURIComponent(x.campaign_id || x.id) }, x.name || x.campaign_id || x.id), x.course_id || x.category || '–',
          x.targeting || '–', int(x.treatment_size), int(x.control_size), when(x.created_at), when(x.ends_at)]), [0, 0, 0, 1, 1, 0, 0], 'campaigns-table')
          : note('No campaigns yet: create one from a course audience.')));
      } catch (e) { out.push(card('Campaigns', failure(e))); }
    } else out.push(card('Campaigns', note('Campaigns are not available on this server (it has no GET /campaigns).', 'campaigns-unavailable')));
    try {
      const r = await api('/experiments');
      out.push(card('Experiments', r.items.length ? table(['experiment', 'status', 'control', 'variants', 'created'], r.items.map((x) => [
        h('a', { href: '#/marketing/experiment/' + encodeURIComponent(x.experiment_id) }, x.experiment_id), x.status, x.control, x.variants.map((v) => `${v.name} (${v.weight})`).join(', '), when(x.created_at)]))
        : note('No experiments yet.', 'no-experiments')));
    } catch (e) { out.push(card('Experiments', failure(e))); }
    return out;
  }

  // A campaign: its offer and sizes, the recipients CSV, and its report.
  // Report fields added later (verdict, test, detectable_uplift, srm_*) show
  // when the server sends them.
  async function campaign(id) {
    const q = encodeURIComponent(id);
    const [c, r] = await Promise.all([api('/campaigns/' + q), api(`/campaigns/${q}/report`)]);
    const empty = F.noData(r);
    const verdict = F.verdictSentence(r);
    const dl = h('span', { role: 'status' });
    const csv = async () => {
      try { await downloadCsv(`/campaigns/${q}/recipients`, `campaign-${id}-recipients.csv`); dl.replaceChildren(); } catch (e) { dl.replaceChildren(failure(e)); }
    };
    const rows = ['treatment', 'control'].map((g) => [g, int(r[g].users), int(r[g].conversions), pct(r[g].rate, 2), money(r[g].revenue_cents)]);
    const sent = (k) => r[k] !== undefined;
    // Figures that are zeros only because nothing happened yet.
    const unlessEmpty = (text) => (empty ? 'no data yet' : text);
    const targeting = r.targeting || c.targeting;
    const budget = c.budget_cents == null ? '' : ` · budget ${money(c.budget_cents)}`;
    return [h('h1', { id: 'campaign-title' }, `Campaign: ${c.name || id}`),
      h('p', {}, `${c.course_id || c.category || ''} · ${int(c.treatment_size)} recipients, ${int(c.control_size)} held out as control · window ${when(r.window.from)} to ${when(r.window.to)}`
        + (targeting ? ` · targeted by ${targeting}` : '') + budget),
      h('div', { class: 'row' }, h('button', { type: 'button', id: 'recipients-csv', onclick: csv }, 'Recipients CSV'), dl),
      verdict ? h('p', { class: 'verdict', id: 'campaign-verdict' }, verdict) : null,
      r.srm_warning ? h('p', { class: 'warning', role: 'alert', id: 'srm-warning' }, 'Sample ratio mismatch: ' + r.srm_warning) : null,
      h('div', { class: 'cards' }, stat('uplift', F.upliftText(r), 'campaign-uplift'),
        stat('p-value', unlessEmpty(num(r.p_value)), 'campaign-p-value'),
        sent('test') ? stat('test', r.test || '–', 'campaign-test') : null,
        sent('detectable_uplift') ? stat('smallest detectable difference', F.points(r.detectable_uplift, 1), 'campaign-detectable') : null,
        sent('srm_p_value') ? stat('sample ratio p-value', num(r.srm_p_value), 'campaign-srm') : null,
        stat('incremental conversions', unlessEmpty(num(r.incremental_conversions, 1))),
        stat('incremental revenue', unlessEmpty(money(r.incremental_revenue_cents)), 'campaign-incremental-revenue'),
        stat('discount cost', money(r.discount_cost_cents)), stat('ROI', unlessEmpty(r.roi == null ? '–' : num(r.roi, 2))),
        targeting ? stat('targeting', targeting, 'campaign-targeting') : null,
        sent('qini_coefficient') ? stat('Qini coefficient', num(r.qini_coefficient, 4), 'campaign-qini-coefficient') : null,
        r.uplift_learners_needed != null ? stat('randomised learners the uplift model still needs', int(r.uplift_learners_needed), 'campaign-learners-needed') : null),
      h('div', { class: 'grid' }, card('Treatment and control', table(['group', 'learners', 'conversions', 'rate', 'revenue'], rows, [0, 1, 1, 1, 1])),
        card('Uplift (conversion rate difference) with its 95% interval', empty
          ? note('No data yet: an interval needs learners in both groups and a conversion in either.', 'campaign-no-data')
          : C.intervals('Campaign uplift and interval',
            [{ label: 'uplift', value: r.uplift, low: r.uplift_ci && r.uplift_ci[0], high: r.uplift_ci && r.uplift_ci[1] }], (v) => F.points(v)))),
      armsCard(r, c.arms), qiniCard(r)];
  }

  const ARM_VERDICTS = { positive: 'raised conversion', negative: 'lowered conversion', no_detectable_effect: 'no detectable effect', insufficient_data: 'not enough data' };
  // Each arm of a campaign with several against the shared control; p-values
  // and intervals adjusted for the number of arms. `info`: the campaign's
  // arms with their planned shares.
  function armsCard(r, info) {
    const arms = r.arms || [];
    if (arms.length < 2) return null;
    const pts = (v) => F.points(v).replace(' points', '');
    const share = (name) => { const a = (info || []).find((x) => x.name === name); return a ? pct(a.share, 0) : '–'; };
    const numeric = [0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1];
    const rows = arms.map((a) => h('tr', { 'data-arm': a.name }, [a.name, a.discount_pct == null ? '–' : `${num(a.discount_pct, 1)} %`,
      share(a.name), int(a.users), int(a.conversions), pct(a.rate, 2), pts(a.uplift), a.uplift_ci ? `${pts(a.uplift_ci[0])} to ${pts(a.uplift_ci[1])}` : '–',
      num(a.p_value), ARM_VERDICTS[a.verdict] || words(a.verdict), num(a.incremental_conversions, 1), money(a.incremental_revenue_cents),
      money(a.discount_cost_cents), a.roi == null ? '–' : num(a.roi, 2)].map((x, i) => h('td', { class: numeric[i] ? 'n' : null }, x))));
    const k = arms.length;
    const adjusted = r.p_value_adjustment === 'bonferroni'
      ? `Each arm is compared with the shared control group. The p-values and intervals are Bonferroni-adjusted for ${k} arms: each p-value is multiplied by ${k} and each interval is at level 0.05 / ${k}.`
      : 'Each arm is compared with the shared control group.';
    const chart = arms.some((a) => a.uplift != null)
      ? C.intervals('Uplift of each arm with its adjusted interval', arms.map((a) => ({ label: a.name, value: a.uplift, low: a.uplift_ci && a.uplift_ci[0], high: a.uplift_ci && a.uplift_ci[1] })), (v) => F.points(v))
      : null;
    return card('Arms against control',
      table(['arm', 'discount', 'share', 'learners', 'conversions', 'rate', 'uplift (points)', 'adjusted interval (points)', 'adjusted p-value', 'verdict',
        'incremental conversions', 'incremental revenue', 'discount cost', 'ROI'], rows, numeric, 'campaign-arms'),
      note(adjusted, 'bonferroni'), chart);
  }

  // The Qini curve: incremental conversions as more of the campaign's
  // members are targeted in its ranking order, against random targeting.
  function qiniCard(r) {
    if (!('qini' in r)) return null;
    const q = r.qini || [];
    let body;
    if (q.length) {
      const s = F.qiniSeries(q);
      body = [h('p', { class: 'muted' }, 'Incremental conversions (treated minus scaled control) among the top share of members by the campaign\'s targeting, against targeting at random.'),
        C.line('Qini curve: incremental conversions by share of members targeted', s.labels,
          [{ name: 'this targeting', values: s.curve }, { name: 'random', values: s.random }], (v) => num(v, 1))];
    } else body = note('No Qini curve: this campaign was created before targeting ranks were kept.', 'campaign-no-qini');
    return h('section', { class: 'card', id: 'campaign-qini' }, h('h2', {}, 'Qini curve'), body);
  }

  async function experiment(id) {
    const r = await api(`/experiments/${encodeURIComponent(id)}/report`);
    const v = r.variants;
    const rate = (k) => v.map((x) => ({ label: x.name, value: x[k].value, low: x[k].ci_low, high: x[k].ci_high }));
    const diffs = (k) => v.filter((x) => x.vs_control && x.vs_control[k]).map((x) => ({ label: x.name, value: x.vs_control[k].difference, low: x.vs_control[k].ci_low, high: x.vs_control[k].ci_high }));
    const out = [h('h1', {}, `Experiment ${r.experiment_id} (${r.status})`), h('p', {}, `control: ${r.control} · each treatment tested at α = ${r.alpha}`),
      card('Variants', table(['variant', 'users', 'lists', 'clicked', 'bought', 'buyers', 'CTR', 'conversion', 'vs control (conversion)'], v.map((x) => [
        x.name + (x.is_control ? ' (control)' : ''), int(x.users), int(x.impressions), int(x.clicks), int(x.purchases), int(x.buyers), pct(x.ctr.value, 2), pct(x.conversion.value, 2),
        x.vs_control && x.vs_control.conversion ? `${pct(x.vs_control.conversion.difference, 2)}, p = ${num(x.vs_control.conversion.p_value)}${x.vs_control.conversion.significant ? ' (significant)' : ''}` : '–']), [0, 1, 1, 1, 1, 1, 1, 1, 0]))];
    out.push(h('div', { class: 'grid' },
      card('Conversion with 95% intervals', C.intervals('Conversion by variant', rate('conversion'), (x) => pct(x, 2))),
      card('CTR with 95% intervals', C.intervals('Click-through rate by variant', rate('ctr'), (x) => pct(x, 2))),
      card('Uplift vs control: conversion', diffs('conversion').length ? C.intervals('Conversion difference to control', diffs('conversion'), (x) => pct(x, 2)) : note('No traffic to compare yet.')),
      card('Uplift vs control: CTR', diffs('ctr').length ? C.intervals('CTR difference to control', diffs('ctr'), (x) => pct(x, 2)) : note('No traffic to compare yet.'))));
    return out;
  }

  // ---------- merchandising rules ----------
  const weighted = (a) => a === 'boost' || a === 'bury';
  const ruleTarget = (r) => (r.course_ids ? courseLinks(r.course_ids) : ['category ', h('strong', {}, r.category)]);
  function ruleWindow(r) {
    if (r.starts_at && r.ends_at) return `${when(r.starts_at)} to ${when(r.ends_at)}`;
    if (r.starts_at) return `from ${when(r.starts_at)}`;
    return r.ends_at ? `until ${when(r.ends_at)}` : 'always';
  }

  async function rules() {
    const out = [h('h1', {}, 'Merchandising rules'), card('How rules work', h('ul', {},
      h('li', {}, h('strong', {}, 'Boost'), ' and ', h('strong', {}, 'bury'), ' add or subtract their weight from a course\'s relevance: the model\'s score scaled to 0..1 over the candidates, so weight 1 puts a boosted course above every unboosted one.'),
      h('li', {}, h('strong', {}, 'Pin'), ' places a course at a position (1 = first).'),
      h('li', {}, h('strong', {}, 'Block'), ' keeps the courses out.'),
      h('li', {}, 'Rules apply to recommendations (/recommend), popular courses (/popular) and similar courses (/courses/{id}/similar) while their window is open, for every learner or only those of the segments given. '
        + 'Owned, inactive, dismissed and excluded courses stay out whatever a rule says.'),
      h('li', {}, 'Items a rule placed or moved carry its rule_id in those lists (a "rule" label here and on learner pages); "exploration" marks a little-shown course an exploration slot gave.')))];
    if (!(await has('/rules'))) return out.concat(note('Merchandising rules are not available on this server (it has no GET /rules).', 'rules-unavailable'));
    const list = h('div', { id: 'rules-list' });
    const msg = h('div', { id: 'rule-message', role: 'status' });
    const done = (text) => msg.replaceChildren(h('p', { class: 'ok' }, text));
    const refused = (verb, e) => msg.replaceChildren(e.status === 403 ? note(`Rules need a key with the admin scope (${e.message}).`, 'forbidden')
      : h('p', { class: 'error', role: 'alert' }, `Could not ${verb}: ${e.message}${e.code ? ' (' + e.code + ')' : ''}`));
    const path = (id) => '/rules/' + encodeURIComponent(id);
    // Ends a rule now: the same rule stored again with ends_at = now.
    async function end(r, button) {
      button.disabled = true;
      try {
        await api(path(r.rule_id), { method: 'PUT', body: F.endedDraft(r, new Date().toISOString()) });
        done(`Rule ${r.rule_id} ended.`);
        await load();
      } catch (e) { refused('end ' + r.rule_id, e); button.disabled = false; }
    }
    // Deletes on a second click, so one slip does not.
    async function remove(r, button) {
      if (button.dataset.armed !== 'yes') { button.dataset.armed = 'yes'; button.textContent = 'Confirm delete'; return; }
      button.disabled = true;
      try {
        await api(path(r.rule_id), { method: 'DELETE' });
        done(`Rule ${r.rule_id} deleted.`);
      } catch (e) { refused('delete ' + r.rule_id, e); }
      await load();
    }
    function row(r, now) {
      const status = F.ruleStatus(r, now);
      const amount = weighted(r.action) && r.weight != null ? `weight ${r.weight}` : r.action === 'pin' && r.position != null ? `position ${r.position}` : '–';
      const endButton = h('button', { type: 'button', class: 'secondary rule-end', disabled: status === 'ended', onclick: () => end(r, endButton) }, 'End');
      const deleteButton = h('button', { type: 'button', class: 'secondary rule-delete', onclick: () => remove(r, deleteButton) }, 'Delete');
      return h('tr', { 'data-rule-id': r.rule_id, 'data-status': status },
        h('td', {}, r.rule_id), h('td', {}, r.action), h('td', {}, ruleTarget(r)), h('td', {}, amount),
        h('td', {}, (r.segments || []).length ? r.segments.join(', ') : 'all learners'), h('td', {}, ruleWindow(r)),
        h('td', { class: 'rule-status status-' + status }, status), h('td', { class: 'actions' }, endButton, ' ', deleteButton));
    }
    async function load() {
      try {
        const r = await api('/rules');
        const now = Date.now();
        list.replaceChildren(r.items.length
          ? table(['rule', 'action', 'target', 'weight / position', 'segments', 'window', 'status', ''], r.items.map((x) => row(x, now)), null, 'rules-table')
          : Object.assign(note('No rules yet: every list is the model\'s own ranking. Create one below.', 'rules-empty'), { id: 'rules-empty' }));
      } catch (e) { list.replaceChildren(failure(e)); }
    }
    await load();
    return out.concat(card('Rules', list, msg), ruleForm(async (r) => {
      const created = r.created_at === r.updated_at;
      const status = F.ruleStatus(r, Date.now());
      done(`Rule ${r.rule_id} ${created ? 'created' : 'replaced'}${status === 'active' ? '' : ` (${status}, not in force now)`}.`);
      await load();
    }), rulePreview());
  }

  // Create or replace a rule: only the fields the chosen action takes show;
  // the server's 422 lists every fault, each shown as "field: reason".
  function ruleForm(onSaved) {
    const id = h('input', { id: 'rule-id', maxlength: '128', size: '14', placeholder: 'e.g. spring-rust', autocomplete: 'off' });
    const action = h('select', { id: 'rule-action' }, F.RULE_ACTIONS.map((a) => h('option', { value: a }, a)));
    const target = h('select', { id: 'rule-target' }, h('option', { value: 'courses' }, 'courses'), h('option', { value: 'category' }, 'category'));
    const courses = h('input', { id: 'rule-courses', size: '24', placeholder: 'c1, c2' });
    const category = h('input', { id: 'rule-category', size: '12', placeholder: 'e.g. rust' });
    const weight = h('input', { id: 'rule-weight', type: 'number', min: '0', max: '100', step: 'any', size: '5', placeholder: 'e.g. 1' });
    const position = h('input', { id: 'rule-position', type: 'number', min: '1', max: '100', step: '1', size: '4' });
    const segments = h('input', { id: 'rule-segments', size: '10', placeholder: 'all learners' });
    const starts = h('input', { id: 'rule-starts', type: 'datetime-local' });
    const ends = h('input', { id: 'rule-ends', type: 'datetime-local' });
    const save = h('button', { type: 'submit', id: 'rule-save' }, 'Save rule');
    const errors = h('div', { id: 'rule-errors', class: 'error', role: 'alert' });
    const labels = {
      courses: h('label', {}, 'course ids (comma-separated)', courses), category: h('label', {}, 'category', category),
      weight: h('label', {}, 'weight (0 to 100)', weight), position: h('label', {}, 'position (1 = first)', position),
    };
    function fit() {
      labels.weight.hidden = !weighted(action.value);
      labels.position.hidden = action.value !== 'pin';
      labels.courses.hidden = target.value !== 'courses';
      labels.category.hidden = target.value !== 'category';
    }
    action.addEventListener('change', fit);
    target.addEventListener('change', fit);
    fit();
    const show = (details) => errors.replaceChildren(h('ul', {}, details.map((d) => h('li', { 'data-field': d.field }, `${d.field}: ${d.reason}`))));
    // A number field's text the browser could not read as a number.
    const numberText = (el) => (el.validity.badInput ? 'not a number' : el.value);
    async function submit(e) {
      e.preventDefault();
      errors.replaceChildren();
      const { id: rid, draft, errors: bad } = F.ruleDraft({
        id: id.value, action: action.value, target: target.value, courses: courses.value, category: category.value,
        weight: numberText(weight), position: numberText(position), segments: segments.value, starts: starts.value, ends: ends.value,
      });
      if (bad.length) return show(bad);
      save.disabled = true;
      try {
        const r = await api('/rules/' + encodeURIComponent(rid), { method: 'PUT', body: draft });
        await onSaved(r);
      } catch (err) {
        if (err.status === 422 && err.details.length) show(err.details);
        else errors.replaceChildren(err.status === 403 ? note(`Rules need a key with the admin scope (${err.message}).`, 'forbidden')
          : h('p', {}, `Could not save: ${err.message}${err.code ? ' (' + err.code + ')' : ''}`));
      }
      save.disabled = false;
    }
    return card('Create or replace a rule',
      h('form', { class: 'row', id: 'rule-form', novalidate: true, onsubmit: submit },
        h('label', {}, 'rule id', id), h('label', {}, 'action', action), h('label', {}, 'target', target), labels.courses, labels.category,
        labels.weight, labels.position, h('label', {}, 'segments (comma-separated ids)', segments),
        h('label', {}, 'starts (local time, optional)', starts), h('label', {}, 'ends (local time, optional)', ends), save),
      h('p', { class: 'muted' }, 'Saving an existing rule id replaces that rule. Without a start a rule is in force at once; without an end, until it is ended or deleted.'),
      errors);
  }

  // A learner's list as served now, with what rules and exploration did to it.
  function rulePreview() {
    const user = h('input', { id: 'rule-preview-user', placeholder: 'learner id', 'aria-label': 'learner id' });
    const box = h('div', { id: 'rule-preview-result', role: 'status' });
    async function preview(e) {
      e.preventDefault();
      const u = user.value.trim();
      if (!u) return;
      box.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
      try {
        const r = await api(`/recommend/${encodeURIComponent(u)}?n=10`);
        const placed = r.items.filter((it) => it.rule_id).length;
        box.replaceChildren(h('p', { class: 'muted' }, `${r.strategy}, model ${r.model_version == null ? '–' : r.model_version}: ${int(placed)} of ${int(r.items.length)} items placed or moved by a rule.`),
          h('ol', { class: 'recs', id: 'rule-preview-list' }, r.items.map((it) => h('li', { 'data-course-id': it.course_id, 'data-rule-id': it.rule_id, 'data-explored': it.explored ? 'true' : null },
            courseLink(it.course_id, it.title), ` (${it.course_id}, ${it.category || '?'}) score ${num(it.score)}`, itemTags(it)))),
          r.items.length ? null : note('No recommendations.', 'rule-preview-empty'));
      } catch (err) { box.replaceChildren(failure(err)); }
    }
    return card('Preview a learner\'s recommendations',
      h('form', { class: 'row', id: 'rule-preview-form', onsubmit: preview },
        h('label', {}, 'learner id', user), h('button', { type: 'submit', id: 'rule-preview' }, 'Preview')), box);
  }

  // ---------- router ----------
  const PAGES = { overview, segments, learners: (a) => learners(a[0]), courses: (a) => courses(a[0]), rules, marketing };
  let generation = 0;
  async function route() {
    const [path] = location.hash.replace(/^#\/?/, '').split('?');
    const [page, ...args] = path.split('/').map(decodeURIComponent);
    const name = PAGES[page] ? page : 'overview';
    const mine = ++generation;
    document.querySelectorAll('nav a').forEach((a) => (a.dataset.page === name ? a.setAttribute('aria-current', 'page') : a.removeAttribute('aria-current')));
    delete document.body.dataset.ready;
    main.replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    let content;
    try {
      content = await PAGES[name](args.filter(Boolean));
    } catch (e) {
      content = e.status === 401 ? [h('p', { class: 'muted' }, 'Waiting for an API key.')]
        : e.code === 'model_not_ready' ? [note('No model has been trained yet; this page fills in after the first training.', 'no-model')] : [failure(e)];
    }
    if (mine !== generation) return;
    main.replaceChildren(...[].concat(content).filter((x) => x != null));
    document.title = `${name[0].toUpperCase() + name.slice(1)} · courserec`;
    // For tests and the curious: when the page finished, since navigation start.
    window.renderedAt = performance.now();
    document.body.dataset.route = location.hash;
    document.body.dataset.ready = name;
  }
  window.addEventListener('hashchange', route);
  route();
})();
