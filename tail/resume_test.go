package tail

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// followAndStop follows path from its beginning until want was emitted,
// stops, and returns the last emitted Position.
func followAndStop(t *testing.T, mode watchMode, path string, want ...string) Position {
	t.Helper()
	start, err := StartOf(path)
	if err != nil {
		t.Fatal(err)
	}
	r := startFollow(t, Options{Path: path, Start: &start, Poll: mode.poll, PollInterval: mode.interval})
	r.waitTokens(t, want...)
	if err := r.stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow returned %v, want context.Canceled", err)
	}
	batches := r.snapshot()
	return batches[len(batches)-1].Position
}

// resumeCases change the file while no follower runs, then resume from the
// saved Position.
var resumeCases = []struct {
	name string
	run  func(t *testing.T, mode watchMode, path string)
}{
	{"same file", func(t *testing.T, mode watchMode, path string) {
		writeFile(t, path, joinLines(numbered("a", 2)))
		saved := followAndStop(t, mode, path, numbered("a", 2)...)
		appendFile(t, path, "a-3\n")
		r := startFollow(t, Options{Path: path, Start: &saved, Poll: mode.poll, PollInterval: mode.interval})
		r.waitTokens(t, "a-3")
	}},
	{"partial line at stop", func(t *testing.T, mode watchMode, path string) {
		writeFile(t, path, "a-1\nhal")
		saved := followAndStop(t, mode, path, "a-1")
		if saved.Offset != 4 {
			t.Fatalf("saved offset %d, want 4, just past the last complete line", saved.Offset)
		}
		appendFile(t, path, "f\n")
		r := startFollow(t, Options{Path: path, Start: &saved, Poll: mode.poll, PollInterval: mode.interval})
		r.waitTokens(t, "half")
	}},
	{"renamed within directory", func(t *testing.T, mode watchMode, path string) {
		writeFile(t, path, joinLines(numbered("old", 2)))
		saved := followAndStop(t, mode, path, numbered("old", 2)...)
		appendFile(t, path, "old-3\n")
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, joinLines(numbered("new", 2)))
		r := startFollow(t, Options{Path: path, Start: &saved, Poll: mode.poll, PollInterval: mode.interval})
		r.waitTokens(t, "old-3", "@rotated", "new-1", "new-2")
	}},
	{"renamed and path missing", func(t *testing.T, mode watchMode, path string) {
		writeFile(t, path, joinLines(numbered("old", 2)))
		saved := followAndStop(t, mode, path, numbered("old", 2)...)
		appendFile(t, path, "old-3\n")
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
		r := startFollow(t, Options{Path: path, Start: &saved, Poll: mode.poll, PollInterval: mode.interval})
		r.waitTokens(t, "old-3")
		writeFile(t, path, joinLines(numbered("new", 2)))
		r.waitTokens(t, "old-3", "@rotated", "new-1", "new-2")
	}},
	{"saved file deleted", func(t *testing.T, mode watchMode, path string) {
		writeFile(t, path, joinLines(numbered("old", 2)))
		saved := followAndStop(t, mode, path, numbered("old", 2)...)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, joinLines(numbered("new", 2)))
		r := startFollow(t, Options{Path: path, Start: &saved, Poll: mode.poll, PollInterval: mode.interval})
		r.waitTokens(t, "@rotated", "new-1", "new-2")
	}},
	{"truncated and rewritten longer", func(t *testing.T, mode watchMode, path string) {
		writeFile(t, path, joinLines(numbered("old", 2)))
		saved := followAndStop(t, mode, path, numbered("old", 2)...)
		// Same inode, larger than the saved offset: only the fingerprint
		// differs.
		newLines := numbered("rewritten", 4)
		if err := os.WriteFile(path, []byte(joinLines(newLines)), 0o644); err != nil {
			t.Fatal(err)
		}
		r := startFollow(t, Options{Path: path, Start: &saved, Poll: mode.poll, PollInterval: mode.interval})
		r.waitTokens(t, concat([]string{"@truncated"}, newLines)...)
	}},
	{"truncated shorter", func(t *testing.T, mode watchMode, path string) {
		writeFile(t, path, joinLines(numbered("old", 3)))
		saved := followAndStop(t, mode, path, numbered("old", 3)...)
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path, "n\n")
		r := startFollow(t, Options{Path: path, Start: &saved, Poll: mode.poll, PollInterval: mode.interval})
		r.waitTokens(t, "@truncated", "n")
	}},
	{"start nil skips existing lines", func(t *testing.T, mode watchMode, path string) {
		writeFile(t, path, "old-1\nold-2\nunfin")
		r := startFollow(t, Options{Path: path, Poll: mode.poll, PollInterval: mode.interval})
		r.waitLog(t, "file opened")
		// The line being written at the start arrives whole.
		appendFile(t, path, "ished\nnew-1\n")
		r.waitTokens(t, "unfinished", "new-1")
	}},
}

