package web

import "testing"

// Only local paths survive as the target after sign-in.
func TestLocalNext(t *testing.T) {
	for in, want := range map[string]string{
		"/oauth2/authorize?client_id=a&scope=x%20y": "/oauth2/authorize?client_id=a&scope=x%20y",
		"/signin/done":            "/signin/done",
		"//evil.example/x":        "",
		"/\t/evil.example/x":      "",
		"/%09/evil.example/x":     "/%09/evil.example/x", // encoded: stays a local path
		"/\\evil.example":         "",
		"https://evil.example/":   "",
		"javascript:alert(1)":     "",
		"evil.example":            "",
		"/x\r\nSet-Cookie: a=b":   "",
		"":                        "",
		"/./..//evil.example":     "/./..//evil.example",
		"///evil.example":         "",
		"/ok?next=//evil.example": "/ok?next=//evil.example",
		"http:/evil.example":      "",
		"/\x7f":                   "",
	} {
		if got := localNext(in); got != want {
			t.Errorf("localNext(%q) = %q, want %q", in, got, want)
		}
	}
}
