package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// proofTarget is the audit log's inclusion proof: GET
// audit/proof/inclusion?index=I&size=N for random I below the size of the
// log's checkpoint at the start. The response must be a proof.
func proofTarget(ctx context.Context, cl *http.Client, base *url.URL) (target, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.JoinPath("audit", "checkpoint").String(), nil)
	if err != nil {
		return target{}, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return target{}, fmt.Errorf("proof: checkpoint: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return target{}, fmt.Errorf("proof: checkpoint: status %d", resp.StatusCode)
	}
	lines := strings.SplitN(string(body), "\n", 3)
	if len(lines) < 3 {
		return target{}, errors.New("proof: the checkpoint has fewer than three lines")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || size < 2 {
		return target{}, fmt.Errorf("proof: checkpoint size %q", lines[1])
	}
	return target{
		Name: fmt.Sprintf("audit/proof/inclusion (log of %s)", thousands(int(size))),
		Next: func(r *rand.Rand) string {
			return "audit/proof/inclusion?index=" + strconv.FormatUint(r.Uint64N(size), 10) + "&size=" + strconv.FormatUint(size, 10)
		},
		Check: func(_ string, body []byte) (int, int, error) {
			var p struct {
				Hashes []string `json:"hashes"`
			}
			if err := json.Unmarshal(body, &p); err != nil || len(p.Hashes) == 0 {
				return 0, -1, errors.New("proof: the response is not a proof")
			}
			return 0, -1, nil
		},
	}, nil
}
