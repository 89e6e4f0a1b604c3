package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	sumdb "golang.org/x/mod/sumdb/tlog"
)

func record(i int) []byte { return []byte(fmt.Sprintf("sealed audit record %d", i)) }

// grow appends n records to a new tree, returning the tree, its stored
// nodes and the root after every size.
func grow(t *testing.T, n int) (*Tree, MemNodes, [][]byte) {
	t.Helper()
	tree, nodes := Empty(), MemNodes{}
	roots := [][]byte{tree.Root()}
	for i := range n {
		if got := tree.Append(record(i), nodes.Put); got != uint64(i) {
			t.Fatalf("append %d: index %d", i, got)
		}
		roots = append(roots, tree.Root())
	}
	return tree, nodes, roots
}

// The roots agree with an independent RFC 6962 implementation (the Go
// checksum database's), at every size.
func TestRootsMatchAnIndependentImplementation(t *testing.T) {
	const n = 70
	_, _, roots := grow(t, n)
	var stored []sumdb.Hash
	hr := sumdb.HashReaderFunc(func(idx []int64) ([]sumdb.Hash, error) {
		out := make([]sumdb.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i := range n {
		hs, err := sumdb.StoredHashes(int64(i), record(i), hr)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		want, err := sumdb.TreeHash(int64(i+1), hr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(roots[i+1], want[:]) {
			t.Fatalf("size %d: root %x, want %x", i+1, roots[i+1], want)
		}
	}
	// RFC 6962: the hash of an empty list is the hash of an empty string.
	if got := fmt.Sprintf("%x", roots[0]); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("empty root %s", got)
	}
}

// Inclusion and consistency proofs from stored nodes verify for every
// index and pair of sizes, with this package's verifier and with the
// independent one; a changed record, index or root does not.
func TestProofs(t *testing.T) {
	const n = 40
	ctx := context.Background()
	_, nodes, roots := grow(t, n)
	for size := 1; size <= n; size++ {
		for i := range size {
			p, err := Inclusion(ctx, nodes, uint64(i), uint64(size))
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(record(i), uint64(i), uint64(size), p, roots[size]); err != nil {
				t.Fatalf("inclusion %d in %d: %v", i, size, err)
			}
			if err := sumdb.CheckRecord(toSumdb(p), int64(size), hash(roots[size]), int64(i), sumdb.RecordHash(record(i))); err != nil {
				t.Fatalf("inclusion %d in %d (independent check): %v", i, size, err)
			}
			if VerifyInclusion(record(i+1), uint64(i), uint64(size), p, roots[size]) == nil {
				t.Fatalf("inclusion %d in %d: another record verified", i, size)
			}
			if size > 1 && VerifyInclusion(record(i), uint64((i+1)%size), uint64(size), p, roots[size]) == nil {
				t.Fatalf("inclusion %d in %d: another index verified", i, size)
			}
		}
		for m := 0; m <= size; m++ {
			p, err := Consistency(ctx, nodes, uint64(m), uint64(size))
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyConsistency(uint64(m), uint64(size), p, roots[m], roots[size]); err != nil {
				t.Fatalf("consistency %d → %d: %v", m, size, err)
			}
			if m > 0 {
				if err := sumdb.CheckTree(toSumdb(p), int64(size), hash(roots[size]), int64(m), hash(roots[m])); err != nil {
					t.Fatalf("consistency %d → %d (independent check): %v", m, size, err)
				}
			}
			if m > 0 && m < size && VerifyConsistency(uint64(m), uint64(size), p, roots[m-1], roots[size]) == nil {
				t.Fatalf("consistency %d → %d: another old root verified", m, size)
			}
		}
	}
	if _, err := Inclusion(ctx, nodes, n, n); err == nil {
		t.Fatal("inclusion of an index past the end")
	}
	if _, err := Consistency(ctx, nodes, 5, 4); err == nil {
		t.Fatal("consistency from a larger to a smaller size")
	}
	if _, err := Inclusion(ctx, MemNodes{}, 3, 10); !errors.Is(err, ErrMissingNode) {
		t.Fatalf("proof without stored nodes: %v", err)
	}
}

// A tree loaded from stored nodes at any size has the root the appending
// tree had, and appends on from there the same way.
func TestLoad(t *testing.T) {
	const n = 33
	ctx := context.Background()
	_, nodes, roots := grow(t, n)
	for size := 0; size <= n; size++ {
		tree, err := Load(ctx, nodes, uint64(size))
		if err != nil {
			t.Fatal(err)
		}
		if tree.Size() != uint64(size) || !bytes.Equal(tree.Root(), roots[size]) {
			t.Fatalf("loaded size %d: root %x, want %x", size, tree.Root(), roots[size])
		}
		if size < n {
			tree.Append(record(size), func(NodeID, []byte) {})
			if !bytes.Equal(tree.Root(), roots[size+1]) {
				t.Fatalf("loaded size %d, appended one: root differs", size)
			}
		}
	}
	if _, err := Load(ctx, MemNodes{}, 5); !errors.Is(err, ErrMissingNode) {
		t.Fatalf("load without nodes: %v", err)
	}
}

func toSumdb(p [][]byte) []sumdb.Hash {
	out := make([]sumdb.Hash, len(p))
	for i, h := range p {
		out[i] = hash(h)
	}
	return out
}

func hash(b []byte) sumdb.Hash {
	var h sumdb.Hash
	copy(h[:], b)
	return h
}
