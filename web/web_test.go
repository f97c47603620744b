package web

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestPageIsCompleteDocument(t *testing.T) {
	page := string(Page())
	if !strings.HasPrefix(page, "<!doctype html>") {
		t.Errorf("page starts with %q, expected a doctype", page[:min(len(page), 40)])
	}
	for _, marker := range []string{policyMarker, styleMarker, scriptMarker} {
		if strings.Contains(page, marker) {
			t.Errorf("page still contains the placeholder %q", marker)
		}
	}
	if !strings.Contains(page, "class LogView") {
		t.Error("page lacks the inlined script")
	}
	if ContentType != "text/html; charset=utf-8" {
		t.Errorf("ContentType = %q", ContentType)
	}
}

// The page must load nothing from elsewhere: no CDN, font or script.
func TestPageLoadsNothingExternal(t *testing.T) {
	page := Page()
	external := regexp.MustCompile(`(?i)(src|href|action)\s*=\s*["']?\s*(https?:|//)|@import|url\(\s*["']?(https?:|//)`)
	if loc := external.FindIndex(page); loc != nil {
		t.Errorf("page references an external resource: %q", page[loc[0]:min(len(page), loc[1]+40)])
	}
	if n := bytes.Count(page, []byte("<script")); n != 1 {
		t.Errorf("page has %d script elements, expected the one inline script", n)
	}
}

func TestPagePolicyHashesInlineContent(t *testing.T) {
	page := string(Page())
	script := between(t, page, "<script>", "</script>")
	style := between(t, page, "<style>", "</style>")
	policy := ContentSecurityPolicy()

	for _, want := range []string{
		"default-src 'none'",
		"script-src '" + sha256Source(script) + "'",
		"style-src '" + sha256Source(style) + "'",
		"connect-src 'self'",
		"frame-ancestors 'none'",
	} {
		if !strings.Contains(policy, want) {
			t.Errorf("policy %q lacks %q", policy, want)
		}
	}
	if !strings.Contains(page, `content="`+policy[:strings.Index(policy, "; frame-ancestors")]+`"`) {
		t.Error("page's meta policy differs from ContentSecurityPolicy without frame-ancestors")
	}
	if strings.Contains(policy, "unsafe-inline") || strings.Contains(policy, "unsafe-eval") {
		t.Errorf("policy %q allows unsafe sources", policy)
	}
}

func between(t *testing.T, s, open, close string) string {
	t.Helper()
	start := strings.Index(s, open)
	end := strings.Index(s, close)
	if start < 0 || end < start {
		t.Fatalf("page has no %s...%s", open, close)
	}
	return s[start+len(open) : end]
}
