package bench

import (
	"errors"
	"slices"
	"testing"
)

func collectJSON(t *testing.T, payload string) (lines []string, event string, err error) {
	t.Helper()
	event, err = scanJSONFrame([]byte(payload), func(line []byte) {
		lines = append(lines, string(line))
	})
	return lines, event, err
}

func TestScanJSONFrameLines(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
		want    []string
	}{
		{"contract order", `{"channel":"app","id":"1733300000000-0","lines":["a b","c"]}`, []string{"a b", "c"}},
		{"lines first", `{"lines":["x"],"channel":"app","id":"1-0"}`, []string{"x"}},
		{"white space", " { \"lines\" : [ \"x\" , \"y\" ] , \"id\" : \"1-0\" } ", []string{"x", "y"}},
		{"empty lines", `{"channel":"app","lines":[]}`, nil},
		{"escaped line skipped", `{"lines":["say \"hi\"","plain","tab\tx"]}`, []string{"plain"}},
		{"unknown fields skipped", `{"meta":{"a":[1,2,{"b":"]"}],"c":null},"n":-1.5e3,"ok":true,"lines":["z"]}`, []string{"z"}},
		{"bracket in string", `{"channel":"a]}","lines":["[{"]}`, []string{"[{"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, event, err := collectJSON(t, tc.payload)
			if err != nil {
				t.Fatalf("scan: %v", err)
			}
			if event != "" {
				t.Errorf("event = %q, want none", event)
			}
			if !slices.Equal(lines, tc.want) {
				t.Errorf("lines = %q, want %q", lines, tc.want)
			}
		})
	}
}

func TestScanJSONFrameEvent(t *testing.T) {
	lines, event, err := collectJSON(t, `{"channel":"app","id":"1733300000000-1","event":"rotated"}`)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	if event != "rotated" {
		t.Errorf("event = %q, want rotated", event)
	}
	if len(lines) != 0 {
		t.Errorf("lines = %q, want none", lines)
	}
}

func TestScanJSONFrameMalformed(t *testing.T) {
	for _, payload := range []string{
		``,
		`[]`,
		`{"lines":["a"]`,
		`{"lines":["a"}`,
		`{"lines":"a"}`,
		`{"lines":["a"]} x`,
		`{"lines" ["a"]}`,
		`{"meta":{"a":1,"lines":["a"]}`,
		`{"lines":["a",]x}`,
	} {
		if _, _, err := collectJSON(t, payload); !errors.Is(err, errMalformedFrame) {
			t.Errorf("scan(%q) error = %v, want errMalformedFrame", payload, err)
		}
	}
}

func TestScanTextFrame(t *testing.T) {
	for _, tc := range []struct {
		payload string
		want    []string
	}{
		{"one", []string{"one"}},
		{"one\ntwo\nthree", []string{"one", "two", "three"}},
		{"one\n\nthree", []string{"one", "", "three"}},
		{"", nil},
	} {
		var lines []string
		scanTextFrame([]byte(tc.payload), func(line []byte) { lines = append(lines, string(line)) })
		if !slices.Equal(lines, tc.want) {
			t.Errorf("scanTextFrame(%q) = %q, want %q", tc.payload, lines, tc.want)
		}
	}
}

func BenchmarkScanJSONFrame(b *testing.B) {
	parser := newStampParser("abc123")
	var payload []byte
	payload = append(payload, `{"channel":"app","id":"1733300000000-0","lines":[`...)
	for seq := range uint64(20) {
		if seq > 0 {
			payload = append(payload, ',')
		}
		payload = append(payload, '"')
		payload = appendStamp(payload, "abc123", seq+1, 1733300000000000000, 200)
		payload = append(payload, '"')
	}
	payload = append(payload, "]}"...)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		var sum uint64
		if _, err := scanJSONFrame(payload, func(line []byte) {
			seq, _, _ := parser.parse(line)
			sum += seq
		}); err != nil {
			b.Fatal(err)
		}
	}
}
