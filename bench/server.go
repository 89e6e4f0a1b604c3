package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// sha256Word marks the log line that carries the certificate fingerprint.
var sha256Word = regexp.MustCompile(`(?i)sha-?256`)

// hexRun finds the runs of hex digits and colons in a line.
var hexRun = regexp.MustCompile(`[0-9A-Fa-f:]+`)

// fingerprintInLine returns the SHA-256 fingerprint printed on line: the
// line must mention SHA-256 (or sha256, any case) and hold 64 hex digits,
// either together or as 32 colon-separated pairs.
func fingerprintInLine(line string) ([]byte, bool) {
	if !sha256Word.MatchString(line) {
		return nil, false
	}
	for _, run := range hexRun.FindAllString(line, -1) {
		parts := strings.Split(run, ":")
		pairs := 0
		for i, p := range parts {
			if len(p) == 64 {
				if fp, err := parseFingerprint(p); err == nil {
					return fp, true
				}
			}
			if len(p) == 2 {
				pairs++
			} else {
				pairs = 0
			}
			last := i == len(parts)-1 || len(parts[i+1]) != 2
			if pairs == 32 && last {
				if fp, err := parseFingerprint(strings.Join(parts[i-31:i+1], "")); err == nil {
					return fp, true
				}
			}
		}
	}
	return nil, false
}

// serverProc is a server the driver started with -server-cmd.
type serverProc struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error
	fp      chan []byte    // receives the first fingerprint printed
	ready   atomic.Bool    // after readiness, output goes only to the log file
	logMu   sync.Mutex     // one line at a time from stdout and stderr
	log     io.WriteCloser // -server-log, or nil
	echo    io.Writer      // shows output until the server is ready
}

// startServer runs cmdline with /bin/sh -c 'exec CMDLINE', so that the pid
// is the server's own (for RSS) and SIGTERM reaches it. Its stdout and
// stderr are scanned for the fingerprint line; until the server is ready
// they are echoed to echo, and all of it goes to logPath if set.
func startServer(cmdline, logPath string, echo io.Writer) (*serverProc, error) {
	p := &serverProc{exited: make(chan struct{}), fp: make(chan []byte, 1), echo: echo}
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, fmt.Errorf("server log: %w", err)
		}
		p.log = f
	}
	p.cmd = exec.Command("/bin/sh", "-c", "exec "+cmdline)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	var scanners sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		scanners.Go(func() { p.scan(r) })
	}
	go func() {
		// Wait closes the pipes, so the scanners finish first.
		scanners.Wait()
		p.waitErr = p.cmd.Wait()
		if p.log != nil {
			p.log.Close()
		}
		close(p.exited)
	}()
	return p, nil
}

func (p *serverProc) pid() int { return p.cmd.Process.Pid }

func (p *serverProc) scan(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if fp, ok := fingerprintInLine(line); ok {
			select {
			case p.fp <- fp:
			default:
			}
		}
		p.logMu.Lock()
		if !p.ready.Load() {
			fmt.Fprintln(p.echo, "server:", line)
		}
		if p.log != nil {
			fmt.Fprintln(p.log, line)
		}
		p.logMu.Unlock()
	}
	io.Copy(io.Discard, r) // a line over 1 MiB: keep the pipe drained
}

// fingerprint waits for the fingerprint line.
func (p *serverProc) fingerprint(ctx context.Context, timeout time.Duration) ([]byte, error) {
	select {
	case fp := <-p.fp:
		return fp, nil
	case <-p.exited:
		return nil, fmt.Errorf("server exited before printing its SHA-256 fingerprint: %v", p.waitErr)
	case <-time.After(timeout):
		return nil, fmt.Errorf("server printed no SHA-256 fingerprint line within %s (or pass -tls-fingerprint, -ca)", timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// waitReady polls GET /metadata every 100 ms until it answers 200 and
// returns the protocol it answered with. exited (nil when the server is not
// ours) ends the wait early; so does a certificate that fails the pin.
func waitReady(ctx context.Context, cl *http.Client, base *url.URL, exited <-chan struct{}, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		proto, err := probe(ctx, cl, base)
		if err == nil || errors.Is(err, errFingerprint) || ctx.Err() != nil {
			return proto, err
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("GET /metadata did not answer 200 within %s: %w", timeout, err)
		}
		select {
		case <-exited:
			return "", errors.New("server exited while starting")
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// probe sends one GET /metadata and wants 200.
func probe(ctx context.Context, cl *http.Client, base *url.URL) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := newGet(ctx, base, "metadata")
	if err != nil {
		return "", err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.Proto, fmt.Errorf("GET /metadata: HTTP %d", resp.StatusCode)
	}
	return resp.Proto, nil
}

// stop sends SIGTERM and waits up to grace for the server to exit, then
// kills it.
func (p *serverProc) stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return fmt.Errorf("server had already exited: %v", p.waitErr)
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.exited:
		var ee *exec.ExitError
		if errors.As(p.waitErr, &ee) && !ee.Exited() {
			return nil // ended by our signal
		}
		return p.waitErr
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("server did not exit within %s of SIGTERM; killed", grace)
	}
}
