package bench

import (
	"bytes"
	"errors"
	"fmt"
)

// Format is the wire format that clients request with the format query
// parameter.
type Format string

// Wire formats of the server.
const (
	FormatJSON Format = "json"
	FormatText Format = "text"
)

var errMalformedFrame = errors.New("malformed JSON frame")

// scanTextFrame calls visit for each line of a text frame, whose lines are
// joined by '\n'.
func scanTextFrame(payload []byte, visit func(line []byte)) {
	for len(payload) > 0 {
		end := bytes.IndexByte(payload, '\n')
		if end < 0 {
			visit(payload)
			return
		}
		visit(payload[:end])
		payload = payload[end+1:]
	}
}

// scanJSONFrame calls visit for each element of the "lines" array of a JSON
// frame and returns the value of its "event" field, if any. It decodes no
// string: visit receives the raw bytes between the quotes, and elements that
// contain an escape sequence are skipped because no bench line needs one.
// This keeps the client's cost per line near a prefix comparison, which
// matters because the bench and the server share the machine.
func scanJSONFrame(payload []byte, visit func(line []byte)) (event string, err error) {
	i := skipSpace(payload, 0)
	if i >= len(payload) || payload[i] != '{' {
		return "", fmt.Errorf("bench: scan frame: %w: no object", errMalformedFrame)
	}
	i = skipSpace(payload, i+1)
	if i < len(payload) && payload[i] == '}' {
		return "", checkTrailing(payload, i+1)
	}

	for {
		key, _, next, err := readString(payload, i)
		if err != nil {
			return "", err
		}
		i = skipSpace(payload, next)
		if i >= len(payload) || payload[i] != ':' {
			return "", fmt.Errorf("bench: scan frame: %w: no colon after key %q", errMalformedFrame, key)
		}
		i = skipSpace(payload, i+1)

		switch string(key) {
		case "lines":
			i, err = scanLines(payload, i, visit)
		case "event":
			var value []byte
			value, _, i, err = readString(payload, i)
			event = string(value)
		default:
			i, err = skipValue(payload, i)
		}
		if err != nil {
			return "", err
		}

		i = skipSpace(payload, i)
		if i >= len(payload) {
			return "", fmt.Errorf("bench: scan frame: %w: object not closed", errMalformedFrame)
		}
		switch payload[i] {
		case ',':
			i = skipSpace(payload, i+1)
		case '}':
			return event, checkTrailing(payload, i+1)
		default:
			return "", fmt.Errorf("bench: scan frame: %w: unexpected %q at offset %d", errMalformedFrame, payload[i], i)
		}
	}
}

func scanLines(payload []byte, i int, visit func(line []byte)) (int, error) {
	if i >= len(payload) || payload[i] != '[' {
		return 0, fmt.Errorf("bench: scan frame: %w: lines is not an array", errMalformedFrame)
	}
	i = skipSpace(payload, i+1)
	if i < len(payload) && payload[i] == ']' {
		return i + 1, nil
	}
	for {
		line, escaped, next, err := readString(payload, i)
		if err != nil {
			return 0, err
		}
		if !escaped {
			visit(line)
		}
		i = skipSpace(payload, next)
		if i >= len(payload) {
			return 0, fmt.Errorf("bench: scan frame: %w: lines not closed", errMalformedFrame)
		}
		switch payload[i] {
		case ',':
			i = skipSpace(payload, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, fmt.Errorf("bench: scan frame: %w: unexpected %q in lines", errMalformedFrame, payload[i])
		}
	}
}

// readString returns the raw content of the JSON string that starts at i,
// whether it contains escape sequences, and the offset after its closing
// quote. It does not validate the content.
func readString(payload []byte, i int) (content []byte, escaped bool, next int, err error) {
	if i >= len(payload) || payload[i] != '"' {
		return nil, false, 0, fmt.Errorf("bench: scan frame: %w: string expected at offset %d", errMalformedFrame, i)
	}
	start := i + 1
	// Fast path: IndexByte finds the closing quote, which ends the string
	// when no backslash precedes it.
	if end := bytes.IndexByte(payload[start:], '"'); end >= 0 && bytes.IndexByte(payload[start:start+end], '\\') < 0 {
		return payload[start : start+end], false, start + end + 1, nil
	}
	for j := start; j < len(payload); j++ {
		switch payload[j] {
		case '"':
			return payload[start:j], true, j + 1, nil
		case '\\':
			j++
		}
	}
	return nil, false, 0, fmt.Errorf("bench: scan frame: %w: string not closed", errMalformedFrame)
}

// skipValue returns the offset after the JSON value that starts at i. It
// checks brackets and strings but not the spelling of numbers and literals.
func skipValue(payload []byte, i int) (int, error) {
	depth := 0
	for i < len(payload) {
		switch c := payload[i]; c {
		case '"':
			_, _, next, err := readString(payload, i)
			if err != nil {
				return 0, err
			}
			i = next
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return i, nil
			}
			depth--
			i++
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return i, nil
			}
			i++
		default:
			i++
		}
		if depth == 0 && i > 0 && (payload[i-1] == '"' || payload[i-1] == '}' || payload[i-1] == ']') {
			return i, nil
		}
	}
	if depth != 0 {
		return 0, fmt.Errorf("bench: scan frame: %w: value not closed", errMalformedFrame)
	}
	return i, nil
}

func skipSpace(payload []byte, i int) int {
	for i < len(payload) {
		switch payload[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

func checkTrailing(payload []byte, i int) error {
	if skipSpace(payload, i) != len(payload) {
		return fmt.Errorf("bench: scan frame: %w: data after object", errMalformedFrame)
	}
	return nil
}
