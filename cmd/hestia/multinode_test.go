package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hestiahealth/hestia/internal/pgtest"
)

// TestSeveralNodesOnOnePostgres starts three `hestia serve` processes at
// once on one empty PostgreSQL database behind one base URL, as a load
// balancer would, writes
// and reads through all of them at once, kills one mid-way, and checks
// that no acknowledged write is missing, that every node serves what the
// others wrote, and that `hestia audit verify` passes on the one log they
// all appended to.
func TestSeveralNodesOnOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := append(os.Environ(), "HESTIA_KEY_DIR="+filepath.Join(dir, "keys"), "HESTIA_STORAGE="+dsn)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("hestia", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("hestia %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	var id, secret []string // the client's credentials, once registered
	const base = "https://hestia.test"
	type node struct {
		addr string
		cmd  *exec.Cmd
		log  *bytes.Buffer
	}
	start := func() *node {
		t.Helper()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		n := &node{addr: addr, log: &bytes.Buffer{}}
		n.cmd = exec.Command("hestia", "serve", "--data", data, "--listen", addr, "--base-url", base)
		n.cmd.Env = env
		n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if n.cmd.ProcessState == nil {
				n.cmd.Process.Kill()
				n.cmd.Wait()
			}
		})
		return n
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		// The nodes' self-signed certificates name localhost; the requests
		// name the base URL's host, as behind a load balancer.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback test servers
	}}
	do := func(n *node, method, path, token string, body []byte, form url.Values) (int, []byte, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		} else if form != nil {
			rd = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, "https://"+n.addr+path, rd)
		if err != nil {
			return 0, nil, err
		}
		req.Host = "hestia.test"
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/fhir+json")
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(url.QueryEscape(id[1]), url.QueryEscape(secret[1]))
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	ready := func(n *node) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if st, _, err := do(n, "GET", "/metadata?_summary=true", "", nil, nil); err == nil && st == 200 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s did not start:\n%s", n.addr, n.log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The three start at once on an empty database: they migrate it once,
	// and agree on one audit log identity.
	nodes := []*node{start(), start(), start()}
	for _, n := range nodes {
		ready(n)
	}
	if out := run("migrate", "--data", data); !strings.Contains(out, "schema version") || !strings.Contains(out, `"interaction":"configure"`) {
		t.Fatalf("migrate: %s", out)
	}
	out := run("client", "add", "--data", data, "--name", "load", "--backend", "--secret", "--scope", "system/*.cruds")
	id = regexp.MustCompile(`client_id: (\S+)`).FindStringSubmatch(out)
	secret = regexp.MustCompile(`client_secret: (\S+)`).FindStringSubmatch(out)
	if id == nil || secret == nil {
		t.Fatalf("client add: %s", out)
	}

	st, body, err := do(nodes[0], "POST", "/oauth2/token", "", nil, url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.cruds"}})
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err != nil || st != 200 || json.Unmarshal(body, &tr) != nil || tr.AccessToken == "" {
		t.Fatalf("token: %d %v %s", st, err, body)
	}
	token := tr.AccessToken

	// Writers on every node; each create is read back through another node.
	var mu sync.Mutex
	var acked []string // ids of creates answered 201
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				n := nodes[(w+k)%len(nodes)]
				p := fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":"Node%d","given":["W%d"]}]}`, k, w)
				st, b, err := do(n, "POST", "/Patient", token, []byte(p), nil)
				if err != nil || st != 201 {
					continue // a killed node: not acknowledged
				}
				var created struct{ ID string }
				if json.Unmarshal(b, &created) != nil || created.ID == "" {
					mu.Lock()
					failures = append(failures, "create answered 201 without an id")
					mu.Unlock()
					continue
				}
				mu.Lock()
				acked = append(acked, created.ID)
				mu.Unlock()
				other := nodes[(w+k+1)%len(nodes)]
				if st, _, err := do(other, "GET", "/Patient/"+created.ID, token, nil, nil); err == nil && st != 200 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("read of %s on another node: %d", created.ID, st))
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(3 * time.Second)
	// One node dies mid-way, without a chance to finish anything.
	if err := nodes[1].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	nodes[1].cmd.Wait()
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d failures, first: %s", len(failures), failures[0])
	}
	if len(acked) < 50 {
		t.Fatalf("only %d writes acknowledged", len(acked))
	}
	// Every acknowledged write is there, on every node still running.
	for _, n := range []*node{nodes[0], nodes[2]} {
		for _, pid := range acked {
			if st, b, err := do(n, "GET", "/Patient/"+pid, token, nil, nil); err != nil || st != 200 {
				t.Fatalf("acknowledged Patient/%s on %s: %d %v %s", pid, n.addr, st, err, b)
			}
		}
	}
	for _, n := range []*node{nodes[0], nodes[2]} {
		n.cmd.Process.Signal(syscall.SIGTERM)
		n.cmd.Wait()
	}
	out = run("audit", "verify", "--data", data)
	if !strings.Contains(out, "audit log OK") {
		t.Fatalf("audit verify: %s", out)
	}
	m := regexp.MustCompile(`audit log OK: (\d+) records`).FindStringSubmatch(out)
	var records int
	fmt.Sscan(m[1], &records)
	// At least a create and a read per acknowledged write.
	if records < 2*len(acked) {
		t.Fatalf("%d records in the log for %d acknowledged writes and their reads", records, len(acked))
	}
	t.Logf("%d writes acknowledged by three nodes (one killed); audit log of %d records verifies", len(acked), records)
}
