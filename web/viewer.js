// The page controls: channel picker, filter, pause, settings, keyboard,
// status bar and the view state kept in the URL, so that a link opens the same
// view. Query parameters: channel, q (filter), re=1 (regular expression),
// case=1 (match case), backlog, max (lines kept), wrap=0.

const DEFAULT_BACKLOG = 1000;
// NOTE: tailcast serve rejects a larger backlog unless its --max-backlog is
// raised, and the page cannot read that setting.
const MAX_BACKLOG = 10000;
const DEFAULT_MAX_LINES = 10000;
const MIN_MAX_LINES = 100;
const MAX_MAX_LINES = 200000;

const byId = (id) => document.getElementById(id);
const ui = {
  channel: byId('channel'),
  filter: byId('filter'),
  regex: byId('regex'),
  matchCase: byId('case'),
  filterError: byId('filter-error'),
  pause: byId('pause'),
  clear: byId('clear'),
  settings: byId('settings'),
  backlog: byId('backlog'),
  maxLines: byId('max-lines'),
  wrap: byId('wrap'),
  connection: byId('connection'),
  log: byId('log'),
  bottom: byId('bottom'),
  counts: byId('counts'),
  rate: byId('rate'),
};

const numberFormat = new Intl.NumberFormat();

function readInteger(value, fallback, min, max) {
  const n = Number(value);
  if (value === null || value === '' || !Number.isInteger(n)) return fallback;
  return Math.min(max, Math.max(min, n));
}

function readViewState() {
  const params = new URLSearchParams(location.search);
  return {
    channel: params.get('channel') || '',
    query: params.get('q') || '',
    isRegExp: params.get('re') === '1',
    matchCase: params.get('case') === '1',
    backlog: readInteger(params.get('backlog'), DEFAULT_BACKLOG, 0, MAX_BACKLOG),
    maxLines: readInteger(params.get('max'), DEFAULT_MAX_LINES, MIN_MAX_LINES, MAX_MAX_LINES),
    wrap: params.get('wrap') !== '0',
  };
}

