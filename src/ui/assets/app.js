// Herald's dashboard: hash routes over the JSON API (/v1/overview,
// /v1/expiry-timeline, /v1/certs, /v1/hierarchy). No framework, no network
// beyond this server; every value goes into the page as text (textContent),
// never as HTML.
'use strict';

const PAGE_SIZE = 25;
const view = () => document.getElementById('view');

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function date(unix) {
  return new Date(unix * 1000).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

function day(unix) { return new Date(unix * 1000).toISOString().slice(0, 10); }

async function api(path) {
  const res = await fetch(path, {credentials: 'same-origin', headers: {'Accept': 'application/json'}});
  if (res.status === 401) {
    window.location.assign('/ui/login');
    throw new Error('not logged in');
  }
  const body = await res.json();
  if (!res.ok) throw new Error(body.detail || ('HTTP ' + res.status));
  return body;
}

function showError(e) {
  const line = document.getElementById('status-line');
  line.textContent = String(e.message || e);
  line.hidden = false;
}

function stat(id, value, label, cls) {
  return el('div', {class: 'card stat'},
    el('div', {class: 'value ' + (cls || ''), id, text: String(value)}),
    el('div', {class: 'label', text: label}));
}

// --- pages

async function overview() {
  const o = await api('/v1/overview');
  const c = o.counts;
  const cas = el('table', {id: 'ca-health'},
    el('thead', {}, el('tr', {}, el('th', {text: 'CA'}), el('th', {text: 'Subject'}),
      el('th', {text: 'Expires'}), el('th', {text: 'Days left'}), el('th', {text: 'Status'}))),
    el('tbody', {}, ...o.cas.map((ca) => el('tr', {},
      el('td', {text: ca.name}), el('td', {text: ca.subject}), el('td', {text: date(ca.not_after)}),
      el('td', {class: ca.days_left < 30 ? 'warn' : '', text: String(ca.days_left)}),
      el('td', {class: ca.revoked ? 'bad' : 'ok', text: ca.revoked ? 'revoked' : 'in service'})))));
  const crls = el('table', {id: 'crl-health'},
    el('thead', {}, el('tr', {}, el('th', {text: 'CRL'}), el('th', {text: 'This update'}),
      el('th', {text: 'Next update'}), el('th', {text: 'State'}))),
    el('tbody', {}, ...o.crls.map((crl) => el('tr', {},
      el('td', {text: crl.name}), el('td', {text: date(crl.this_update)}),
      el('td', {text: date(crl.next_update)}),
      el('td', {class: crl.fresh ? 'ok' : 'bad', text: crl.fresh ? 'fresh' : 'stale'})))));
  view().replaceChildren(
    el('h1', {text: 'Overview'}),
    el('div', {class: 'grid'},
      stat('count-total', c.total, 'certificates'),
      stat('count-valid', c.valid, 'valid', 'ok'),
      stat('count-revoked', c.revoked, 'revoked', 'bad'),
      stat('count-expired', c.expired, 'expired', 'warn'),
      stat('expiring-7d', o.expiring['7d'], 'expire within 7 days', o.expiring['7d'] ? 'bad' : ''),
      stat('expiring-30d', o.expiring['30d'], 'expire within 30 days', o.expiring['30d'] ? 'warn' : ''),
      stat('revoked-day', o.revoked_last_day, 'revoked in the last day'),
      stat('issued-day', o.issued.last_day, 'issued in the last day'),
      stat('issued-hour', o.issued.last_hour, 'issued in the last hour'),
      stat('issued-week', o.issued.last_7d, 'issued in the last 7 days'),
      stat('deployed-endpoints', o.deployments.endpoints, 'endpoints seen by herald scan'),
      stat('foreign-certificates', o.deployments.foreign_certificates, 'foreign certificates discovered')),
    el('h2', {text: 'CA certificates'}), cas,
    el('h2', {text: 'CRLs'}), crls);
}

async function timeline(params) {
  const days = params.get('days') || '90';
  const t = await api('/v1/expiry-timeline?days=' + encodeURIComponent(days));
  const W = 1000, H = 240, left = 40, bottom = 24, top = 10;
  const max = Math.max(1, ...t.buckets.map((b) => b.count));
  const chart = svg('svg', {id: 'expiry-chart', class: 'chart', viewBox: `0 0 ${W} ${H}`,
    role: 'img', 'aria-label': 'certificates by expiry ' + t.bucket});
  const plotW = W - left - 10, plotH = H - bottom - top;
  const bw = plotW / Math.max(1, t.buckets.length);
  for (const frac of [0, 0.5, 1]) {
    const y = top + plotH * (1 - frac);
    chart.append(svg('line', {x1: left, x2: W - 10, y1: y, y2: y}));
    const label = svg('text', {x: 4, y: y + 4});
    label.textContent = String(Math.round(max * frac));
    chart.append(label);
  }
  t.buckets.forEach((b, i) => {
    const h = plotH * b.count / max;
    const bar = svg('rect', {class: 'bar', x: left + i * bw + 1, y: top + plotH - h,
      width: Math.max(1, bw - 2), height: h, 'data-count': b.count, 'data-start': b.start});
    const tip = svg('title', {});
    tip.textContent = `${day(b.start)}: ${b.count}`;
    bar.append(tip);
    chart.append(bar);
    if (i % Math.ceil(t.buckets.length / 10) === 0) {
      const label = svg('text', {x: left + i * bw, y: H - 6});
      label.textContent = day(b.start).slice(5);
      chart.append(label);
    }
  });
  const total = t.buckets.reduce((s, b) => s + b.count, 0);
  const select = el('select', {id: 'timeline-days'},
    ...['30', '90', '180', '365'].map((d) => {
      const o = el('option', {value: d, text: d + ' days'});
      if (d === days) o.selected = true;
      return o;
    }));
  select.addEventListener('change', () => { window.location.hash = '#/timeline?days=' + select.value; });
  view().replaceChildren(
    el('h1', {text: 'Expiry timeline'}),
    el('p', {}, select, ` ${total} valid certificates expire in the next ${t.days} days (per ${t.bucket}).`),
    chart);
}

async function certs(params) {
  // Pages go forward by keyset (after=...), back through the browser's history.
  const pageNo = Number(params.get('page') || 1);
  const q = new URLSearchParams();
  for (const k of ['profile', 'owner', 'status', 'san', 'deployed', 'after']) if (params.get(k)) q.set(k, params.get(k));
  q.set('limit', String(PAGE_SIZE));
  // The total only for status filters (an index range count). With a SAN
  // filter it can take ~0.5 s at 1M (a term matching most certificates: every
  // distinct serial counted); profile and owner totals are left out with it
  // (scripts can ask for count=1 themselves: docs/api.md).
  const countable = !params.get('profile') && !params.get('owner') && !params.get('san') &&
    !params.get('deployed');
  // Counted once, on the first page; the next pages carry it in their link
  // (the range count of every valid certificate is the dearest: ~0.1 s at 1M).
  const carried = params.get('total');
  if (countable && carried === null) q.set('count', '1');
  const page = await api('/v1/certs?' + q.toString());
  const total = carried !== null ? carried : page.total;
  const field = (name, label, input) => el('label', {}, label, input);
  const status = el('select', {id: 'filter-status'},
    ...['', 'valid', 'revoked', 'expired'].map((s) => {
      const o = el('option', {value: s, text: s || 'any'});
      if (s === (params.get('status') || '')) o.selected = true;
      return o;
    }));
  const profile = el('input', {id: 'filter-profile', value: params.get('profile') || '', placeholder: 'server'});
  const owner = el('input', {id: 'filter-owner', value: params.get('owner') || '', placeholder: 'team=payments'});
  const san = el('input', {id: 'filter-san', value: params.get('san') || '', placeholder: 'api or example.internal'});
  const deployed = el('select', {id: 'filter-deployed'},
    ...[['', 'any'], ['yes', 'seen by a scan'], ['no', 'never seen']].map(([v, label]) => {
      const o = el('option', {value: v, text: label});
      if (v === (params.get('deployed') || '')) o.selected = true;
      return o;
    }));
  const apply = el('button', {id: 'filter-apply', type: 'submit', text: 'Filter'});
  const form = el('form', {class: 'filters', id: 'filters'},
    field('profile', 'Profile', profile), field('owner', 'Owner', owner),
    field('status', 'Status', status), field('san', 'SAN starts with', san),
    field('deployed', 'Deployed', deployed), apply);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (profile.value.trim()) next.set('profile', profile.value.trim());
    if (owner.value.trim()) next.set('owner', owner.value.trim());
    if (status.value) next.set('status', status.value);
    if (san.value.trim()) next.set('san', san.value.trim());
    if (deployed.value) next.set('deployed', deployed.value);
    window.location.hash = '#/certs?' + next.toString();
  });
  const rows = page.items.map((c) => el('tr', {},
    el('td', {class: 'serial'}, el('a', {class: 'serial', href: '#/cert/' + c.serial, text: c.serial})),
    el('td', {text: c.subject}),
    el('td', {text: c.profile}),
    el('td', {class: c.status === 'valid' ? 'ok' : (c.status === 'revoked' ? 'bad' : 'warn'), text: c.status}),
    el('td', {text: c.not_after}),
    el('td', {text: Object.entries(c.owner || {}).map(([k, v]) => k + '=' + v).join(', ')})));
  const table = el('table', {id: 'cert-table'},
    el('thead', {}, el('tr', {}, ...['Serial', 'Subject', 'Profile', 'Status', 'Expires', 'Owner']
      .map((h) => el('th', {text: h})))),
    el('tbody', {}, ...rows));
  const next = () => {
    const p = new URLSearchParams(params);
    p.set('after', page.next_after);
    p.set('page', String(pageNo + 1));
    if (countable) p.set('total', String(total));
    return '#/certs?' + p.toString();
  };
  const first = (pageNo - 1) * PAGE_SIZE;
  const shown = page.items.length ? `${first + 1}–${first + page.items.length}` : '0';
  const prev = el('a', {id: 'prev-page', href: '#', text: '← previous'});
  prev.addEventListener('click', (event) => { event.preventDefault(); history.back(); });
  const pager = el('div', {class: 'pager'},
    pageNo > 1 ? prev : null,
    el('span', {id: 'page-info', text: countable ? `${shown} of ${total}` : `${shown} (page ${pageNo})`}),
    page.next_after !== null ? el('a', {id: 'next-page', href: next(), text: 'next →'}) : null);
  view().replaceChildren(el('h1', {text: 'Inventory'}), form, table, pager);
}

