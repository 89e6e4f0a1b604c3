package checkpoint

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// fakeS3 serves an in-memory S3-compatible API on loopback, with
// credentials for it in the environment.
func fakeS3(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(true)).Server())
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	return srv.URL
}

// An S3 sink keeps every checkpoint, never overwrites one, and gives back
// the newest above a size.
func TestS3Sink(t *testing.T) {
	ctx := context.Background()
	endpoint := fakeS3(t)
	s, err := NewS3(ctx, "s3://audit/node-1", endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Newest(ctx, 0); err != nil || got != nil {
		t.Fatalf("empty bucket: %q %v", got, err)
	}
	for _, n := range []uint64{9, 120, 35} {
		if err := s.Put(ctx, n, fmt.Appendf(nil, "checkpoint %d", n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, 120, []byte("rewritten")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Newest(ctx, 0); err != nil || string(got) != "checkpoint 120" {
		t.Fatalf("newest: %q %v", got, err)
	}
	if got, err := s.Newest(ctx, 120); err != nil || got != nil {
		t.Fatalf("newest above 120: %q %v", got, err)
	}
	if got, err := s.Newest(ctx, 10); err != nil || string(got) != "checkpoint 120" {
		t.Fatalf("newest above 10: %q %v", got, err)
	}
	for _, bad := range []string{"s3://", "https://bucket/x", "s3://user@bucket/x"} {
		if _, err := NewS3(ctx, bad, endpoint); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := NewS3(ctx, "s3://audit", "http://s3.example.org"); err == nil {
		t.Error("a plain-http endpoint off loopback was accepted")
	}
}
