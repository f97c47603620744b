// The log view: one element per record in a scrolling container. Incoming
// lines wait in a buffer, and the DOM changes at most once per animation
// frame, so a burst of WebSocket messages costs one layout.

const LINE = 'line';   // a log line from the server
const EVENT = 'event'; // a server event: rotated, truncated, gap
const NOTE = 'note';   // a message of the page itself, such as a reconnect

// Line elements sit in blocks of CHUNK_LINES, each with CSS containment, so
// that adding lines at the end and trimming them at the start lays out two
// blocks and not every line in the page.
const CHUNK_LINES = 200;

// A backlog of thousands of lines is rendered over several frames, so that no
// single frame blocks input for long. At 5,000 lines/s and even 10 frames/s a
// frame has 500 lines, well under this.
const MAX_LINES_PER_FRAME = 2000;

// Within this many pixels of the end the view counts as scrolled to the bottom.
const BOTTOM_SLACK_PX = 4;

class LogView {
  // onChange is called after every change to the counts or states that the
  // status bar shows.
  constructor(scroller, onChange) {
    this.scroller = scroller;
    this.onChange = onChange;
    this.records = [];     // {kind, text, segments, el, shown, highlighted}, oldest first
    this.chunks = [];      // {el, count}: the blocks that hold the records' elements, in order
    this.pending = [];     // {kind, text} received but not rendered yet
    this.maxLines = 10000; // records kept in the page, events and notes included
    this.filter = NO_FILTER;
    this.paused = false;
    this.follow = true;    // keep the newest line in view
    this.lineCount = 0;    // LINE records in the page
    this.matchCount = 0;   // LINE records that pass the filter
    this.dropped = 0;      // lines never rendered because newer ones filled the page; reset on resume
    this.unseen = 0;       // lines added below the view since following stopped
    this.frameRequested = false;
    this.pointerDown = false;
    this.scroller.classList.add('following');
    this.listen();
  }

  appendLines(lines) {
    for (const line of lines) this.pending.push({kind: LINE, text: String(line)});
    this.boundPending();
    this.requestFrame();
  }

  appendMessage(kind, text) {
    this.pending.push({kind, text});
    this.boundPending();
    this.requestFrame();
  }

  // boundPending keeps the buffer within twice maxLines and then drops it to
  // maxLines, so trimming costs amortised constant time per line. The lines
  // dropped are older than the maxLines newest, so the page would trim them
  // anyway when it next renders.
  boundPending() {
    if (this.pending.length <= 2 * this.maxLines) return;
    const excess = this.pending.length - this.maxLines;
    this.pending.splice(0, excess);
    this.dropped += excess;
    this.onChange();
  }

  requestFrame() {
    if (this.paused) {
      this.onChange(); // the buffered count changed
      return;
    }
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frameRequested = false;
    if (this.paused || this.pending.length === 0) return;

    // Only the newest maxLines can stay in the page, so older pending lines
    // are never rendered.
    if (this.pending.length > this.maxLines) {
      const excess = this.pending.length - this.maxLines;
      this.pending.splice(0, excess);
      this.dropped += excess;
    }
    let items = this.pending;
    if (items.length > MAX_LINES_PER_FRAME) {
      items = this.pending.slice(0, MAX_LINES_PER_FRAME);
      this.pending = this.pending.slice(MAX_LINES_PER_FRAME);
      this.requestFrame();
    } else {
      this.pending = [];
    }

    const elements = [];
    let shown = 0;
    for (const item of items) {
      const record = this.createRecord(item);
      this.records.push(record);
      elements.push(record.el);
      if (record.shown) shown++;
    }
    this.appendToChunks(elements);
    this.trim();

    if (this.follow) this.scrollToBottom();
    else this.unseen += shown;
    this.onChange();
  }

  createRecord(item) {
    const el = document.createElement('div');
    if (item.kind !== LINE) {
      el.className = 'l ' + item.kind;
      el.textContent = item.text;
      return {kind: item.kind, text: item.text, segments: null, el, shown: true, highlighted: ''};
    }

    const parsed = parseLine(item.text);
    const record = {kind: LINE, text: parsed.text, segments: parsed.segments, el, shown: false, highlighted: null};
    el.className = 'l h';
    this.lineCount++;
    this.applyFilterTo(record);
    return record;
  }

  // applyFilterTo shows or hides a LINE record and redraws its highlights when
  // they were drawn for another filter. A hidden record keeps stale highlights
  // until it is shown again.
  applyFilterTo(record) {
    const shown = filterMatches(this.filter, record.text);
    if (shown !== record.shown) {
      record.shown = shown;
      record.el.classList.toggle('h', !shown);
      this.matchCount += shown ? 1 : -1;
    }
    if (shown && record.highlighted !== this.filter.key) {
      renderLine(record.el, record.text, record.segments, matchRanges(this.filter, record.text));
      record.highlighted = this.filter.key;
    }
  }

  setFilter(filter) {
    this.filter = filter;
    for (const record of this.records) {
      if (record.kind === LINE) this.applyFilterTo(record);
    }
    if (this.follow) this.scrollToBottom();
    this.onChange();
  }

  appendToChunks(elements) {
    let i = 0;
    while (i < elements.length) {
      let chunk = this.chunks[this.chunks.length - 1];
      if (chunk === undefined || chunk.count === CHUNK_LINES) {
        chunk = {el: document.createElement('div'), count: 0};
        chunk.el.className = 'chunk';
        this.scroller.appendChild(chunk.el);
        this.chunks.push(chunk);
      }
      const n = Math.min(CHUNK_LINES - chunk.count, elements.length - i);
      chunk.el.append(...elements.slice(i, i + n));
      chunk.count += n;
      i += n;
    }
  }

