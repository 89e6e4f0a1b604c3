package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func TestParseFlagsRejectsConflictingAndMalformedOptions(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	tests := []struct {
		args    []string
		wantErr string
	}{
		{nil, ""},
		{[]string{"-url", "http://127.0.0.1:8080", "-phases", "search,ingest", "-c", "1,4,16"}, ""},
		{[]string{"-tls-fingerprint", fp, "-ca", "x.pem"}, "only one of"},
		{[]string{"-tls-fingerprint", "abc"}, "64 hex digits"},
		{[]string{"-server-cmd", "./hestia serve", "-server-pid", "12"}, "not both"},
		{[]string{"-server-log", "x.log"}, "needs -server-cmd"},
		{[]string{"-phases", "ingest,write"}, `unknown phase "write"`},
		{[]string{"-c", "1,0"}, "not a positive integer"},
		{[]string{"-url", "127.0.0.1:8443"}, "want https://"},
		{[]string{"extra"}, "unexpected argument"},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, io.Discard)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("parseFlags(%q): err = %v, want %q", tt.args, err, tt.wantErr)
		}
	}
	c, _ := parseFlags([]string{"-phases", "search,ingest", "-c", "1,4,16"}, io.Discard)
	if !slices.Equal(c.Phases, []string{"ingest", "search"}) || !slices.Equal(c.Concurrency, []int{1, 4, 16}) {
		t.Errorf("phases %v, c %v", c.Phases, c.Concurrency)
	}
}

func TestCommandLineQuotesForTheShell(t *testing.T) {
	got := commandLine([]string{"-server-cmd", "./hestia serve --data /tmp/x", "-label", "it's", "-c", "1,16"})
	want := `go run ./bench -server-cmd './hestia serve --data /tmp/x' -label 'it'\''s' -c 1,16`
	if got != want {
		t.Errorf("commandLine = %s\nwant %s", got, want)
	}
}
