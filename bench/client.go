package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const fhirJSON = "application/fhir+json"

// trust says how the driver checks the server's certificate. Exactly one of
// Fingerprint, CAFile or SkipVerify is used; none is needed for http://.
type trust struct {
	Fingerprint []byte // SHA-256 of the leaf certificate's DER
	CAFile      string
	SkipVerify  bool
}

// describe says in one phrase how the server was trusted, for the report.
func (t trust) describe(base *url.URL) string {
	switch {
	case base.Scheme == "http":
		return "plain HTTP (no TLS)"
	case len(t.Fingerprint) > 0:
		return "TLS, certificate pinned by SHA-256 " + formatFingerprint(t.Fingerprint)
	case t.CAFile != "":
		return "TLS, verified against CA " + t.CAFile
	case t.SkipVerify:
		return "TLS, CERTIFICATE NOT VERIFIED (-insecure-skip-verify)"
	}
	return "TLS, system roots"
}

// parseFingerprint accepts a SHA-256 fingerprint as 64 hex digits, with or
// without colons (or spaces) between the bytes, in either case.
func parseFingerprint(s string) ([]byte, error) {
	clean := strings.NewReplacer(":", "", " ", "", "-", "").Replace(strings.TrimSpace(s))
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("tls fingerprint %q: want the SHA-256 of the certificate as 64 hex digits, with or without colons", s)
	}
	return b, nil
}

// formatFingerprint writes a fingerprint as colon-separated upper-case hex.
func formatFingerprint(b []byte) string {
	var sb strings.Builder
	for i, c := range b {
		if i > 0 {
			sb.WriteByte(':')
		}
		fmt.Fprintf(&sb, "%02X", c)
	}
	return sb.String()
}

// errFingerprint is returned when the server's certificate is not the pinned one.
var errFingerprint = errors.New("server certificate does not match the pinned SHA-256 fingerprint")

// tlsConfig builds the client TLS configuration for t.
func (t trust) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case len(t.Fingerprint) > 0:
		// The certificate is self-signed, so chain and name checks cannot
		// succeed; the pin replaces them. VerifyConnection runs on every
		// handshake, resumed ones included.
		want := t.Fingerprint
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errFingerprint
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(got[:], want) {
				return fmt.Errorf("%w: got %s", errFingerprint, formatFingerprint(got[:]))
			}
			return nil
		}
	case t.CAFile != "":
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificates found", t.CAFile)
		}
		cfg.RootCAs = pool
	case t.SkipVerify:
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

// newClient returns an HTTP client whose transport keeps up to conns
// keep-alive connections to the server. HTTP/2 is negotiated over TLS only
// when h2 is set; otherwise every client goroutine has its own HTTP/1.1
// connection. Compression is off so that the numbers measure the server.
func newClient(t trust, conns int, h2 bool, timeout time.Duration) (*http.Client, error) {
	tc, err := t.tlsConfig()
	if err != nil {
		return nil, err
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	if h2 {
		protos.SetHTTP2(true)
	}
	tr := &http.Transport{
		Proxy:               nil,
		TLSClientConfig:     tc,
		Protocols:           &protos,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     2 * time.Minute,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}

// outcome is one timed exchange: the status and the whole body, read before
// the clock stops.
type outcome struct {
	Status  int
	Proto   string
	Elapsed time.Duration
	Err     error // transport error; Status is 0
}

// do sends req, reads the whole response body into buf and returns the time
// from just before sending to the last byte read. buf is reset first.
func do(c *http.Client, req *http.Request, buf *bytes.Buffer) outcome {
	buf.Reset()
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return outcome{Elapsed: time.Since(start), Err: err}
	}
	_, err = buf.ReadFrom(resp.Body)
	elapsed := time.Since(start)
	resp.Body.Close()
	if err != nil {
		return outcome{Status: resp.StatusCode, Proto: resp.Proto, Elapsed: elapsed, Err: fmt.Errorf("read body: %w", err)}
	}
	return outcome{Status: resp.StatusCode, Proto: resp.Proto, Elapsed: elapsed}
}

// newGet builds a GET of base joined with rel ("Patient/1" or
// "Observation?patient=1"); an absolute rel (a next link) is used as is.
func newGet(ctx context.Context, base *url.URL, rel string) (*http.Request, error) {
	u := rel
	if !strings.HasPrefix(rel, "http://") && !strings.HasPrefix(rel, "https://") {
		u = strings.TrimSuffix(base.String(), "/") + "/" + rel
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", fhirJSON)
	return req, nil
}

// newPost builds a POST of a FHIR JSON body to the base URL.
func newPost(ctx context.Context, base *url.URL, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", fhirJSON)
	req.Header.Set("Accept", fhirJSON)
	return req, nil
}

// errorKey names a failed exchange for error tallies: the status, or the
// transport error.
func errorKey(o outcome) string {
	if o.Err != nil && o.Status == 0 {
		err := o.Err
		// Drop the URL (it holds ids and search values) so errors group.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "transport: " + shorten(err.Error(), 120)
	}
	if o.Err != nil {
		return fmt.Sprintf("HTTP %d: %s", o.Status, shorten(o.Err.Error(), 120))
	}
	return fmt.Sprintf("HTTP %d", o.Status)
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// withTokens returns a client that sends a bearer access token with every
// request: a client-credentials token of a backend service authenticated
// by its secret (golang.org/x/oauth2), fetched from the server's token
// endpoint through cl and renewed before it expires.
func withTokens(ctx context.Context, cl *http.Client, base *url.URL, id, secret string) *http.Client {
	cc := clientcredentials.Config{
		ClientID:     id,
		ClientSecret: secret,
		TokenURL:     base.JoinPath("oauth2", "token").String(),
		Scopes:       []string{"system/*.cruds"},
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	src := cc.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, cl))
	return &http.Client{Transport: &oauth2.Transport{Source: src, Base: cl.Transport}, Timeout: cl.Timeout}
}
