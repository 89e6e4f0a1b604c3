package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// Records lists a log's stored records from index 0 in index order: fn is
// called with each index and record.
type Records func(ctx context.Context, fn func(index uint64, record []byte) error) error

// Problem is the first thing wrong with a log: the index of the first
// record that does not check out (the log is sound below it), and what.
type Problem struct {
	Index  uint64
	Reason string
}

func (p *Problem) Error() string {
	return fmt.Sprintf("tlog: audit log broken at record %d: %s", p.Index, p.Reason)
}

// Report is what Verify checked.
type Report struct {
	Size uint64 // records checked
	Root []byte // root hash recomputed from them
}

// Verify recomputes the tree from the stored records and checks it
// against the stored nodes and against checkpoints (signed ones, already
// opened): every index present once and in order, every record hashing to
// its stored leaf, every stored node of the recomputed tree equal, no
// stored node beyond the records, and every checkpoint a prefix of the log
// with the root it states. It returns a *Problem naming the first bad
// index, or another error if the store cannot be read.
//
// What it detects: a record changed (its hash is not the stored leaf), a
// record removed (an index missing), a record inserted (indices do not
// follow, or a stored node disagrees), records swapped (leaves out of
// place), a truncated tail (stored nodes or a checkpoint beyond the end),
// and a database rolled back to an earlier copy (a checkpoint held
// elsewhere is larger, or its root differs).
func Verify(ctx context.Context, records Records, nodes Nodes, checkpoints []Checkpoint) (*Report, error) {
	tree := Empty()
	var problem *Problem
	fail := func(i uint64, format string, args ...any) error {
		problem = &Problem{Index: i, Reason: fmt.Sprintf(format, args...)}
		return problem
	}
	// Checkpoints by size, checked as the tree passes their size.
	bySize := map[uint64][]Checkpoint{}
	var maxCP uint64
	for _, c := range checkpoints {
		bySize[c.Size] = append(bySize[c.Size], c)
		maxCP = max(maxCP, c.Size)
	}
	// sound is the size of the largest checkpoint matched so far: below
	// it, the log is what was signed.
	var sound uint64
	checkCP := func() error {
		for _, c := range bySize[tree.Size()] {
			if !bytes.Equal(c.Root, tree.Root()) {
				return fail(sound, "the first %d records are not those of the checkpoint of that size: a record from %d on was rewritten with its tree", c.Size, sound)
			}
			sound = c.Size
		}
		return nil
	}
	if err := checkCP(); err != nil {
		return nil, err
	}
	var want uint64
	err := records(ctx, func(i uint64, rec []byte) error {
		if i != want {
			if i > want {
				return fail(want, "record %d is missing (the next stored is %d)", want, i)
			}
			return fail(i, "record %d is out of order", i)
		}
		var bad error
		tree.Append(rec, func(id NodeID, hash []byte) {
			if bad != nil {
				return
			}
			stored, err := nodes.Nodes(ctx, []NodeID{id})
			switch {
			case errors.Is(err, ErrMissingNode):
				bad = fail(i, "node (level %d, index %d) is not stored", id.Level, id.Index)
			case err != nil:
				bad = err
			case !bytes.Equal(stored[0], hash):
				if id.Level == 0 {
					bad = fail(i, "the record does not hash to its stored leaf: changed, inserted or moved")
				} else {
					first, _ := id.Coverage()
					bad = fail(first, "stored node (level %d, index %d) differs from the one recomputed", id.Level, id.Index)
				}
			}
		})
		if bad != nil {
			return bad
		}
		want++
		return checkCP()
	})
	if problem != nil {
		return nil, problem
	}
	if err != nil {
		return nil, fmt.Errorf("tlog: verify: %w", err)
	}
	size := tree.Size()
	if maxCP > size {
		return nil, fail(size, "a checkpoint of size %d is larger than the log (%d records): truncated or rolled back", maxCP, size)
	}
	// Nothing stored past the end: a removed tail leaves its nodes.
	if _, err := nodes.Nodes(ctx, []NodeID{{Level: 0, Index: size}}); err == nil {
		return nil, fail(size, "a leaf is stored past the last record: the tail was removed")
	} else if !errors.Is(err, ErrMissingNode) {
		return nil, fmt.Errorf("tlog: verify: %w", err)
	}
	return &Report{Size: size, Root: tree.Root()}, nil
}
