package tlog

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

type stored struct {
	idx []uint64
	rec [][]byte
}

func (s stored) list(ctx context.Context, fn func(uint64, []byte) error) error {
	for k, i := range s.idx {
		if err := fn(i, s.rec[k]); err != nil {
			return err
		}
	}
	return nil
}

func storedLog(n int) stored {
	var s stored
	for i := range n {
		s.idx = append(s.idx, uint64(i))
		s.rec = append(s.rec, record(i))
	}
	return s
}

// rebuilt is a log whose tree was recomputed over its records, as an
// attacker who rewrites records and their nodes would leave it.
func rebuilt(s stored) MemNodes {
	nodes := MemNodes{}
	tree := Empty()
	for _, r := range s.rec {
		tree.Append(r, nodes.Put)
	}
	return nodes
}

// Verify detects each way of tampering with a stored log and names the
// first bad index; a sound log passes with its root.
func TestVerify(t *testing.T) {
	ctx := context.Background()
	const n = 20
	_, nodes, roots := grow(t, n)
	cp := func(size int) Checkpoint { return Checkpoint{Origin: "o", Size: uint64(size), Root: roots[size]} }

	rep, err := Verify(ctx, storedLog(n).list, nodes, []Checkpoint{cp(0), cp(5), cp(n)})
	if err != nil || rep.Size != n || string(rep.Root) != string(roots[n]) {
		t.Fatalf("sound log: %+v, %v", rep, err)
	}

	modified := storedLog(n)
	modified.rec[7] = []byte("changed")
	removed := storedLog(n)
	removed.idx, removed.rec = slices.Delete(removed.idx, 7, 8), slices.Delete(removed.rec, 7, 8)
	inserted := storedLog(n)
	inserted.rec = slices.Insert(inserted.rec, 7, []byte("inserted"))[:n]
	swapped := storedLog(n)
	swapped.rec[7], swapped.rec[8] = swapped.rec[8], swapped.rec[7]
	truncated := storedLog(15)
	rolledBack := storedLog(12)
	rewritten := storedLog(n)
	rewritten.rec[9] = []byte("rewritten")

	cases := []struct {
		name    string
		log     stored
		nodes   MemNodes
		cps     []Checkpoint
		want    uint64
		because string
	}{
		{"a modified record", modified, nodes, nil, 7, "hash"},
		{"a deleted record", removed, nodes, nil, 7, "missing"},
		{"an inserted record", inserted, nodes, nil, 7, "hash"},
		{"reordered records", swapped, nodes, nil, 7, "hash"},
		{"a truncated tail", truncated, nodes, nil, 15, "past the last"},
		{"a truncated tail with its nodes", truncated, rebuilt(truncated), []Checkpoint{cp(n)}, 15, "larger than the log"},
		{"a database rolled back to an earlier copy", rolledBack, rebuilt(rolledBack), []Checkpoint{cp(5), cp(16)}, 12, "larger than the log"},
		{"a record rewritten with its whole tree", rewritten, rebuilt(rewritten), []Checkpoint{cp(5), cp(n)}, 5, "rewritten"},
	}
	for _, c := range cases {
		_, err := Verify(ctx, c.log.list, c.nodes, c.cps)
		var p *Problem
		if !errors.As(err, &p) {
			t.Errorf("%s: not detected (%v)", c.name, err)
			continue
		}
		if p.Index != c.want || !strings.Contains(p.Reason, c.because) {
			t.Errorf("%s: %v; want index %d, a reason with %q", c.name, p, c.want, c.because)
		}
	}
}
