package sqlite

import (
	"encoding/binary"
	"errors"
	"math"
)

// The keys of a resource's index rows are kept in resource.ix, so an update
// or delete removes exactly those rows by primary key and the index tables
// need no second index on rid. The encoding is a sequence of rows:
//
//	table byte, pid uvarint, grp varint, then per table:
//	  string:   norm, exact              (strings: uvarint length + bytes)
//	  token:    code, system
//	  ref:      tid, ttype, url
//	  date:     lo, hi                   (varints)
//	  number:   lo, hi                   (float64 bits, uvarint)
//	  quantity: lo, hi, code, system, unit
//	  uri:      uri
//
// rid is the resource's own and is not stored.

var errRowKeys = errors.New("sqlite: corrupt index key list")

type keyWriter struct{ b []byte }

func (w *keyWriter) row(t int, pid int64, grp int32) {
	w.b = append(w.b, byte(t))
	w.b = binary.AppendUvarint(w.b, uint64(pid))
	w.b = binary.AppendVarint(w.b, int64(grp))
}

func (w *keyWriter) str(s string) {
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *keyWriter) int(v int64) { w.b = binary.AppendVarint(w.b, v) }

func (w *keyWriter) float(f float64) { w.b = binary.AppendUvarint(w.b, math.Float64bits(f)) }

type keyReader struct {
	b   []byte
	err error
}

func (r *keyReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errRowKeys
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *keyReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errRowKeys
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *keyReader) str() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errRowKeys
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// bytes returns a length-prefixed string without copying it.
func (r *keyReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errRowKeys
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *keyReader) float() float64 { return math.Float64frombits(r.uvarint()) }

// rowKey is one decoded row: its table and the arguments of its DELETE.
type rowKey struct {
	table int
	args  []any
}

// decodeRowKeys lists the rows of resource rid.
func decodeRowKeys(b []byte, rid int64) ([]rowKey, error) {
	r := &keyReader{b: b}
	var out []rowKey
	for len(r.b) > 0 && r.err == nil {
		t := int(r.b[0])
		r.b = r.b[1:]
		pid := int64(r.uvarint())
		grp := r.varint()
		var args []any
		switch t {
		case tString, tToken:
			args = []any{pid, r.str(), r.str(), rid, grp}
		case tRef:
			args = []any{pid, r.str(), r.str(), r.str(), rid, grp}
		case tDate:
			args = []any{pid, r.varint(), r.varint(), rid, grp}
		case tNumber:
			args = []any{pid, r.float(), r.float(), rid, grp}
		case tQuantity:
			args = []any{pid, r.float(), r.float(), r.str(), r.str(), r.str(), rid, grp}
		case tURI:
			args = []any{pid, r.str(), rid, grp}
		default:
			return nil, errRowKeys
		}
		out = append(out, rowKey{table: t, args: args})
	}
	if r.err != nil {
		return nil, r.err
	}
	return out, nil
}

// deleteSQL deletes one row by its full primary key.
func deleteSQL(t indexTable) string {
	cols := splitColumns(t.columns)
	q := "DELETE FROM " + t.name + " WHERE "
	for i, c := range cols {
		if i > 0 {
			q += " AND "
		}
		q += c + " = ?"
	}
	return q
}

func splitColumns(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			c := s[start:i]
			for len(c) > 0 && c[0] == ' ' {
				c = c[1:]
			}
			out = append(out, c)
			start = i + 1
		}
	}
	return out
}