async function cert(serial) {
  const c = await api('/v1/certs/' + encodeURIComponent(serial));
  const kv = el('dl', {class: 'kv'});
  const add = (k, v) => { kv.append(el('dt', {text: k}), el('dd', {text: v})); };
  add('Serial', c.serial);
  add('Subject', c.subject);
  add('Status', c.status);
  add('Profile', c.profile);
  add('Names', (c.sans || []).join(', '));
  add('Not before', String(c.not_before));
  add('Not after', String(c.not_after));
  add('Key', c.key_algorithm || '');
  add('Owner', Object.entries(c.owner || {}).map(([k, v]) => k + '=' + v).join(', '));
  add('SHA-256', c.fingerprint_sha256 || '');
  const chain = el('ol', {id: 'cert-chain'},
    ...c.chain.map((ca) => el('li', {},
      el('a', {href: '#/cert/' + ca.serial, text: ca.subject}), ` (${ca.profile}, ${ca.status}, expires ${date(ca.not_after)})`)));
  const audit = el('ul', {id: 'cert-audit'},
    ...c.audit.map((e) => el('li', {text: `${date(e.at)} ${e.action}` +
      Object.entries(e).filter(([k]) => k !== 'at' && k !== 'action').map(([k, v]) => ` ${k}=${v}`).join('')})));
  const deployments = el('ul', {id: 'cert-deployments'});
  if (Array.isArray(c.deployments)) {
    for (const d of c.deployments) {
      deployments.append(el('li', {text: `${d.endpoint}${d.sni ? ' (' + d.sni + ')' : ''}: first seen ${date(d.first_seen)}, last seen ${date(d.last_seen)}` +
        (d.problems.length ? '; problems: ' + d.problems.map((p) => p.code).join(', ') : '')}));
    }
    if (!c.deployments.length) deployments.append(el('li', {text: 'not seen deployed by any scan'}));
  } else {
    deployments.append(el('li', {text: 'deployment tracking is not available'}));
  }
  view().replaceChildren(
    el('h1', {id: 'cert-title', text: 'Certificate ' + c.serial}),
    el('div', {class: 'card', id: 'cert-detail'}, kv),
    el('h2', {text: 'Chain'}), chain,
    el('h2', {text: 'Deployments'}), deployments,
    el('h2', {text: 'Audit trail'}), audit,
    el('h2', {text: 'PEM'}), el('pre', {text: c.certificate}));
}

