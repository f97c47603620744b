package web

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// chromiumPath is the browser the tests drive, as Debian's chromium package
// installs it.
const chromiumPath = "/usr/bin/chromium"

// browserTab is one tab of a headless Chromium that ends with the test.
type browserTab struct {
	t   testing.TB
	ctx context.Context

	mu      sync.Mutex
	console []string // console messages and uncaught exceptions, in order
}

// startBrowser launches headless Chromium with a fresh profile in a temporary
// directory and opens one tab at width x height CSS pixels.
func startBrowser(t testing.TB, width, height int64) *browserTab {
	t.Helper()
	options := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		// Tests run as root, where Chromium's sandbox cannot start.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// A tab that lost focus must keep its animation frames and timers.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")),
	}
	allocator, cancelAllocator := chromedp.NewExecAllocator(context.Background(), options...)
	ctx, cancelTab := chromedp.NewContext(allocator)
	t.Cleanup(func() {
		cancelTab()
		cancelAllocator()
	})

	tab := &browserTab{t: t, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for message, err := range messages {
			if err != nil {
				return
			}
			tab.mu.Lock()
			tab.console = append(tab.console, fmt.Sprintf("%s: %s", message.Type, message.Text))
			tab.mu.Unlock()
		}
	}()
	tab.do(chromedp.EmulateViewport(width, height))
	return tab
}

// do runs actions with a deadline and fails the test on an error.
func (tab *browserTab) do(actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tab.t.Fatalf("browser: %v\nconsole:\n%s", err, tab.consoleText())
	}
}

// setColorScheme makes the page see prefers-color-scheme as scheme ("light"
// or "dark").
func (tab *browserTab) setColorScheme(scheme string) {
	tab.t.Helper()
	tab.do(chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// press sends one key press as a user's keyboard does: a keyDown event that
// carries the key's text, then a keyUp. chromedp.KeyEvent sends the text as a
// separate char event instead, which a page cannot cancel from its keydown
// handler, so "/" would both focus the filter and be typed into it.
func (tab *browserTab) press(key, code string, keyCode int64, text string) {
	tab.t.Helper()
	tab.do(chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
		down := input.DispatchKeyEventParams{
			Type: input.DispatchKeyEventTypeKeyDown, Key: key, Code: code, Text: text, UnmodifiedText: text,
			WindowsVirtualKeyCode: keyCode, NativeVirtualKeyCode: keyCode,
		}
		if _, err := cdp.Call(ctx, target, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		up := down
		up.Type = input.DispatchKeyEventTypeKeyUp
		up.Text = ""
		up.UnmodifiedText = ""
		_, err := cdp.Call(ctx, target, input.DispatchKeyEvent, up)
		return err
	}))
}

func (tab *browserTab) navigate(url string) {
	tab.t.Helper()
	tab.do(chromedp.Navigate(url))
}

// evaluate returns the value of a JavaScript expression, decoded into T.
func evaluate[T any](tab *browserTab, expression string) T {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 30*time.Second)
	defer cancel()
	value, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		tab.t.Fatalf("evaluate %s: %v\nconsole:\n%s", expression, err, tab.consoleText())
	}
	return value
}

// waitFor polls a JavaScript expression until it is truthy. On timeout it
// fails the test with the value of explain, an expression that describes the
// page state.
func (tab *browserTab) waitFor(description, expression, explain string, timeout time.Duration) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expression,
		chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		state := evaluate[json.RawMessage](tab, explain)
		tab.t.Fatalf("wait for %s: %v\npage state: %s\nconsole:\n%s", description, err, state, tab.consoleText())
	}
}

func (tab *browserTab) screenshot(path string) {
	tab.t.Helper()
	png, err := chromedp.Run(tab.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tab.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tab.t.Fatalf("save screenshot: %v", err)
	}
}

func (tab *browserTab) consoleText() string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return strings.Join(tab.console, "\n")
}

// consoleErrors returns the console errors and uncaught exceptions so far.
func (tab *browserTab) consoleErrors() []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	var errors []string
	for _, line := range tab.console {
		if strings.HasPrefix(line, string(chromedp.ConsoleError)+":") || strings.HasPrefix(line, string(chromedp.ConsoleException)+":") {
			errors = append(errors, line)
		}
	}
	return errors
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	quoted, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(quoted)
}
