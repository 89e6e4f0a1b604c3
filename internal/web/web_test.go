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

// FuzzLocalNext: whatever comes in, what comes out is empty or a local
// path (one slash, then no slash or backslash), without control
// characters.
func FuzzLocalNext(f *testing.F) {
	for _, s := range []string{"/oauth2/authorize?x=1", "//evil", "/\t/evil", "https://evil", "/%2f%2fevil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := localNext(s)
		if out == "" {
			return
		}
		if out[0] != '/' || (len(out) > 1 && (out[1] == '/' || out[1] == '\\')) {
			t.Fatalf("localNext(%q) = %q", s, out)
		}
		for _, c := range []byte(out) {
			if c < 0x20 || c == 0x7f || c == '\\' {
				t.Fatalf("localNext(%q) = %q has a control character or backslash", s, out)
			}
		}
	})
}