  trim() {
    const excess = this.records.length - this.maxLines;
    if (excess <= 0) return;

    // The records fill the chunks in order, so the oldest ones are whole
    // chunks at the start and then the first elements of one more chunk.
    const removed = this.records.splice(0, excess);
    let i = 0;
    while (i < removed.length) {
      const chunk = this.chunks[0];
      const take = Math.min(chunk.count, removed.length - i);
      if (take === chunk.count) {
        chunk.el.remove();
        this.chunks.shift();
      } else {
        const range = document.createRange();
        range.setStartBefore(removed[i].el);
        range.setEndAfter(removed[i + take - 1].el);
        range.deleteContents();
        chunk.count -= take;
      }
      i += take;
    }
    for (const record of removed) {
      if (record.kind !== LINE) continue;
      this.lineCount--;
      if (record.shown) this.matchCount--;
    }
  }

  setMaxLines(maxLines) {
    this.maxLines = maxLines;
    this.trim();
    this.boundPending();
    this.onChange();
  }

  setPaused(paused) {
    this.paused = paused;
    if (!paused) {
      this.dropped = 0;
      this.requestFrame();
    }
    this.onChange();
  }

  clear() {
    this.records = [];
    this.pending = [];
    this.chunks = [];
    this.scroller.replaceChildren();
    this.lineCount = 0;
    this.matchCount = 0;
    this.dropped = 0;
    this.unseen = 0;
    this.onChange();
  }

  // Scrolling. The view stops following on a sign that the user scrolls up
  // (wheel, keys, a drag of the scrollbar or a touch) and follows again once
  // the user reaches the bottom. A scroll event alone does not stop it,
  // because trimming, resizing and filtering move the content too.

  listen() {
    const scroller = this.scroller;
    scroller.addEventListener('wheel', (event) => {
      if (event.deltaY < 0 && this.isScrollable()) this.setFollow(false);
    }, {passive: true});
    scroller.addEventListener('keydown', (event) => {
      if ((event.key === 'ArrowUp' || event.key === 'PageUp') && this.isScrollable()) this.setFollow(false);
    });
    scroller.addEventListener('pointerdown', () => { this.pointerDown = true; });
    scroller.addEventListener('touchstart', () => { this.pointerDown = true; }, {passive: true});
    const release = () => { this.pointerDown = false; };
    window.addEventListener('pointerup', release);
    window.addEventListener('touchend', release);
    scroller.addEventListener('scroll', () => {
      if (this.distanceToBottom() <= BOTTOM_SLACK_PX) {
        if (!this.follow) this.setFollow(true);
      } else if (this.follow && this.pointerDown) {
        this.setFollow(false);
      }
    }, {passive: true});
    new ResizeObserver(() => {
      if (this.follow) this.scrollToBottom();
    }).observe(scroller);
  }

  isScrollable() {
    return this.scroller.scrollHeight - this.scroller.clientHeight > BOTTOM_SLACK_PX;
  }

  distanceToBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight;
  }

  setFollow(follow) {
    if (this.follow === follow) return;
    this.follow = follow;
    this.scroller.classList.toggle('following', follow);
    if (follow) this.unseen = 0;
    this.onChange();
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  jumpToBottom() {
    this.setFollow(true);
    this.scrollToBottom();
  }

  jumpToTop() {
    if (this.isScrollable()) this.setFollow(false);
    this.scroller.scrollTop = 0;
  }
}

// renderLine replaces the content of el with the text, styled by its ANSI
// segments (or unstyled when segments is null), with the ranges wrapped in
// <mark>. Text goes in only as text nodes, so a line can never become markup.
function renderLine(el, text, segments, ranges) {
  if (segments === null && ranges.length === 0) {
    el.textContent = text;
    return;
  }

  el.replaceChildren();
  const parts = segments || [{text, className: '', fg: '', bg: ''}];
  let offset = 0; // of the current segment in text
  let next = 0;   // first range that may still overlap
  for (const segment of parts) {
    const end = offset + segment.text.length;
    let position = offset;
    while (position < end) {
      while (next < ranges.length && ranges[next][1] <= position) next++;
      let pieceEnd;
      let marked;
      if (next < ranges.length && ranges[next][0] <= position) {
        pieceEnd = Math.min(end, ranges[next][1]);
        marked = true;
      } else {
        pieceEnd = next < ranges.length ? Math.min(end, ranges[next][0]) : end;
        marked = false;
      }
      appendPiece(el, segment, segment.text.slice(position - offset, pieceEnd - offset), marked);
      position = pieceEnd;
    }
    offset = end;
  }
}

function appendPiece(parent, segment, text, marked) {
  let node;
  if (segment.className || segment.fg || segment.bg) {
    node = document.createElement('span');
    if (segment.className) node.className = segment.className;
    // CSSOM assignments, unlike style attributes, are allowed by the page's
    // Content-Security-Policy.
    if (segment.fg) node.style.color = segment.fg;
    if (segment.bg) node.style.backgroundColor = segment.bg;
    node.textContent = text;
  } else {
    node = document.createTextNode(text);
  }
  if (marked) {
    const mark = document.createElement('mark');
    mark.appendChild(node);
    node = mark;
  }
  parent.appendChild(node);
}
