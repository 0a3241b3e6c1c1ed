// Pure helpers of the console: how figures are printed, how a campaign
// form's text fields become the API's typed filters, how a rule form
// becomes a rule, and the sentences a campaign report reads as. No DOM
// and no fetch here, so the browser tests can check them on small
// hand-made cases (window.Format).
'use strict';
(function () {
  const MINUS = '\u2212';
  const RFM_GROUPS = ['champions', 'loyal', 'potential_loyalists', 'new', 'promising', 'need_attention', 'about_to_sleep', 'at_risk', 'cannot_lose', 'hibernating', 'lost'];
  // A typographic minus (U+2212) before negative figures ("−$1,580.43"),
  // none when the rounded figure is zero.
  const signed = (v, text) => (v < 0 && /[1-9]/.test(text) ? MINUS + text : text);

  // Cents as dollars with thousands separators.
  const money = (c) => (c == null ? '–'
    : signed(c, '$' + (Math.abs(c) / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })));
  // A probability 0..1 as a percentage.
  const pct = (v, d = 1) => (v == null ? '–' : signed(v, Math.abs(v * 100).toFixed(d) + '%'));
  // A difference of two rates (0..1) in percentage points, with its sign.
  const points = (v, d = 2) => {
    if (v == null) return '–';
    const t = Math.abs(v * 100).toFixed(d);
    return (/[1-9]/.test(t) ? (v < 0 ? MINUS : '+') : '') + t + ' points';
  };
  const num = (v, d = 3) => (v == null ? '–' : signed(+v, Math.abs(+v).toFixed(d)));
  const int = (v) => (v == null ? '–' : Number(v).toLocaleString('en-US'));

  // ---------- campaign form ----------
  // The /audiences filters typed as the API reads them (see marketing::Filter):
  // raw holds the form's strings ('' = not set). Returns {filter, errors}:
  // segment an integer, rfm an array of group names, probabilities numbers
  // 0..1, active/inactive days integers 1..3650; errors name the field.
  function typedFilter(raw) {
    const filter = {};
    const errors = [];
    const set = (k) => raw[k] != null && String(raw[k]).trim() !== '';
    const integer = (k, lo, hi) => {
      if (!set(k)) return;
      const v = Number(raw[k]);
      if (Number.isInteger(v) && v >= lo && v <= hi) filter[k] = v;
      else errors.push(`${k.replace(/_/g, ' ')} must be a whole number from ${lo} to ${hi}`);
    };
    integer('segment', 0, 4294967295);
    if (set('rfm')) {
      const groups = [].concat(raw.rfm).flatMap((g) => String(g).split(',')).map((g) => g.trim()).filter(Boolean);
      const bad = groups.filter((g) => !RFM_GROUPS.includes(g));
      if (bad.length) errors.push(`unknown RFM group ${bad.join(', ')}`);
      else if (groups.length) filter.rfm = groups;
    }
    for (const k of ['min_purchase_probability', 'min_churn_probability']) {
      if (!set(k)) continue;
      const v = Number(raw[k]);
      if (Number.isFinite(v) && v >= 0 && v <= 1) filter[k] = v;
      else errors.push(`${k.replace(/_/g, ' ')} must be a number from 0 to 1`);
    }
    integer('active_days', 1, 3650);
    integer('inactive_days', 1, 3650);
    return { filter, errors };
  }

  // The /audiences query string of an offer and a typed filter (rfm
  // comma-separated, as the route accepts).
  function audienceQuery(offer, filter) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(Object.assign({}, offer, filter))) q.set(k, Array.isArray(v) ? v.join(',') : String(v));
    return q.toString();
  }

  // Expected campaign sizes before creating it: the audience's size capped
  // by the form's size (null = no cap), control_share of it held out. The
  // server draws each learner's arm by a seeded hash, so the arms are
  // expected sizes and the total is exact.
  function previewSplit(audienceSize, cap, controlShare) {
    const total = cap == null ? audienceSize : Math.min(audienceSize, cap);
    const control = Math.round(total * controlShare);
    return { total, treatment: total - control, control };
  }

  // ---------- arms ----------
  // A campaign form's arm rows typed as POST /campaigns reads them: raw
  // holds each row's strings {name, discount_pct, share} ('' = no
  // discount). Names 1 to 64 characters and unique, discounts 0 to 100,
  // shares above 0 summing to 1 within 0.01 ("0.33" three times), sent
  // normalised so they sum to 1. Returns {arms, errors}.
  function typedArms(raw) {
    const errors = [];
    const arms = raw.map((r) => {
      const a = { name: String(r.name == null ? '' : r.name).trim(), share: Number(r.share) };
      const d = String(r.discount_pct == null ? '' : r.discount_pct).trim();
      if (d !== '') a.discount_pct = Number(d);
      return a;
    });
    const names = arms.map((a) => a.name);
    if (names.some((n) => !n || [...n].length > 64) || new Set(names).size !== names.length) errors.push('arm names must be 1 to 64 characters and unique');
    if (arms.some((a) => 'discount_pct' in a && !(a.discount_pct >= 0 && a.discount_pct <= 100))) errors.push('each arm\'s discount must be from 0 to 100 %');
    const total = arms.reduce((acc, a) => acc + a.share, 0);
    if (arms.some((a) => !(a.share > 0 && a.share <= 1)) || !(Math.abs(total - 1) <= 0.01)) errors.push('arm shares must be above 0 and sum to 1');
    else arms.forEach((a) => { a.share /= total; });
    return { arms, errors };
  }

  // The share-weighted mean discount of arms ({discount_pct, share}; none
  // counts as 0), percent; null without arms.
  function meanDiscount(arms) {
    const total = arms.reduce((acc, a) => acc + a.share, 0);
    if (!(total > 0)) return null;
    return arms.reduce((acc, a) => acc + a.share * (a.discount_pct || 0), 0) / total;
  }

  // A report's Qini points (by fraction targeted) as chart series from the
  // origin: x labels "0%" to "100%", the campaign's incremental
  // conversions, and random targeting's straight line to the last point.
  function qiniSeries(qini) {
    const xs = [0].concat(qini.map((p) => p.fraction));
    const last = qini.length ? qini[qini.length - 1] : { fraction: 1, incremental_conversions: 0 };
    return {
      labels: xs.map((f) => Math.round(f * 100) + '%'),
      curve: [0].concat(qini.map((p) => p.incremental_conversions)),
      random: xs.map((f) => (last.fraction > 0 ? (f / last.fraction) * last.incremental_conversions : 0)),
    };
  }

  // ---------- merchandising rules ----------
  const RULE_ACTIONS = ['boost', 'bury', 'pin', 'block'];
  const weighted = (a) => a === 'boost' || a === 'bury';

  // A datetime-local value ("2026-03-01T09:30", the browser's local time)
  // as RFC 3339 in UTC; null when blank, undefined when not a time.
  function localTime(v) {
    const t = String(v == null ? '' : v).trim();
    if (!t) return null;
    const d = new Date(t);
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
  }

  // A rule form's strings typed as PUT /rules/{id} reads them: raw holds
  // {id, action, target ('courses' or 'category'), courses (comma-separated),
  // category, weight, position, segments (comma-separated), starts, ends
  // (datetime-local values)}; '' = not set. Only the fields the action takes
  // are sent; what only the server can judge (a missing weight, an empty
  // target, an end before the start) is left to its 422, which lists every
  // fault. Returns {id, draft, errors}, errors as {field, reason} like the
  // API's details.
  function ruleDraft(raw) {
    const text = (k) => (raw[k] == null ? '' : String(raw[k]).trim());
    const list = (k) => text(k).split(',').map((x) => x.trim()).filter(Boolean);
    const errors = [];
    const id = text('id');
    if (!id) errors.push({ field: 'id', reason: 'is required' });
    const draft = { action: text('action') };
    if (text('target') === 'category') draft.category = text('category');
    else draft.course_ids = list('courses');
    if (weighted(draft.action) && text('weight') !== '') {
      const w = Number(text('weight'));
      if (Number.isFinite(w)) draft.weight = w;
      else errors.push({ field: 'weight', reason: 'must be a number' });
    }
    if (draft.action === 'pin' && text('position') !== '') {
      const p = Number(text('position'));
      if (Number.isInteger(p)) draft.position = p;
      else errors.push({ field: 'position', reason: 'must be a whole number' });
    }
    const segs = list('segments');
    const bad = segs.filter((x) => !/^\d+$/.test(x) || Number(x) > 4294967295);
    if (bad.length) errors.push({ field: 'segments', reason: `not segment ids: ${bad.join(', ')}` });
    else if (segs.length) draft.segments = segs.map(Number);
    for (const [k, field] of [['starts', 'starts_at'], ['ends', 'ends_at']]) {
      const t = localTime(raw[k]);
      if (t === undefined) errors.push({ field, reason: 'is not a date and time' });
      else if (t) draft[field] = t;
    }
    return { id, draft, errors };
  }

  // A stored rule (RuleInfo) as the draft that stores it again: its target,
  // weight only for boost and bury, position only for pin, its segments and
  // window.
  function ruleDraftOf(r) {
    const d = { action: r.action };
    if (r.course_ids) d.course_ids = r.course_ids.slice();
    else d.category = r.category;
    if (weighted(r.action) && r.weight != null) d.weight = r.weight;
    if (r.action === 'pin' && r.position != null) d.position = r.position;
    d.segments = (r.segments || []).slice();
    if (r.starts_at) d.starts_at = r.starts_at;
    if (r.ends_at) d.ends_at = r.ends_at;
    return d;
  }

  // The draft that ends rule r at `now` (RFC 3339): the same rule with
  // ends_at = now. A rule that has not started yet loses its start (an end
  // before the start is invalid), so it never comes into force.
  function endedDraft(r, now) {
    const d = ruleDraftOf(r);
    d.ends_at = now;
    if (d.starts_at && Date.parse(d.starts_at) >= Date.parse(now)) delete d.starts_at;
    return d;
  }

  // 'active' (in force, as the server says), 'scheduled' (starts after
  // nowMs) or 'ended'.
  function ruleStatus(r, nowMs) {
    if (r.active) return 'active';
    return r.starts_at && Date.parse(r.starts_at) > nowMs ? 'scheduled' : 'ended';
  }

  // ---------- campaign report ----------
  // True when the report cannot say anything yet: an arm has no learners,
  // or neither arm has a conversion (a 0 % to 0 % interval means nothing).
  function noData(r) {
    return !r.treatment.users || !r.control.users || (!r.treatment.conversions && !r.control.conversions) || r.uplift == null;
  }

  // Relative lift (uplift / control rate): the report's own relative_lift
  // when it has the field; servers that predate it get the same ratio here.
  function relativeLift(r) {
    if ('relative_lift' in r) return r.relative_lift;
    return r.uplift == null || !(r.control.rate > 0) ? null : r.uplift / r.control.rate;
  }

  // The difference in points with the relative lift beside it:
  // "+3.20 points (+16.0 % relative)".
  function upliftText(r) {
    if (noData(r)) return 'no data yet';
    const rel = relativeLift(r);
    if (rel == null) return points(r.uplift);
    return `${points(r.uplift)} (${rel < 0 ? MINUS : '+'}${Math.abs(rel * 100).toFixed(1)} % relative)`;
  }

  // The report's verdict as a sentence; null when the report has no verdict.
  function verdictSentence(r) {
    const oneDecimal = (v) => Math.abs(v * 100).toFixed(1);
    switch (r.verdict) {
      case 'insufficient_data':
        return 'Not enough data yet' + (r.minimum_sample_per_arm != null ? `: at least ${int(r.minimum_sample_per_arm)} learners per group are needed.` : '.');
      case 'no_detectable_effect':
        return r.detectable_uplift != null
          ? `No detectable effect yet: the control group is too small to see less than ${oneDecimal(r.detectable_uplift)} points.`
          : 'No detectable effect yet.';
      case 'positive':
      case 'negative': {
        const rel = relativeLift(r);
        return `The offer ${r.verdict === 'positive' ? 'raised' : 'lowered'} conversion by ${r.uplift == null ? '?' : oneDecimal(r.uplift)} points`
          + (rel == null ? '.' : ` (${oneDecimal(rel)} % relative).`);
      }
      default:
        return null;
    }
  }

  window.Format = { MINUS, RFM_GROUPS, money, pct, points, num, int, typedFilter, audienceQuery, previewSplit, typedArms, meanDiscount, qiniSeries, noData, relativeLift, upliftText, verdictSentence,
    RULE_ACTIONS, localTime, ruleDraft, ruleDraftOf, endedDraft, ruleStatus };
})();