func TestFollowResume(t *testing.T) {
	for _, mode := range watchModes {
		t.Run(mode.name, func(t *testing.T) {
			for _, c := range resumeCases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, mode, logPath(t))
				})
			}
		})
	}
}

// TestFollowBatchPositions checks that each batch's Position is the byte just
// past its last line, that batches respect MaxBatchBytes, and that the lines
// between two positions are exactly the file's bytes there.
func TestFollowBatchPositions(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, "")
	start, err := StartOf(path)
	if err != nil {
		t.Fatal(err)
	}
	const maxBatch = 100
	r := startFollow(t, Options{Path: path, Start: &start, MaxBatchBytes: maxBatch})
	var want []string
	for i := range 300 {
		line := strings.Repeat("x", i%37) + numbered("line", i+1)[i]
		if i%5 == 0 {
			line += "\r"
		}
		appendFile(t, path, line+"\n")
		want = append(want, strings.TrimSuffix(line, "\r"))
	}
	r.waitTokens(t, want...)

	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	prev := int64(0)
	for i, b := range r.snapshot() {
		if b.Position.Inode != start.Inode {
			t.Fatalf("batch %d: inode %d, want %d", i, b.Position.Inode, start.Inode)
		}
		size := 0
		for _, line := range b.Lines {
			size += len(line)
		}
		if len(b.Lines) > 1 && size > maxBatch {
			t.Errorf("batch %d: %d lines of %d bytes, above MaxBatchBytes %d", i, len(b.Lines), size, maxBatch)
		}
		raw := strings.ReplaceAll(string(content[prev:b.Position.Offset]), "\r\n", "\n")
		if got := joinLines(b.Lines); raw != got {
			t.Fatalf("batch %d: file bytes [%d,%d) are %q, batch lines are %q", i, prev, b.Position.Offset, raw, got)
		}
		prev = b.Position.Offset
	}
	if prev != int64(len(content)) {
		t.Errorf("last position %d, want file size %d", prev, len(content))
	}
}

func TestFollowEmitErrorEndsFollow(t *testing.T) {
	path := logPath(t)
	writeFile(t, path, "a\n")
	start, err := StartOf(path)
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("shutting down")
	err = Follow(context.Background(), Options{Path: path, Start: &start}, func(context.Context, Batch) error {
		return stop
	})
	if err != stop {
		t.Fatalf("Follow returned %v, want the emit error %v", err, stop)
	}
}

func TestFollowEmptyPath(t *testing.T) {
	err := Follow(context.Background(), Options{}, func(context.Context, Batch) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "Path") {
		t.Fatalf("Follow returned %v, want an error naming Options.Path", err)
	}
}

func TestPositionJSON(t *testing.T) {
	p := Position{Dev: 2049, Inode: 1234567, Birth: 1733300000123456789, Fingerprint: "00ff", FingerprintLen: 42, Offset: 1 << 40}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"dev":2049,"ino":1234567,"birth":1733300000123456789,"fp":"00ff","fpl":42,"off":1099511627776}`
	if string(data) != want {
		t.Errorf("json %s, want %s", data, want)
	}
	var back Position
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back != p {
		t.Errorf("round trip %+v, want %+v", back, p)
	}
}
