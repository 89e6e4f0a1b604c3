package crypt

import "testing"

func TestSealerRoundTripAndTamper(t *testing.T) {
	s, err := NewSealer()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Seal([]byte("offset=20"), []byte("cursor"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := s.Open(tok, []byte("cursor"))
	if err != nil || string(pt) != "offset=20" {
		t.Fatalf("open: %q %v", pt, err)
	}
	if _, err := s.Open(tok, []byte("other")); err != ErrOpen {
		t.Fatalf("open with another context: %v, want ErrOpen", err)
	}
	b := []byte(tok)
	b[len(b)/2] ^= 1
	if _, err := s.Open(string(b), []byte("cursor")); err != ErrOpen {
		t.Fatalf("open tampered: %v, want ErrOpen", err)
	}
	other, _ := NewSealer()
	if _, err := other.Open(tok, []byte("cursor")); err != ErrOpen {
		t.Fatalf("open with another key: %v, want ErrOpen", err)
	}
	if _, err := s.Open("!!!", []byte("cursor")); err != ErrOpen {
		t.Fatalf("open garbage: %v", err)
	}
}
