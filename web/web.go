// Package web holds the viewer page served at GET /.
package web

// Page returns the viewer page, or nil while there is none; the worker then
// serves a plain page that lists the channels.
func Page() []byte { return nil }
