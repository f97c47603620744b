package tail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// caseEnv is what one file case gets: the path to follow and the watch mode.
type caseEnv struct {
	mode watchMode
	path string
}

// options returns Options for the path in this watch mode.
func (e *caseEnv) options() Options {
	return Options{Path: e.path, Poll: e.mode.poll, PollInterval: e.mode.interval}
}

// startAtBeginning writes pre-1..pre-3 to the file, starts the follower at
// byte 0, and waits for those lines, so that the follower has the file open
// when the case goes on.
func (e *caseEnv) startAtBeginning(t *testing.T) (*run, []string) {
	t.Helper()
	pre := numbered("pre", 3)
	writeFile(t, e.path, joinLines(pre))
	start, err := StartOf(e.path)
	if err != nil {
		t.Fatal(err)
	}
	opts := e.options()
	opts.Start = &start
	r := startFollow(t, opts)
	r.waitTokens(t, pre...)
	return r, pre
}

// fileCases are the ways a followed file changes. Each runs under inotify
// and under polling.
var fileCases = []struct {
	name string
	run  func(t *testing.T, e *caseEnv)
}{
	{"append", func(t *testing.T, e *caseEnv) {
		r, pre := e.startAtBeginning(t)
		lines := numbered("line", 5)
		appendFile(t, e.path, joinLines(lines))
		r.waitTokens(t, concat(pre, lines)...)
	}},
	{"rename rotation", func(t *testing.T, e *caseEnv) {
		r, pre := e.startAtBeginning(t)
		writer, err := os.OpenFile(e.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer writer.Close()
		if _, err := writer.WriteString(joinLines(numbered("old", 2))); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(e.path, e.path+".1"); err != nil {
			t.Fatal(err)
		}
		// The writer has not reopened yet, so this goes to the renamed file
		// and must be read before the new file.
		if _, err := writer.WriteString("old-3\n"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, e.path, joinLines(numbered("new", 3)))
		r.waitTokens(t, concat(pre, numbered("old", 3), []string{"@rotated"}, numbered("new", 3))...)
		appendFile(t, e.path, "new-4\n")
		r.waitTokens(t, concat(pre, numbered("old", 3), []string{"@rotated"}, numbered("new", 4))...)
	}},
	{"rotation with empty new file", func(t *testing.T, e *caseEnv) {
		r, pre := e.startAtBeginning(t)
		writer, err := os.OpenFile(e.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer writer.Close()
		// logrotate's create mode: rename, create an empty file, and the
		// writer reopens only later.
		if err := os.Rename(e.path, e.path+".1"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, e.path, "")
		if _, err := writer.WriteString("old-1\n"); err != nil {
			t.Fatal(err)
		}
		r.waitTokens(t, concat(pre, []string{"old-1"})...)
		if _, err := writer.WriteString("old-2\n"); err != nil {
			t.Fatal(err)
		}
		r.waitTokens(t, concat(pre, numbered("old", 2))...)
		appendFile(t, e.path, "new-1\n")
		r.waitTokens(t, concat(pre, numbered("old", 2), []string{"@rotated"}, numbered("new", 1))...)
	}},
	{"copytruncate", func(t *testing.T, e *caseEnv) {
		r, pre := e.startAtBeginning(t)
		appendFile(t, e.path, "old-1\n")
		r.waitTokens(t, concat(pre, []string{"old-1"})...)
		content, err := os.ReadFile(e.path)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, e.path+".1", string(content))
		if err := os.Truncate(e.path, 0); err != nil {
			t.Fatal(err)
		}
		r.waitTokens(t, concat(pre, []string{"old-1", "@truncated"})...)
		appendFile(t, e.path, joinLines(numbered("new", 2)))
		r.waitTokens(t, concat(pre, []string{"old-1", "@truncated"}, numbered("new", 2))...)
	}},
	{"copytruncate right after writes", func(t *testing.T, e *caseEnv) {
		r, pre := e.startAtBeginning(t)
		// Copy and truncate right after the writes, usually before the
		// follower reads them: the lines must come from the copy.
		appendFile(t, e.path, joinLines(numbered("old", 3)))
		content, err := os.ReadFile(e.path)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, e.path+".1", string(content))
		if err := os.Truncate(e.path, 0); err != nil {
			t.Fatal(err)
		}
		appendFile(t, e.path, joinLines(numbered("new", 2)))
		r.waitTokens(t, concat(pre, numbered("old", 3), []string{"@truncated"}, numbered("new", 2))...)
	}},
	{"truncate and append at once", func(t *testing.T, e *caseEnv) {
		r, pre := e.startAtBeginning(t)
		// The new content is longer than the old offset, so only the
		// fingerprint can show that the file was rewritten, unless a check
		// happens to fall between the two calls.
		writer, err := os.OpenFile(e.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer writer.Close()
		newLines := numbered("rewritten", 8)
		if err := writer.Truncate(0); err != nil {
			t.Fatal(err)
		}
		if _, err := writer.WriteString(joinLines(newLines)); err != nil {
			t.Fatal(err)
		}
		r.waitTokens(t, concat(pre, []string{"@truncated"}, newLines)...)
	}},
	{"atomic replace", func(t *testing.T, e *caseEnv) {
		r, pre := e.startAtBeginning(t)
		appendFile(t, e.path, "old-1\n")
		temp := e.path + ".tmp"
		writeFile(t, temp, joinLines(numbered("new", 2)))
		if err := os.Rename(temp, e.path); err != nil {
			t.Fatal(err)
		}
		r.waitTokens(t, concat(pre, []string{"old-1", "@rotated"}, numbered("new", 2))...)
	}},
	{"delete and recreate", func(t *testing.T, e *caseEnv) {
		r, pre := e.startAtBeginning(t)
		appendFile(t, e.path, "old-1\n")
		if err := os.Remove(e.path); err != nil {
			t.Fatal(err)
		}
		writeFile(t, e.path, joinLines(numbered("new", 2)))
		r.waitTokens(t, concat(pre, []string{"old-1", "@rotated"}, numbered("new", 2))...)
	}},
	{"deleted and released", func(t *testing.T, e *caseEnv) {
		pre := numbered("pre", 2)
		writeFile(t, e.path, joinLines(pre))
		start, err := StartOf(e.path)
		if err != nil {
			t.Fatal(err)
		}
		opts := e.options()
		opts.Start = &start
		opts.releaseDeletedAfter = time.Nanosecond
		r := startFollow(t, opts)
		r.waitTokens(t, pre...)
		appendFile(t, e.path, "old-1\nunfinished")
		if err := os.Remove(e.path); err != nil {
			t.Fatal(err)
		}
		r.waitLog(t, "deleted file released")
		writeFile(t, e.path, joinLines(numbered("new", 2)))
		r.waitTokens(t, concat(pre, []string{"old-1", "unfinished", "@rotated"}, numbered("new", 2))...)
	}},
	{"missing at start", func(t *testing.T, e *caseEnv) {
		r := startFollow(t, e.options())
		r.waitLog(t, "file not found")
		// The writer keeps the file open, so no close event helps.
		writer, err := os.OpenFile(e.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer writer.Close()
		if _, err := writer.WriteString(joinLines(numbered("line", 2))); err != nil {
			t.Fatal(err)
		}
		r.waitTokens(t, numbered("line", 2)...)
		if _, err := writer.WriteString("line-3\n"); err != nil {
			t.Fatal(err)
		}
		r.waitTokens(t, numbered("line", 3)...)
	}},
	{"permission denied at start", func(t *testing.T, e *caseEnv) {
		pre := numbered("pre", 3)
		writeFile(t, e.path, joinLines(pre))
		// Mode 0 denies every user but root, and the follower runs as user nobody.
		if err := os.Chmod(e.path, 0); err != nil {
			t.Fatal(err)
		}
		start, err := StartOf(e.path)
		if err != nil {
			t.Fatal(err)
		}
		makeReachable(t, filepath.Dir(e.path))
		opts := e.options()
		opts.Start = &start
		r := startChildFollow(t, opts)
		r.waitLog(t, "permission denied")
		appendFile(t, e.path, "line-1\n")
		if err := os.Chmod(e.path, 0o644); err != nil {
			t.Fatal(err)
		}
		r.waitTokens(t, concat(pre, []string{"line-1"})...)
		appendFile(t, e.path, "line-2\n")
		r.waitTokens(t, concat(pre, numbered("line", 2))...)
	}},
	{"new file unreadable after rotation", func(t *testing.T, e *caseEnv) {
		pre := numbered("pre", 2)
		writeFile(t, e.path, joinLines(pre))
		start, err := StartOf(e.path)
		if err != nil {
			t.Fatal(err)
		}
		makeReachable(t, filepath.Dir(e.path))
		opts := e.options()
		opts.Start = &start
		r := startChildFollow(t, opts)
		r.waitTokens(t, pre...)

		writer, err := os.OpenFile(e.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer writer.Close()
		if err := os.Rename(e.path, e.path+".1"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.path, []byte("new-1\n"), 0); err != nil {
			t.Fatal(err)
		}
		r.waitLog(t, "permission denied")
		// The old file is still followed while the new one cannot be opened.
		if _, err := writer.WriteString("old-1\n"); err != nil {
			t.Fatal(err)
		}
		r.waitTokens(t, concat(pre, []string{"old-1"})...)
		if err := os.Chmod(e.path, 0o644); err != nil {
			t.Fatal(err)
		}
		r.waitTokens(t, concat(pre, []string{"old-1", "@rotated", "new-1"})...)
	}},
	{"directory missing at start", func(t *testing.T, e *caseEnv) {
		path := filepath.Join(filepath.Dir(e.path), "later", "app.log")
		opts := e.options()
		opts.Path = path
		// inotify cannot watch a directory that does not exist, so the
		// periodic check finds it in both modes.
		opts.PollInterval = 20 * time.Millisecond
		r := startFollow(t, opts)
		r.waitLog(t, "file not found")
		if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		appendFile(t, path, "line-1\n")
		r.waitTokens(t, "line-1")
		appendFile(t, path, "line-2\n")
		r.waitTokens(t, numbered("line", 2)...)
	}},
	{"burst of small writes", func(t *testing.T, e *caseEnv) {
		r, pre := e.startAtBeginning(t)
		writer, err := os.OpenFile(e.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer writer.Close()
		lines := numbered("burst", 2000)
		for _, line := range lines {
			// Each line in three writes, so most reads end inside a line.
			half := len(line) / 2
			for _, piece := range []string{line[:half], line[half:], "\n"} {
				if _, err := writer.WriteString(piece); err != nil {
					t.Fatal(err)
				}
			}
		}
		r.waitTokens(t, concat(pre, lines)...)
	}},
	{"partial line waits", func(t *testing.T, e *caseEnv) {
		r, pre := e.startAtBeginning(t)
		appendFile(t, e.path, "unfini")
		r.waitRead(t, fileSize(t, e.path))
		appendFile(t, e.path, "shed\n")
		r.waitTokens(t, concat(pre, []string{"unfinished"})...)
	}},
	{"long line cut once", func(t *testing.T, e *caseEnv) {
		pre := numbered("pre", 1)
		writeFile(t, e.path, joinLines(pre))
		start, err := StartOf(e.path)
		if err != nil {
			t.Fatal(err)
		}
		opts := e.options()
		opts.Start = &start
		opts.MaxLineBytes = 100
		r := startFollow(t, opts)
		r.waitTokens(t, pre...)
		long := strings.Repeat("0123456789", 50)
		for i := 0; i < len(long); i += 70 {
			appendFile(t, e.path, long[i:min(i+70, len(long))])
			r.waitRead(t, fileSize(t, e.path))
		}
		appendFile(t, e.path, "\nafter\n")
		r.waitTokens(t, concat(pre, []string{long[:100] + CutMarker, "after"})...)
	}},
	{"crlf and utf-8", func(t *testing.T, e *caseEnv) {
		r, pre := e.startAtBeginning(t)
		appendFile(t, e.path, "windows\r\nbad \xff byte\n\xc3")
		r.waitRead(t, fileSize(t, e.path))
		// The second byte of "é" arrives in a later write.
		appendFile(t, e.path, "\xa9t\xc3\xa9\n")
		r.waitTokens(t, concat(pre, []string{"windows", "bad \uFFFD byte", "été"})...)
	}},
}

func TestFollowFileCases(t *testing.T) {
	for _, mode := range watchModes {
		t.Run(mode.name, func(t *testing.T) {
			for _, c := range fileCases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, &caseEnv{mode: mode, path: logPath(t)})
				})
			}
		})
	}
}
