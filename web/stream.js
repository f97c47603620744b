// The WebSocket stream of one channel, reconnected after every close and
// resumed with since= so that no line is lost or shown twice.

// Reconnect delays grow from RECONNECT_BASE_MS, doubling per failed attempt up
// to RECONNECT_CAP_MS. Half of each delay is random ("equal jitter"), so the
// viewers of a worker that went away do not all come back at the same moment.
const RECONNECT_BASE_MS = 500;
const RECONNECT_CAP_MS = 30000;
// A connection that stayed open this long resets the delay to the base. A
// server that accepts and then closes at once (1013 at its connection limit)
// still backs off.
const HEALTHY_AFTER_MS = 5000;
// A handshake that takes longer is abandoned and retried.
const CONNECT_TIMEOUT_MS = 10000;
// NOTE: a connection that dies without a FIN or RST is noticed only when the
// browser's TCP stack gives up, because page script cannot see WebSocket pings.

const CLOSE_REASONS = new Map([
  [1000, 'closed by the server'],
  [1001, 'server restarting'],
  [1006, 'connection lost'],
  [1008, 'rejected by the server (origin or token)'],
  [1011, 'server error'],
  [1013, 'server at its connection limit'],
]);

function describeClose(code, reason) {
  let text = CLOSE_REASONS.get(code);
  if (text === undefined) text = code >= 4000 && code <= 4999 ? 'too slow to keep up' : 'closed';
  return reason ? `${text} (${code}: ${reason})` : `${text} (${code})`;
}

function reconnectDelay(attempt) {
  const ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempt, 16));
  return ceiling / 2 + Math.random() * ceiling / 2;
}

// compareStreamIds orders Redis stream IDs ("<milliseconds>-<sequence>").
// It returns a negative number, zero or a positive number, and treats an ID
// it cannot parse as newer than any other.
function compareStreamIds(a, b) {
  const pa = /^(\d+)-(\d+)$/.exec(a);
  const pb = /^(\d+)-(\d+)$/.exec(b);
  if (pa === null || pb === null) return 1;
  const ms = Number(pa[1]) - Number(pb[1]);
  return ms !== 0 ? ms : Number(pa[2]) - Number(pb[2]);
}

class ChannelStream {
  // handlers: onLines(lines), onEvent(name, frame), onState(state), where
  // state is {name: 'connecting'|'live'|'waiting', ...details}.
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.channel = '';
    this.backlog = 0;
    this.lastId = null;    // ID of the newest frame received, for since=
    this.attempt = 0;      // failed attempts since the last healthy connection
    this.generation = 0;   // bumped on every connect and stop; stale callbacks compare it
    this.retryTimer = 0;
    this.everLive = false;
    window.addEventListener('online', () => this.retryNow());
  }

  // open starts streaming channel with the last backlog lines, replacing any
  // previous channel.
  open(channel, backlog) {
    this.stop();
    this.channel = channel;
    this.backlog = backlog;
    this.lastId = null;
    this.attempt = 0;
    this.everLive = false;
    this.connect();
  }

  stop() {
    this.generation++;
    clearTimeout(this.retryTimer);
    if (this.socket !== null) {
      this.socket.close(1000);
      this.socket = null;
    }
  }

  // retryNow skips the wait before the next attempt, for example when the
  // browser comes back online.
  retryNow() {
    if (this.channel === '' || this.socket !== null) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  url() {
    // Relative to the page, so the viewer also works under a path prefix
    // behind a reverse proxy.
    const url = new URL('ws/' + encodeURIComponent(this.channel), document.baseURI);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.search = '';
    url.hash = '';
    url.searchParams.set('format', 'json');
    if (this.lastId !== null) url.searchParams.set('since', this.lastId);
    else if (this.backlog > 0) url.searchParams.set('backlog', String(this.backlog));
    return url.href;
  }

  connect() {
    const generation = ++this.generation;
    const resumeFrom = this.lastId;
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch (err) {
      this.handlers.onState({name: 'waiting', error: `invalid stream URL: ${err.message}`, delay: 0});
      return;
    }
    this.socket = socket;
    this.handlers.onState({name: 'connecting', attempt: this.attempt});

    let openedAt = 0;
    const openTimer = setTimeout(() => {
      if (socket.readyState === WebSocket.CONNECTING) socket.close();
    }, CONNECT_TIMEOUT_MS);

    socket.onopen = () => {
      clearTimeout(openTimer);
      if (generation !== this.generation) return;
      openedAt = performance.now();
      this.handlers.onState({name: 'live', reconnected: this.everLive, resumeFrom});
      this.everLive = true;
    };
    socket.onmessage = (message) => {
      if (generation !== this.generation) return;
      this.receive(message.data);
    };
    socket.onclose = (close) => {
      clearTimeout(openTimer);
      if (generation !== this.generation) return;
      this.socket = null;
      if (openedAt !== 0 && performance.now() - openedAt >= HEALTHY_AFTER_MS) this.attempt = 0;
      const delay = reconnectDelay(this.attempt);
      this.attempt++;
      this.handlers.onState({
        name: 'waiting',
        wasLive: openedAt !== 0,
        code: close.code,
        error: describeClose(close.code, close.reason),
        delay,
      });
      this.retryTimer = setTimeout(() => this.connect(), delay);
    };
  }

  receive(data) {
    if (typeof data !== 'string') return; // format=json frames are text
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      console.warn('tailcast: invalid JSON frame', data.slice(0, 200));
      return;
    }
    if (frame === null || typeof frame !== 'object') return;
    if (typeof frame.channel === 'string' && frame.channel !== this.channel) return;

    const id = typeof frame.id === 'string' ? frame.id : null;
    // A batch at or before the last ID was shown already. Skipping it keeps a
    // resume exact if a server ever repeats a batch.
    const seen = id !== null && this.lastId !== null && compareStreamIds(id, this.lastId) <= 0;
    if (Array.isArray(frame.lines)) {
      if (!seen) this.handlers.onLines(frame.lines);
    } else if (typeof frame.event === 'string') {
      this.handlers.onEvent(frame.event, frame);
    }
    if (id !== null && !seen) this.lastId = id;
  }
}
