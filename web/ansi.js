// ANSI escape sequences in log lines. SGR ("Select Graphic Rendition",
// ECMA-48 section 8.3.117) becomes styled segments, including the xterm
// 256-colour and truecolour forms "38;5;N" and "38;2;R;G;B" and their ITU T.416
// colon forms. Every other escape sequence is removed from the text.

const ESC = '\x1b';

// A colour is null (the default), a palette number 0-15 (styled by a class so
// that it follows the theme), INVERTED_DEFAULT, or a CSS colour string.
const INVERTED_DEFAULT = -1;

// The six channel levels of the xterm 6x6x6 colour cube (indexes 16-231).
const CUBE_LEVELS = [0, 95, 135, 175, 215, 255];

function newStyle() {
  return {fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false, strike: false};
}

// paletteColour maps an xterm 256-colour index to a colour, or returns
// undefined for an index outside 0-255.
function paletteColour(index) {
  const n = Number(index);
  if (!Number.isInteger(n) || n < 0 || n > 255) return undefined;
  if (n < 16) return n;
  if (n < 232) {
    const c = n - 16;
    return `rgb(${CUBE_LEVELS[Math.floor(c / 36)]},${CUBE_LEVELS[Math.floor(c / 6) % 6]},${CUBE_LEVELS[c % 6]})`;
  }
  const grey = 8 + (n - 232) * 10;
  return `rgb(${grey},${grey},${grey})`;
}

// rgbColour returns a CSS colour, or undefined when a component is missing.
function rgbColour(r, g, b) {
  if (r === undefined || g === undefined || b === undefined) return undefined;
  const channel = (v) => Math.min(255, Math.max(0, Number(v) || 0));
  return `rgb(${channel(r)},${channel(g)},${channel(b)})`;
}

function applySgrCode(style, code) {
  if (code === 0) {
    Object.assign(style, newStyle());
  } else if (code === 1) {
    style.bold = true;
  } else if (code === 2) {
    style.dim = true;
  } else if (code === 3) {
    style.italic = true;
  } else if (code === 4 || code === 21) {
    style.underline = true;
  } else if (code === 7) {
    style.inverse = true;
  } else if (code === 9) {
    style.strike = true;
  } else if (code === 22) {
    style.bold = false;
    style.dim = false;
  } else if (code === 23) {
    style.italic = false;
  } else if (code === 24) {
    style.underline = false;
  } else if (code === 27) {
    style.inverse = false;
  } else if (code === 29) {
    style.strike = false;
  } else if (code >= 30 && code <= 37) {
    style.fg = code - 30;
  } else if (code === 39) {
    style.fg = null;
  } else if (code >= 40 && code <= 47) {
    style.bg = code - 40;
  } else if (code === 49) {
    style.bg = null;
  } else if (code >= 90 && code <= 97) {
    style.fg = code - 90 + 8;
  } else if (code >= 100 && code <= 107) {
    style.bg = code - 100 + 8;
  }
  // Blink, conceal, fonts and the other codes are ignored, so the text stays
  // readable.
}

function setExtendedColour(style, code, colour) {
  if (colour === undefined) return;
  if (code === 38) style.fg = colour;
  else style.bg = colour;
}

// applyColonParameter handles one parameter with sub-parameters, such as
// "38:2::255:0:0" (T.416, with an empty colour-space id), "38:2:255:0:0" (the
// common form without it), "38:5:208" or "4:3" (curly underline).
function applyColonParameter(style, parameter) {
  const sub = parameter.split(':');
  const code = Number(sub[0]);
  if (code === 38 || code === 48) {
    if (sub[1] === '5') {
      setExtendedColour(style, code, paletteColour(sub[2]));
    } else if (sub[1] === '2') {
      const rgb = sub.length >= 6 ? sub.slice(3, 6) : sub.slice(2, 5);
      setExtendedColour(style, code, rgbColour(rgb[0], rgb[1], rgb[2]));
    }
  } else if (code === 4) {
    style.underline = sub[1] !== '0';
  } else {
    applySgrCode(style, code);
  }
}