// writeViewState puts the current view into the URL. A new channel is a new
// history entry, so Back returns to the previous channel; other changes
// replace the current entry.
function writeViewState(newEntry) {
  const params = new URLSearchParams();
  if (state.channel) params.set('channel', state.channel);
  if (ui.filter.value) params.set('q', ui.filter.value);
  if (ui.regex.checked) params.set('re', '1');
  if (ui.matchCase.checked) params.set('case', '1');
  if (state.backlog !== DEFAULT_BACKLOG) params.set('backlog', String(state.backlog));
  if (state.maxLines !== DEFAULT_MAX_LINES) params.set('max', String(state.maxLines));
  if (!ui.wrap.checked) params.set('wrap', '0');
  const search = params.toString();
  const url = location.pathname + (search ? '?' + search : '');
  if (url === location.pathname + location.search) return;
  if (newEntry) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

const state = readViewState();
let received = 0;     // lines received since the last rate update
let rateUpdatedAt = performance.now();
let statusRequested = false;

const view = new LogView(ui.log, requestStatus);
const stream = new ChannelStream({onLines, onEvent, onState: showConnection});

function onLines(lines) {
  received += lines.length;
  view.appendLines(lines);
}

function timeOfId(id) {
  const ms = Number(/^(\d+)-/.exec(id || '')?.[1]);
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toLocaleTimeString() + ' ' : '';
}

function onEvent(name, frame) {
  let text;
  if (name === 'rotated') text = 'file rotated; following the new file';
  else if (name === 'truncated') text = 'file truncated; reading from its start';
  else if (name === 'gap') text = 'gap: history no longer reaches back to the last line seen, so some lines are missing here';
  else text = `event "${name}"`;
  view.appendMessage(EVENT, `— ${timeOfId(frame.id)}${text} —`);
}

function showConnection(connection) {
  const el = ui.connection;
  if (connection.name === 'connecting') {
    el.dataset.state = 'connecting';
    el.textContent = connection.attempt > 0 ? `connecting (attempt ${connection.attempt + 1})…` : 'connecting…';
  } else if (connection.name === 'live') {
    el.dataset.state = 'live';
    el.textContent = 'live';
    if (connection.reconnected) {
      const from = connection.resumeFrom ? ` after ${connection.resumeFrom}` : '';
      view.appendMessage(NOTE, `reconnected; resuming${from}`);
    }
  } else {
    el.dataset.state = 'down';
    const retry = connection.delay > 0 ? `; retrying in ${(connection.delay / 1000).toFixed(1)} s` : '';
    // A browser hides the HTTP status of a failed handshake, so the channel
    // list is the only hint that the server returned 404.
    const unknown = !connection.wasLive && knownChannels !== null && !knownChannels.includes(state.channel);
    const error = unknown ? `channel "${state.channel}" is not on this server` : connection.error;
    el.textContent = `${error}${retry}`;
    if (connection.wasLive) view.appendMessage(NOTE, `disconnected: ${connection.error}`);
  }
  el.title = el.textContent;
}

// Status bar and the jump button are redrawn at most once per frame.
function requestStatus() {
  if (statusRequested) return;
  statusRequested = true;
  requestAnimationFrame(renderStatus);
}

function renderStatus() {
  statusRequested = false;
  const parts = [];
  if (view.filter.active) {
    parts.push(`${numberFormat.format(view.matchCount)} of ${numberFormat.format(view.lineCount)} lines match`);
  } else {
    parts.push(`${numberFormat.format(view.lineCount)} lines`);
  }
  if (view.paused) parts.push(`paused, ${numberFormat.format(view.pending.length)} new lines buffered`);
  if (view.dropped > 0) parts.push(`${numberFormat.format(view.dropped)} lines skipped, more than the page keeps`);
  ui.counts.textContent = parts.join(' · ');

  ui.pause.textContent = view.paused ? 'Resume' : 'Pause';
  ui.pause.setAttribute('aria-pressed', String(view.paused));

  ui.bottom.hidden = view.follow;
  ui.bottom.textContent = view.unseen > 0 ? `↓ ${numberFormat.format(view.unseen)} new lines` : '↓ Jump to bottom';
}

function updateRate() {
  const now = performance.now();
  const perSecond = received * 1000 / (now - rateUpdatedAt);
  received = 0;
  rateUpdatedAt = now;
  ui.rate.textContent = `${numberFormat.format(Math.round(perSecond))} lines/s`;
}

// Filter: recompiled on every change and applied once per frame.
let filterRequested = false;

function requestFilter() {
  if (filterRequested) return;
  filterRequested = true;
  requestAnimationFrame(() => {
    filterRequested = false;
    applyFilter();
  });
}

function applyFilter() {
  const filter = compileFilter(ui.filter.value, ui.regex.checked, ui.matchCase.checked);
  ui.filter.setAttribute('aria-invalid', String(filter.error !== null));
  ui.filterError.hidden = filter.error === null;
  ui.filterError.textContent = filter.error === null ? '' : `Invalid regular expression, so nothing is filtered: ${filter.error}`;
  view.setFilter(filter);
  writeViewState(false);
}

// Channels

function openChannel(channel, newEntry) {
  state.channel = channel;
  ensureChannelOption(channel);
  ui.channel.value = channel;
  document.title = channel ? `${channel} · tailcast` : 'tailcast';
  writeViewState(newEntry);
  view.clear();
  if (channel) stream.open(channel, state.backlog);
  else stream.stop();
}

function ensureChannelOption(channel) {
  if (!channel || [...ui.channel.options].some((o) => o.value === channel)) return;
  ui.channel.add(new Option(channel, channel));
}

let channelAttempt = 0;
let knownChannels = null; // the server's channel names, once loaded

async function loadChannels() {
  let names;
  try {
    const response = await fetch('channels', {cache: 'no-store', headers: {Accept: 'application/json'}});
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = await response.json();
    if (!Array.isArray(body.channels)) throw new Error('response has no "channels" list');
    names = body.channels.map(String);
  } catch (err) {
    const delay = reconnectDelay(channelAttempt++);
    if (!state.channel) {
      ui.connection.dataset.state = 'down';
      ui.connection.textContent = `channel list unavailable (${err.message}); retrying in ${(delay / 1000).toFixed(1)} s`;
    }
    setTimeout(loadChannels, delay);
    return;
  }

  knownChannels = names;
  ui.channel.replaceChildren(...names.map((name) => new Option(name, name)));
  if (state.channel) {
    ensureChannelOption(state.channel);
    ui.channel.value = state.channel;
  } else if (names.length > 0) {
    openChannel(names[0], false);
  } else {
    ui.connection.dataset.state = 'down';
    ui.connection.textContent = 'the server has no channels configured';
  }
}

// Keyboard

function isTextEntry(el) {
  if (el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement) return true;
  if (el instanceof HTMLInputElement) return !['checkbox', 'radio', 'button', 'submit', 'reset'].includes(el.type);
  return el instanceof HTMLElement && el.isContentEditable;
}

function togglePause() {
  view.setPaused(!view.paused);
}

document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  const target = event.target;
  if (event.key === 'Escape' && target === ui.filter) {
    if (ui.filter.value) {
      ui.filter.value = '';
      requestFilter();
    } else {
      ui.filter.blur();
    }
    event.preventDefault();
    return;
  }
  if (isTextEntry(target)) return;
  const onControl = target instanceof HTMLButtonElement || target instanceof HTMLInputElement ||
    (target instanceof HTMLElement && target.localName === 'summary');

  if (event.key === '/') {
    event.preventDefault();
    ui.filter.focus();
    ui.filter.select();
  } else if (event.key === 'p' || (event.key === ' ' && !onControl)) {
    event.preventDefault();
    togglePause();
  } else if (event.key === 'End') {
    event.preventDefault();
    view.jumpToBottom();
  } else if (event.key === 'Home') {
    event.preventDefault();
    view.jumpToTop();
  } else if (event.key === 'Escape' && ui.settings.open) {
    ui.settings.open = false;
  }
});

