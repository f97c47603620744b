// The line filter: a substring or a regular expression, case-insensitive
// unless the user asks otherwise.

// At most this many matches of one line are highlighted, which bounds the work
// for a pattern that matches every character of a long line.
const MAX_HIGHLIGHTS_PER_LINE = 200;

const NO_FILTER = {active: false, key: '', error: null, pattern: null};

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// compileFilter returns the filter for the query. An invalid regular
// expression gives an inactive filter whose error is the browser's message.
// A substring also becomes a RegExp, because lower-casing both sides would
// change string lengths for some characters and shift the highlights.
function compileFilter(query, isRegExp, matchCase) {
  if (query === '') return NO_FILTER;
  const flags = matchCase ? 'g' : 'gi';
  try {
    const pattern = new RegExp(isRegExp ? query : escapeRegExp(query), flags);
    return {active: true, key: `${isRegExp ? 'r' : 's'}${matchCase ? 'c' : 'i'}:${query}`, error: null, pattern};
  } catch (err) {
    return {active: false, key: '', error: err.message, pattern: null};
  }
}

// NOTE: a regular expression with catastrophic backtracking blocks the page,
// because a JavaScript RegExp has no time limit.
function filterMatches(filter, text) {
  if (!filter.active) return true;
  filter.pattern.lastIndex = 0;
  return filter.pattern.test(text);
}

// matchRanges returns the [start, end) ranges of the filter's non-empty
// matches in text, in order. Empty matches (of "^" or "x*") select a line but
// highlight nothing.
function matchRanges(filter, text) {
  const ranges = [];
  if (!filter.active) return ranges;
  const pattern = filter.pattern;
  pattern.lastIndex = 0;
  while (ranges.length < MAX_HIGHLIGHTS_PER_LINE) {
    const match = pattern.exec(text);
    if (match === null) break;
    const start = match.index;
    const end = start + match[0].length;
    if (end === start) {
      // Step past an empty match, which would otherwise repeat forever.
      if (start >= text.length) break;
      pattern.lastIndex = start + 1;
      continue;
    }
    ranges.push([start, end]);
  }
  return ranges;
}