// applySgr applies the parameter string of one "ESC [ ... m" sequence.
function applySgr(style, parameters) {
  const list = parameters === '' ? ['0'] : parameters.split(';');
  for (let k = 0; k < list.length; k++) {
    const parameter = list[k];
    if (parameter.includes(':')) {
      applyColonParameter(style, parameter);
      continue;
    }
    const code = parameter === '' ? 0 : Number(parameter);
    if (code === 38 || code === 48) {
      const mode = list[k + 1];
      if (mode === '5') {
        setExtendedColour(style, code, paletteColour(list[k + 2]));
        k += 2;
      } else if (mode === '2') {
        setExtendedColour(style, code, rgbColour(list[k + 2], list[k + 3], list[k + 4]));
        k += 4;
      } else {
        // Without a known mode the length of the rest is unknown, so the rest
        // of the sequence is ignored.
        return;
      }
      continue;
    }
    applySgrCode(style, code);
  }
}

// segmentFor returns a text segment carrying the current style as CSS classes
// and, for colours outside the 16-colour palette, inline colours.
function segmentFor(style, text) {
  let fg = style.fg;
  let bg = style.bg;
  if (style.inverse) {
    fg = style.bg === null ? INVERTED_DEFAULT : style.bg;
    bg = style.fg === null ? INVERTED_DEFAULT : style.fg;
  }

  const classes = [];
  let fgColour = '';
  let bgColour = '';
  if (typeof fg === 'number') classes.push(fg === INVERTED_DEFAULT ? 'fi' : 'f' + fg);
  else if (fg !== null) fgColour = fg;
  if (typeof bg === 'number') classes.push(bg === INVERTED_DEFAULT ? 'bi' : 'b' + bg);
  else if (bg !== null) bgColour = bg;
  if (style.bold) classes.push('sb');
  if (style.dim) classes.push('sd');
  if (style.italic) classes.push('si');
  if (style.underline) classes.push('su');
  if (style.strike) classes.push('ss');

  return {text, className: classes.join(' '), fg: fgColour, bg: bgColour};
}

const isParameterByte = (c) => c >= 0x30 && c <= 0x3f;
const isIntermediateByte = (c) => c >= 0x20 && c <= 0x2f;
const isFinalByte = (c) => c >= 0x40 && c <= 0x7e;

// skipEscape returns the index just past the escape sequence that starts at
// line[start] (an ESC), applying it to style when it is an SGR sequence. A
// sequence cut off by the end of the line swallows the rest of the line.
function skipEscape(line, start, style) {
  const n = line.length;
  let j = start + 1;
  if (j >= n) return n;
  const kind = line.charCodeAt(j);

  if (kind === 0x5b) { // "[": a control sequence (CSI)
    j++;
    const parametersStart = j;
    while (j < n && isParameterByte(line.charCodeAt(j))) j++;
    const parametersEnd = j;
    while (j < n && isIntermediateByte(line.charCodeAt(j))) j++;
    if (j >= n) return n;
    const final = line.charCodeAt(j);
    if (!isFinalByte(final)) return j;
    if (final === 0x6d && parametersEnd === j) { // "m" without intermediates
      const parameters = line.slice(parametersStart, parametersEnd);
      // A private marker ("<", "=", ">", "?") makes it something other than SGR.
      if (/^[0-9;:]*$/.test(parameters)) applySgr(style, parameters);
    }
    return j + 1;
  }

  // OSC "]", DCS "P", SOS "X", PM "^" and APC "_" carry a string that ends at
  // BEL or at ST ("ESC \").
  if (kind === 0x5d || kind === 0x50 || kind === 0x58 || kind === 0x5e || kind === 0x5f) {
    for (j++; j < n; j++) {
      const c = line.charCodeAt(j);
      if (c === 0x07) return j + 1;
      if (c === 0x1b && line.charCodeAt(j + 1) === 0x5c) return j + 2;
    }
    return n;
  }

  // Any other escape: optional intermediate bytes, then one final byte.
  while (j < n && isIntermediateByte(line.charCodeAt(j))) j++;
  return j < n ? j + 1 : n;
}

// parseLine returns the visible text of a log line and, when the line has
// escape sequences, its styled segments (whose texts concatenate to text).
// segments is null for a line without escapes, which is the common case.
function parseLine(raw) {
  // CRLF files leave a carriage return on every line.
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  if (!line.includes(ESC)) return {text: line, segments: null};

  const style = newStyle();
  const segments = [];
  let text = '';
  let i = 0;
  while (i < line.length) {
    const escape = line.indexOf(ESC, i);
    const end = escape < 0 ? line.length : escape;
    if (end > i) {
      const piece = line.slice(i, end);
      segments.push(segmentFor(style, piece));
      text += piece;
    }
    if (escape < 0) break;
    i = skipEscape(line, escape, style);
  }
  return {text, segments};
}