async function hierarchy() {
  const h = await api('/v1/hierarchy');
  const children = new Map();
  const bySerial = new Map(h.cas.map((ca) => [ca.serial, ca]));
  const roots = [];
  for (const ca of h.cas) {
    if (ca.issuer_serial === ca.serial || !bySerial.has(ca.issuer_serial)) roots.push(ca);
    else {
      if (!children.has(ca.issuer_serial)) children.set(ca.issuer_serial, []);
      children.get(ca.issuer_serial).push(ca);
    }
  }
  const active = new Set(Object.values(h.active));
  const node = (ca) => el('li', {},
    el('a', {href: '#/cert/' + ca.serial, text: ca.subject}),
    ` — ${ca.profile}, ${ca.status}, ${ca.days_left} days left` + (active.has(ca.serial) ? ' (in service)' : ''),
    children.has(ca.serial) ? el('ul', {class: 'tree'}, ...children.get(ca.serial).map(node)) : null);
  view().replaceChildren(el('h1', {text: 'CA hierarchy'}),
    el('ul', {class: 'tree', id: 'hierarchy'}, ...roots.map(node)));
}

async function alerts() {
  const o = await api('/v1/overview');
  if (!o.alerts_configured) {
    view().replaceChildren(el('h1', {text: 'Recent alerts'}),
      el('p', {id: 'alerts', text: 'Alerts are not configured on this server.'}));
    return;
  }
  const list = await api('/v1/alerts/recent');
  const rows = list.items.map((a) => el('tr', {},
    el('td', {text: date(a.at)}), el('td', {text: a.kind}),
    el('td', {}, a.serial ? el('a', {href: '#/cert/' + a.serial, text: a.serial}) : '—'),
    el('td', {text: a.target}), el('td', {text: a.result})));
  const silences = list.silences.map((q) => el('li', {text:
    `${q.owner || q.serial} until ${date(q.ends_at)}${q.reason ? ' (' + q.reason + ')' : ''}`}));
  view().replaceChildren(el('h1', {text: 'Recent alerts'}),
    rows.length ? el('table', {id: 'alerts'},
      el('thead', {}, el('tr', {}, ...['When', 'Kind', 'Certificate', 'Target', 'Result'].map((h) => el('th', {text: h})))),
      el('tbody', {}, ...rows))
      : el('p', {id: 'alerts', text: 'No alert has been sent yet.'}),
    el('h2', {text: 'Active silences'}),
    silences.length ? el('ul', {id: 'silences'}, ...silences) : el('p', {text: 'None.'}));
}

// --- routing

async function route() {
  const hash = window.location.hash || '#/overview';
  const [path, query] = hash.slice(1).split('?');
  const params = new URLSearchParams(query || '');
  const page = path.split('/')[1] || 'overview';
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.dataset.page === page || (page === 'cert' && a.dataset.page === 'certs'));
  }
  document.getElementById('status-line').hidden = true;
  try {
    if (page === 'timeline') await timeline(params);
    else if (page === 'certs') await certs(params);
    else if (page === 'cert') await cert(decodeURIComponent(path.split('/')[2] || ''));
    else if (page === 'hierarchy') await hierarchy();
    else if (page === 'alerts') await alerts();
    else await overview();
    document.body.dataset.ready = page;
  } catch (e) {
    showError(e);
  }
}

document.addEventListener('DOMContentLoaded', async () => {
  document.getElementById('logout').addEventListener('click', async () => {
    await fetch('/ui/logout', {method: 'POST', credentials: 'same-origin'});
    window.location.assign('/ui/login');
  });
  try {
    const me = await api('/v1/session');
    document.getElementById('who').textContent = me.provisioner;
  } catch (e) {
    return;
  }
  window.addEventListener('hashchange', route);
  route();
});
