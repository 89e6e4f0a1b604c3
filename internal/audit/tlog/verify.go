package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// Derived is implemented by a node store that computes some nodes from
// others it stores (levels between the leaves and the lowest stored
// level): Verify does not compare those, since they are right whenever
// the nodes they come from are.
type Derived interface {
	Derived(id NodeID) bool
}

// Extent is implemented by a node store that can tell whether it holds
// anything past a log size (nodes that cover later records, or a store
// keeping leaves with their records, where a removed record takes its
// leaf along): Verify asks it, so a removed tail is found.
type Extent interface {
	StoredBeyond(ctx context.Context, size uint64) (bool, error)
}

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
	derived, _ := nodes.(Derived)
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
	// Recomputed nodes are compared with the stored ones a chunk at a
	// time: one read of the store for many records.
	type computed struct {
		id    NodeID
		hash  []byte
		index uint64 // the record that completed it
	}
	var pending []computed
	var pendingRecords uint64
	compare := func() error {
		if len(pending) == 0 {
			return nil
		}
		ids := make([]NodeID, len(pending))
		for k, c := range pending {
			ids[k] = c.id
		}
		stored, err := nodes.Nodes(ctx, ids)
		if err != nil && !errors.Is(err, ErrMissingNode) {
			return err
		}
		for k, c := range pending {
			var got []byte
			if err == nil {
				got = stored[k]
			} else if one, err1 := nodes.Nodes(ctx, []NodeID{c.id}); err1 == nil {
				got = one[0]
			} else if !errors.Is(err1, ErrMissingNode) {
				return err1
			}
			switch {
			case got == nil:
				return fail(c.index, "node (level %d, index %d) is not stored", c.id.Level, c.id.Index)
			case !bytes.Equal(got, c.hash):
				if c.id.Level == 0 {
					return fail(c.index, "the record does not hash to its stored leaf: changed, inserted or moved")
				}
				first, _ := c.id.Coverage()
				return fail(first, "stored node (level %d, index %d) differs from the one recomputed", c.id.Level, c.id.Index)
			}
		}
		pending, pendingRecords = pending[:0], 0
		return nil
	}
	var want uint64
	err := records(ctx, func(i uint64, rec []byte) error {
		if i != want {
			// The records before are checked first: their problem, if any,
			// comes first.
			if err := compare(); err != nil {
				return err
			}
			if i > want {
				return fail(want, "record %d is missing (the next stored is %d)", want, i)
			}
			return fail(i, "record %d is out of order", i)
		}
		tree.Append(rec, func(id NodeID, hash []byte) {
			if derived != nil && derived.Derived(id) {
				return
			}
			pending = append(pending, computed{id: id, hash: hash, index: i})
		})
		want++
		pendingRecords++
		if len(bySize[tree.Size()]) > 0 || pendingRecords == verifyChunk {
			if err := compare(); err != nil {
				return err
			}
		}
		return checkCP()
	})
	if err == nil && problem == nil {
		err = compare()
	}
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
	if ext, ok := nodes.(Extent); ok {
		beyond, err := ext.StoredBeyond(ctx, size)
		if err != nil {
			return nil, fmt.Errorf("tlog: verify: %w", err)
		}
		if beyond {
			return nil, fail(size, "tree nodes are stored past the last record: the tail was removed")
		}
	}
	return &Report{Size: size, Root: tree.Root()}, nil
}

// verifyChunk is how many records Verify hashes before it compares their
// nodes with the stored ones in one read.
const verifyChunk = 4096
