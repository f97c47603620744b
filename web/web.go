// Package web holds the viewer page that tailcast workers serve at "/".
//
// The page is one HTML document with its stylesheet and script inlined, so a
// worker serves it with a single response and the browser loads nothing from
// anywhere else. The sources stay in separate files here, one per concept, and
// are assembled once when the package is initialised.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"strings"
)

// ContentType is the Content-Type header value for the bytes that Page returns.
const ContentType = "text/html; charset=utf-8"

// scriptFiles are concatenated in this order into the page's single script.
// Later files use names that earlier files declare.
var scriptFiles = []string{"ansi.js", "filter.js", "logview.js", "stream.js", "viewer.js"}

//go:embed viewer.html viewer.css *.js
var sources embed.FS

// Placeholders in viewer.html that assemble replaces.
const (
	policyMarker = "{{CONTENT_SECURITY_POLICY}}"
	styleMarker  = "/*{{STYLE}}*/"
	scriptMarker = "/*{{SCRIPT}}*/"
)

var page, policy = mustAssemble()

// Page returns the viewer page, a complete HTML document encoded as UTF-8.
// The slice is shared by every caller and must not be modified.
func Page() []byte { return page }

// ContentSecurityPolicy returns a policy for the Content-Security-Policy
// response header of the page. The page already carries the same policy in a
// meta element; the header adds frame-ancestors, which browsers ignore in a
// meta element. The policy allows only the page's own inline style and script
// (by hash), and fetch and WebSocket connections to the page's own origin.
func ContentSecurityPolicy() string { return policy + "; frame-ancestors 'none'" }

func mustAssemble() ([]byte, string) {
	html, pol, err := assemble()
	if err != nil {
		// The inputs are embedded, so this fails only on a broken build,
		// which also makes the package's tests fail at init.
		panic(err)
	}
	return html, pol
}

// assemble inlines the stylesheet and the scripts into viewer.html and returns
// the document and its Content-Security-Policy.
func assemble() ([]byte, string, error) {
	html, err := sources.ReadFile("viewer.html")
	if err != nil {
		return nil, "", fmt.Errorf("web: read page: %w", err)
	}
	style, err := sources.ReadFile("viewer.css")
	if err != nil {
		return nil, "", fmt.Errorf("web: read stylesheet: %w", err)
	}

	var script strings.Builder
	// One function scope keeps the page's names out of the global object.
	script.WriteString("(() => {\n'use strict';\n")
	for _, name := range scriptFiles {
		src, err := sources.ReadFile(name)
		if err != nil {
			return nil, "", fmt.Errorf("web: read script: %w", err)
		}
		fmt.Fprintf(&script, "// %s\n", name)
		script.Write(src)
	}
	script.WriteString("})();\n")

	// An inline script or style ends at the first "</script" or "</style",
	// whatever surrounds it.
	if strings.Contains(strings.ToLower(script.String()), "</script") {
		return nil, "", fmt.Errorf("web: assemble page: a script contains \"</script\"")
	}
	if strings.Contains(strings.ToLower(string(style)), "</style") {
		return nil, "", fmt.Errorf("web: assemble page: viewer.css contains \"</style\"")
	}

	pol := "default-src 'none'" +
		"; script-src '" + sha256Source(script.String()) + "'" +
		"; style-src '" + sha256Source(string(style)) + "'" +
		"; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"

	out := string(html)
	for _, r := range []struct{ marker, value string }{
		{policyMarker, pol},
		{styleMarker, string(style)},
		{scriptMarker, script.String()},
	} {
		if n := strings.Count(out, r.marker); n != 1 {
			return nil, "", fmt.Errorf("web: assemble page: viewer.html has %d copies of %q, expected 1", n, r.marker)
		}
		out = strings.Replace(out, r.marker, r.value, 1)
	}
	return []byte(out), pol, nil
}

// sha256Source returns the CSP hash-source expression that allows an inline
// script or style element whose content is text.
func sha256Source(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}
