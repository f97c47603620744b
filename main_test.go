package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"tailcast/relay"
)

func newTestFlags() (*flag.FlagSet, *int, *fileFlags, *string) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var files fileFlags
	workers := fs.Int("workers", 2, "number of worker processes")
	fs.Var(&files, "file", "NAME=PATH")
	listen := fs.String("listen", ":8080", "address")
	return fs, workers, &files, listen
}

func TestParseFlagsReadsEnvironment(t *testing.T) {
	t.Setenv("TAILCAST_WORKERS", "3")
	t.Setenv("TAILCAST_FILE", "app=/var/log/app.log, db=/var/log/db.log")
	fs, workers, files, listen := newTestFlags()
	if err := parseFlags(fs, nil); err != nil {
		t.Fatal(err)
	}
	if *workers != 3 {
		t.Errorf("workers = %d, want 3 from TAILCAST_WORKERS", *workers)
	}
	want := []relay.File{{Name: "app", Path: "/var/log/app.log"}, {Name: "db", Path: "/var/log/db.log"}}
	if len(*files) != 2 || (*files)[0] != want[0] || (*files)[1] != want[1] {
		t.Errorf("files = %v, want %v", *files, want)
	}
	if *listen != ":8080" {
		t.Errorf("listen = %q, want the default", *listen)
	}
}

func TestParseFlagsCommandLineWins(t *testing.T) {
	t.Setenv("TAILCAST_WORKERS", "3")
	t.Setenv("TAILCAST_FILE", "env=/var/log/env.log")
	fs, workers, files, _ := newTestFlags()
	if err := parseFlags(fs, []string{"--workers", "1", "--file", "cli=/var/log/cli.log"}); err != nil {
		t.Fatal(err)
	}
	if *workers != 1 {
		t.Errorf("workers = %d, want 1 from the command line", *workers)
	}
	if len(*files) != 1 || (*files)[0].Name != "cli" {
		t.Errorf("files = %v, want only cli from the command line", *files)
	}
}

func TestParseFlagsRejectsBadEnvironment(t *testing.T) {
	t.Setenv("TAILCAST_WORKERS", "many")
	fs, _, _, _ := newTestFlags()
	err := parseFlags(fs, nil)
	if err == nil || !strings.Contains(err.Error(), `invalid TAILCAST_WORKERS="many"`) {
		t.Errorf("err = %v, want it to name TAILCAST_WORKERS and its value", err)
	}
}

func TestParseFlagsDocumentsVariables(t *testing.T) {
	fs, _, _, _ := newTestFlags()
	if err := parseFlags(fs, nil); err != nil {
		t.Fatal(err)
	}
	if usage := fs.Lookup("listen").Usage; !strings.Contains(usage, "(env TAILCAST_LISTEN)") {
		t.Errorf("--listen help %q does not name TAILCAST_LISTEN", usage)
	}
}
