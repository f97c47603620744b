package worker

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"tailcast/broker"
)

// clientFrame builds a masked frame as a client sends it.
func clientFrame(t *testing.T, op ws.OpCode, fin bool, payload []byte) []byte {
	t.Helper()
	frame := ws.NewFrame(op, fin, append([]byte(nil), payload...))
	frame = ws.MaskFrameInPlace(frame)
	var buf bytes.Buffer
	if err := ws.WriteFrame(&buf, frame); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestInboundParsesSplitFrames(t *testing.T) {
	var stream []byte
	stream = append(stream, clientFrame(t, ws.OpText, true, bytes.Repeat([]byte("d"), 300))...)
	stream = append(stream, clientFrame(t, ws.OpPing, true, []byte("p1"))...)
	stream = append(stream, clientFrame(t, ws.OpBinary, false, bytes.Repeat([]byte("b"), 70000))...)
	stream = append(stream, clientFrame(t, ws.OpContinuation, true, []byte("end"))...)
	stream = append(stream, clientFrame(t, ws.OpPing, true, []byte("p2"))...)
	stream = append(stream, clientFrame(t, ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"))...)

	// Every cut point, and byte-at-a-time reads, must give the same control
	// frames: a socket may return any prefix.
	for _, size := range []int{1, 2, 3, 7, 125, 4096, len(stream)} {
		var in inbound
		var got []controlFrame
		for start := 0; start < len(stream); start += size {
			controls, err := in.parse(stream[start:min(start+size, len(stream))])
			if err != nil {
				t.Fatalf("chunk size %d: %v", size, err)
			}
			got = append(got, controls...)
		}
		if len(got) != 3 {
			t.Fatalf("chunk size %d: got %d control frames, want 3", size, len(got))
		}
		if got[0].op != ws.OpPing || string(got[0].payload) != "p1" {
			t.Errorf("chunk size %d: first control = %v %q, want ping p1", size, got[0].op, got[0].payload)
		}
		if got[1].op != ws.OpPing || string(got[1].payload) != "p2" {
			t.Errorf("chunk size %d: second control = %v %q, want ping p2", size, got[1].op, got[1].payload)
		}
		if code, reason := ws.ParseCloseFrameData(got[2].payload); got[2].op != ws.OpClose || code != ws.StatusNormalClosure || reason != "bye" {
			t.Errorf("chunk size %d: third control = %v %d %q, want close 1000 bye", size, got[2].op, code, reason)
		}
		if len(in.partial) != 0 || in.skip != 0 {
			t.Errorf("chunk size %d: parser left state behind: %d partial bytes, %d to skip", size, len(in.partial), in.skip)
		}
	}
}

func TestInboundRejectsProtocolErrors(t *testing.T) {
	unmasked, _ := ws.CompileFrame(ws.NewPingFrame([]byte("x")))
	fragmentedPing := clientFrame(t, ws.OpPing, false, []byte("x"))
	longPing := clientFrame(t, ws.OpText, true, bytes.Repeat([]byte("x"), 126))
	longPing[0] = 0x80 | byte(ws.OpPing)
	reserved := clientFrame(t, ws.OpText, true, []byte("x"))
	reserved[0] |= 0x40
	unknownOp := clientFrame(t, ws.OpText, true, []byte("x"))
	unknownOp[0] = 0x80 | 0x3
	unknownControl := clientFrame(t, ws.OpText, true, []byte("x"))
	unknownControl[0] = 0x80 | 0xB

	cases := map[string][]byte{
		"unmasked frame":     unmasked,
		"fragmented control": fragmentedPing,
		"control over 125":   longPing,
		"reserved bit":       reserved,
		"unknown opcode":     unknownOp,
		"unknown control":    unknownControl,
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			var in inbound
			if _, err := in.parse(frame); err != errProtocol {
				t.Errorf("parse = %v, want errProtocol", err)
			}
		})
	}
}

func TestEncodeEntryMakesValidUTF8(t *testing.T) {
	entry := broker.Entry{ID: "5-1", Lines: []string{"ok", "bad \xff\xfe bytes", "<script>"}}
	f, err := encodeEntry("app", entry)
	if err != nil {
		t.Fatal(err)
	}
	for name, frame := range map[string][]byte{"json": f.json, "text": f.text} {
		header, err := ws.ReadHeader(bytes.NewReader(frame))
		if err != nil {
			t.Fatal(err)
		}
		if header.Masked || header.OpCode != ws.OpText || !header.Fin {
			t.Errorf("%s frame header = %+v, want one unmasked final text frame", name, header)
		}
		payload := frame[len(frame)-int(header.Length):]
		if !utf8.Valid(payload) {
			t.Errorf("%s payload is not valid UTF-8: %q", name, payload)
		}
	}

	var batch jsonBatch
	header, _ := ws.ReadHeader(bytes.NewReader(f.json))
	if err := json.Unmarshal(f.json[len(f.json)-int(header.Length):], &batch); err != nil {
		t.Fatal(err)
	}
	if batch.Channel != "app" || batch.ID != "5-1" || len(batch.Lines) != 3 || batch.Lines[1] != "bad \uFFFD\uFFFD bytes" {
		t.Errorf("decoded batch = %+v", batch)
	}
	if f.id != (broker.ID{Ms: 5, Seq: 1}) {
		t.Errorf("frame id = %v, want 5-1", f.id)
	}

	event, err := encodeEntry("app", broker.Entry{ID: "6-0", Event: "rotated"})
	if err != nil {
		t.Fatal(err)
	}
	if event.text != nil {
		t.Error("an event has a text frame; the text format carries lines only")
	}
}