// Wiring

ui.channel.addEventListener('change', () => openChannel(ui.channel.value, true));
ui.filter.addEventListener('input', requestFilter);
ui.regex.addEventListener('change', requestFilter);
ui.matchCase.addEventListener('change', requestFilter);
ui.pause.addEventListener('click', togglePause);
ui.clear.addEventListener('click', () => view.clear());
ui.bottom.addEventListener('click', () => view.jumpToBottom());

ui.backlog.addEventListener('change', () => {
  state.backlog = readInteger(ui.backlog.value, DEFAULT_BACKLOG, 0, MAX_BACKLOG);
  ui.backlog.value = state.backlog;
  // A different backlog only means something for a fresh start of the channel.
  if (state.channel) openChannel(state.channel, false);
});
ui.maxLines.addEventListener('change', () => {
  state.maxLines = readInteger(ui.maxLines.value, DEFAULT_MAX_LINES, MIN_MAX_LINES, MAX_MAX_LINES);
  ui.maxLines.value = state.maxLines;
  view.setMaxLines(state.maxLines);
  writeViewState(false);
});
ui.wrap.addEventListener('change', () => {
  ui.log.classList.toggle('nowrap', !ui.wrap.checked);
  writeViewState(false);
});

window.addEventListener('popstate', () => {
  const next = readViewState();
  if (next.channel && next.channel !== state.channel) openChannel(next.channel, false);
});

// Start

ui.filter.value = state.query;
ui.regex.checked = state.isRegExp;
ui.matchCase.checked = state.matchCase;
ui.backlog.value = state.backlog;
ui.maxLines.value = state.maxLines;
ui.wrap.checked = state.wrap;
ui.log.classList.toggle('nowrap', !state.wrap);
view.maxLines = state.maxLines;
applyFilter();
// With a channel in the URL the stream starts at once, without waiting for
// the channel list.
if (state.channel) openChannel(state.channel, false);
loadChannels();
setInterval(updateRate, 1000);
renderStatus();
