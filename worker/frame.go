package worker

import (
	"encoding/binary"
	"encoding/json"
	"errors"

	"github.com/gobwas/ws"

	"tailcast/broker"
)

// Close codes beyond RFC 6455's own (section 7.4.2 leaves 4000-4999 to
// applications).
const (
	// CloseSlowClient closes a client whose send queue went over its byte
	// limit. The client may reconnect with since= and miss nothing that is
	// still in history.
	CloseSlowClient ws.StatusCode = 4000

	// closeTryAgainLater is RFC 6455's registered 1013, which gobwas/ws has
	// no constant for: the worker is at its connection limit.
	closeTryAgainLater ws.StatusCode = 1013
)

// closePolicyViolation is RFC 6455's 1008, sent to a browser page from an
// origin that may not read the stream.
const closePolicyViolation = ws.StatusPolicyViolation

// frames holds one batch encoded once per wire format. Server frames are not
// masked (RFC 6455 section 5.1), so the same bytes go to every client.
type frames struct {
	id   broker.ID
	json []byte
	text []byte // nil for events: the text format carries lines only
}

type jsonBatch struct {
	Channel string   `json:"channel"`
	ID      string   `json:"id"`
	Lines   []string `json:"lines,omitempty"`
	Event   string   `json:"event,omitempty"`
}

// encodeEntry frames one stored batch. encoding/json replaces invalid UTF-8
// with U+FFFD, so a frame is valid UTF-8 even if a line slipped through
// unsanitised.
func encodeEntry(channel string, entry broker.Entry) (frames, error) {
	id, err := broker.ParseID(entry.ID)
	if err != nil {
		return frames{}, err
	}
	batch := jsonBatch{Channel: channel, ID: entry.ID, Lines: entry.Lines, Event: entry.Event}
	if entry.Event == "" && batch.Lines == nil {
		batch.Lines = []string{}
	}
	payload, err := json.Marshal(batch)
	if err != nil {
		return frames{}, err
	}
	out := frames{id: id, json: textFrame(payload)}
	if entry.Event == "" {
		out.text = textFrame(joinLines(entry.Lines))
	}
	return out, nil
}

// encodeEvent frames an event that exists only on the wire, such as gap.
func encodeEvent(channel, id, event string) []byte {
	payload, _ := json.Marshal(jsonBatch{Channel: channel, ID: id, Event: event})
	return textFrame(payload)
}

func joinLines(lines []string) []byte {
	size := 0
	for _, line := range lines {
		size += len(line) + 1
	}
	out := make([]byte, 0, size)
	for i, line := range lines {
		if i > 0 {
			out = append(out, '\n')
		}
		out = append(out, line...)
	}
	return toValidUTF8(out)
}

func textFrame(payload []byte) []byte {
	return compile(ws.OpText, payload)
}

func closeFrame(code ws.StatusCode, reason string) []byte {
	return compile(ws.OpClose, ws.NewCloseFrameBody(code, reason))
}

var pingFrame = compile(ws.OpPing, nil)

func compile(op ws.OpCode, payload []byte) []byte {
	frame, err := ws.CompileFrame(ws.NewFrame(op, true, payload))
	if err != nil {
		// CompileFrame fails only for a control frame over 125 bytes, which
		// the callers never build.
		panic("worker: compile frame: " + err.Error())
	}
	return frame
}

// errProtocol reports a client frame that breaks RFC 6455; the connection is
// closed with 1002.
var errProtocol = errors.New("websocket protocol error")

// inbound is the state of parsing frames sent by one client. The server only
// acts on control frames; data frames are read and discarded, so no payload
// beyond one control frame (125 bytes) is ever buffered.
type inbound struct {
	partial []byte // start of a frame whose header or control payload is incomplete
	skip    uint64 // bytes of a data frame's payload still to discard
}

// controlFrame is a complete control frame received from a client.
type controlFrame struct {
	op      ws.OpCode
	payload []byte
}

// parse consumes data and returns the complete control frames in it. It
// keeps an incomplete frame's start for the next call.
func (in *inbound) parse(data []byte) ([]controlFrame, error) {
	if len(in.partial) > 0 {
		data = append(in.partial, data...)
		in.partial = nil
	}

	var controls []controlFrame
	for len(data) > 0 {
		if in.skip > 0 {
			n := min(in.skip, uint64(len(data)))
			data = data[n:]
			in.skip -= n
			continue
		}
		if len(data) < 2 {
			break
		}

		fin := data[0]&0x80 != 0
		rsv := data[0] & 0x70
		op := ws.OpCode(data[0] & 0x0f)
		masked := data[1]&0x80 != 0
		length := uint64(data[1] & 0x7f)

		// RFC 6455 section 5.1: a server must close the connection on an
		// unmasked client frame. Section 5.2: nonzero RSV bits without a
		// negotiated extension fail the connection.
		if !masked || rsv != 0 {
			return controls, errProtocol
		}
		headerSize := 2
		switch length {
		case 126:
			headerSize += 2
		case 127:
			headerSize += 8
		}
		headerSize += 4
		if len(data) < headerSize {
			break
		}
		switch length {
		case 126:
			length = uint64(binary.BigEndian.Uint16(data[2:4]))
		case 127:
			length = binary.BigEndian.Uint64(data[2:10])
		}
		mask := data[headerSize-4 : headerSize]

		// RFC 6455 section 5.2: reserved opcodes fail the connection.
		switch op {
		case ws.OpContinuation, ws.OpText, ws.OpBinary, ws.OpClose, ws.OpPing, ws.OpPong:
		default:
			return controls, errProtocol
		}

		if op.IsControl() {
			// RFC 6455 section 5.5: control frames are not fragmented and
			// carry at most 125 bytes.
			if !fin || length > 125 {
				return controls, errProtocol
			}
			if uint64(len(data)-headerSize) < length {
				break
			}
			payload := make([]byte, length)
			copy(payload, data[headerSize:headerSize+int(length)])
			ws.Cipher(payload, [4]byte(mask), 0)
			controls = append(controls, controlFrame{op: op, payload: payload})
			data = data[headerSize+int(length):]
			continue
		}
		in.skip = length
		data = data[headerSize:]
	}
	if len(data) > 0 {
		in.partial = append([]byte(nil), data...)
	}
	return controls, nil
}
