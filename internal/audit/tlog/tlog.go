// Package tlog is the audit trail's transparency log: an append-only
// Merkle tree in the sense of RFC 6962/9162 over the hashes of stored audit
// records, built with github.com/transparency-dev/merkle, with inclusion
// and consistency proofs and checkpoints in the C2SP tlog-checkpoint format
// (checkpoint.go).
//
// Invariants:
//   - Leaf i is the RFC 6962 leaf hash of record i as it is stored
//     (encrypted): anyone can check the log without keys.
//   - Every node of the tree is written once, when its subtree is complete,
//     and never changes; a proof for any size up to the tree's is built
//     from written nodes only.
//   - Appends are serialised by the caller (one writer); reads and proofs
//     may run concurrently with them on a consistent node store.
package tlog

import (
	"context"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Hasher is the RFC 6962 hasher (SHA-256) of the log.
var Hasher = rfc6962.DefaultHasher

var factory = &compact.RangeFactory{Hash: Hasher.HashChildren}

// NodeID names a node: its level (0 for leaves) and index at that level.
type NodeID = compact.NodeID

// Nodes reads node hashes. Nodes returns the hashes of ids, in order, and
// an error if any of them is not stored.
type Nodes interface {
	Nodes(ctx context.Context, ids []NodeID) ([][]byte, error)
}

// ErrMissingNode is returned by a Nodes implementation for a node it does
// not hold.
var ErrMissingNode = errors.New("tlog: node not stored")

// Tree is the right edge of the tree (a compact range [0, size)): enough
// to append leaves and compute the root without reading other nodes.
type Tree struct {
	rng *compact.Range
}

// Empty returns the tree of size 0.
func Empty() *Tree { return &Tree{rng: factory.NewEmptyRange(0)} }

// Load returns the tree of the given size from stored nodes.
func Load(ctx context.Context, nodes Nodes, size uint64) (*Tree, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := nodes.Nodes(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("tlog: load tree of size %d: %w", size, err)
	}
	rng, err := factory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("tlog: load tree of size %d: %w", size, err)
	}
	return &Tree{rng: rng}, nil
}

// Clone returns a copy that appends independently of t.
func (t *Tree) Clone() *Tree {
	rng, err := factory.NewRange(0, t.rng.End(), append([][]byte(nil), t.rng.Hashes()...))
	if err != nil { // the hashes of a well-formed range
		panic(err)
	}
	return &Tree{rng: rng}
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return t.rng.End() }

// Root is the root hash (the hash of the empty string for size 0).
func (t *Tree) Root() []byte {
	if t.Size() == 0 {
		return Hasher.EmptyRoot()
	}
	root, err := t.rng.GetRootHash(nil)
	if err != nil { // a range from 0 always has a root
		panic(err)
	}
	return root
}

// Append adds the leaf whose record is record, and calls put for every
// node that this completes (the leaf itself included), which the caller
// stores with the record. It returns the leaf's index.
func (t *Tree) Append(record []byte, put func(id NodeID, hash []byte)) uint64 {
	i := t.Size()
	if err := t.rng.Append(Hasher.HashLeaf(record), put); err != nil {
		panic(err) // appending one leaf to a well-formed range cannot fail
	}
	return i
}

// Inclusion returns the proof that leaf index is in the tree of size
// size, from stored nodes (RFC 9162 section 2.1.3).
func Inclusion(ctx context.Context, nodes Nodes, index, size uint64) ([][]byte, error) {
	p, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("tlog: inclusion proof: %w", err)
	}
	return fetch(ctx, nodes, p)
}

// Consistency returns the proof that the tree of size size1 is a prefix of
// the tree of size size2 (RFC 9162 section 2.1.4).
func Consistency(ctx context.Context, nodes Nodes, size1, size2 uint64) ([][]byte, error) {
	p, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("tlog: consistency proof: %w", err)
	}
	return fetch(ctx, nodes, p)
}

func fetch(ctx context.Context, nodes Nodes, p proof.Nodes) ([][]byte, error) {
	if len(p.IDs) == 0 {
		return [][]byte{}, nil
	}
	hashes, err := nodes.Nodes(ctx, p.IDs)
	if err != nil {
		return nil, fmt.Errorf("tlog: proof: %w", err)
	}
	out, err := p.Rehash(hashes, Hasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("tlog: proof: %w", err)
	}
	return out, nil
}

// VerifyInclusion checks an inclusion proof of record at index against the
// root of a tree of size size.
func VerifyInclusion(record []byte, index, size uint64, proofHashes [][]byte, root []byte) error {
	return proof.VerifyInclusion(Hasher, index, size, Hasher.HashLeaf(record), proofHashes, root)
}

// VerifyConsistency checks a consistency proof between two roots.
func VerifyConsistency(size1, size2 uint64, proofHashes [][]byte, root1, root2 []byte) error {
	return proof.VerifyConsistency(Hasher, size1, size2, proofHashes, root1, root2)
}

// MemNodes is a Nodes in memory, for tests and for verifying an exported
// log without a database.
type MemNodes map[NodeID][]byte

// Put stores a node; it is Append's put function.
func (m MemNodes) Put(id NodeID, hash []byte) { m[id] = hash }

// Nodes implements Nodes.
func (m MemNodes) Nodes(_ context.Context, ids []NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := m[id]
		if !ok {
			return nil, fmt.Errorf("%w: level %d index %d", ErrMissingNode, id.Level, id.Index)
		}
		out[i] = h
	}
	return out, nil
}
