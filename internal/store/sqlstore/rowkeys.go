package sqlstore

import (
	"fmt"

	"encoding/binary"
	"errors"
	"github.com/hestiahealth/hestia/internal/store"
	"math"
)

// The key list of a resource (resource.ix) lists its index rows, so that an
// update or delete removes exactly those rows by primary key, and so that
// conditions and sort keys are evaluated on a candidate without touching
// the index tables (match.go). It holds each row's index form (what the
// tables hold) and its value (what conditions compare); the values can be
// PHI, so the list is sealed by the KeyCipher under the resource's owner.
//
// Encoding: a sequence of rows,
//
//	table byte, pid uvarint, grp varint, then per table:
//	  string:   ixNorm, ixExact, norm, exact   (strings: uvarint length + bytes)
//	  token:    ixCode, ixSystem, code, system
//	  ref:      tid, ttype, url
//	  date:     lo, hi                         (varints)
//	  number:   lo, hi                         (float64 bits, uvarint)
//	  quantity: lo, hi, code, system, unit
//	  uri:      ixURI, uri
//
// rid is the resource's own and is not stored.
//
// Where key lists are sealed, a resource's list is stored as two:
//   - the forms list (resource.ixf): the same encoding and rows with the
//     values of string, token and uri rows left empty. It holds what the
//     index tables show and nothing else, so it is not sealed. Conditions
//     and sort keys that need no more (blind-index equality, dates,
//     numbers, quantities, references) are evaluated on it, and an update
//     or erasure deletes index rows by it, without opening anything;
//   - the values list (resource.ix, sealed): those values, in row order
//     (string norm, exact; token code, system; uri uri).
// MergeKeys puts them together again. A resource without a forms list
// (written before it existed, or where key lists are not sealed) has the
// whole list in resource.ix.

// ErrRowKeys reports a key list that does not decode.
var ErrRowKeys = errors.New("corrupt index key list")

// keyWriter encodes a key list. Its methods do nothing on a nil writer.
type keyWriter struct{ b []byte }

func (w *keyWriter) row(t int, pid int64, grp int32) {
	if w == nil {
		return
	}
	w.b = append(w.b, byte(t))
	w.b = binary.AppendUvarint(w.b, uint64(pid))
	w.b = binary.AppendVarint(w.b, int64(grp))
}

func (w *keyWriter) str(s string) {
	if w == nil {
		return
	}
	w.b = binary.AppendUvarint(w.b, uint64(len(s)))
	w.b = append(w.b, s...)
}

// raw is str for bytes read from another list (no conversion).
func (w *keyWriter) raw(b []byte) {
	w.b = binary.AppendUvarint(w.b, uint64(len(b)))
	w.b = append(w.b, b...)
}

func (w *keyWriter) int(v int64) {
	if w != nil {
		w.b = binary.AppendVarint(w.b, v)
	}
}

func (w *keyWriter) float(f float64) {
	if w != nil {
		w.b = binary.AppendUvarint(w.b, math.Float64bits(f))
	}
}

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
		r.err = ErrRowKeys
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
		r.err = ErrRowKeys
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes returns a length-prefixed string without copying it.
func (r *keyReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = ErrRowKeys
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *keyReader) float() float64 { return math.Float64frombits(r.uvarint()) }

// row is one decoded index row of a resource. Its strings point into the
// key list, so decoding allocates nothing.
type row struct {
	table      int
	pid, grp   int64
	ix1, ix2   []byte  // index forms: string ixNorm, ixExact; token ixCode, ixSystem; uri ixURI
	s1, s2, s3 []byte  // values: string norm, exact; token code, system; ref tid, ttype, url; quantity code, system, unit; uri uri
	i1, i2     int64   // date: lo, hi
	f1, f2     float64 // number, quantity: lo, hi
}

func decodeRows(b []byte, out []row) ([]row, error) {
	r := &keyReader{b: b}
	for len(r.b) > 0 && r.err == nil {
		x := row{table: int(r.b[0])}
		r.b = r.b[1:]
		x.pid = int64(r.uvarint())
		x.grp = r.varint()
		switch x.table {
		case tString, tToken:
			x.ix1, x.ix2, x.s1, x.s2 = r.bytes(), r.bytes(), r.bytes(), r.bytes()
		case tRef:
			x.s1, x.s2, x.s3 = r.bytes(), r.bytes(), r.bytes()
		case tDate:
			x.i1, x.i2 = r.varint(), r.varint()
		case tNumber:
			x.f1, x.f2 = r.float(), r.float()
		case tQuantity:
			x.f1, x.f2 = r.float(), r.float()
			x.s1, x.s2, x.s3 = r.bytes(), r.bytes(), r.bytes()
		case tURI:
			x.ix1, x.s1 = r.bytes(), r.bytes()
		default:
			return nil, ErrRowKeys
		}
		out = append(out, x)
	}
	return out, r.err
}

// deleteArgs are the arguments of the DELETE of one decoded row of rid, in
// the column order of its table.
func (x *row) deleteArgs(d Dialect, rid int64) []any {
	switch x.table {
	case tString, tToken:
		return []any{x.pid, d.form(string(x.ix1)), d.form(string(x.ix2)), rid, x.grp}
	case tRef:
		return []any{x.pid, string(x.s1), string(x.s2), string(x.s3), rid, x.grp}
	case tDate:
		return []any{x.pid, x.i1, x.i2, rid, x.grp}
	case tNumber:
		return []any{x.pid, x.f1, x.f2, rid, x.grp}
	case tQuantity:
		return []any{x.pid, x.f1, x.f2, string(x.s1), string(x.s2), string(x.s3), rid, x.grp}
	case tURI:
		return []any{x.pid, d.form(string(x.ix1)), rid, x.grp}
	}
	return nil
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

// MergeKeys rebuilds a whole key list from a forms list and its values
// list.
func MergeKeys(forms, values []byte) ([]byte, error) {
	out := keyWriter{b: make([]byte, 0, len(forms)+len(values))}
	f := &keyReader{b: forms}
	v := &keyReader{b: values}
	for len(f.b) > 0 && f.err == nil && v.err == nil {
		t := int(f.b[0])
		f.b = f.b[1:]
		out.row(t, int64(f.uvarint()), int32(f.varint()))
		switch t {
		case tString, tToken:
			out.raw(f.bytes()) // the two forms
			out.raw(f.bytes())
			f.bytes() // the two empty values
			f.bytes()
			out.raw(v.bytes())
			out.raw(v.bytes())
		case tURI:
			out.raw(f.bytes())
			f.bytes()
			out.raw(v.bytes())
		case tRef:
			for range 3 {
				out.raw(f.bytes())
			}
		case tDate:
			out.int(f.varint())
			out.int(f.varint())
		case tNumber:
			out.float(f.float())
			out.float(f.float())
		case tQuantity:
			out.float(f.float())
			out.float(f.float())
			for range 3 {
				out.raw(f.bytes())
			}
		default:
			return nil, ErrRowKeys
		}
	}
	if f.err != nil || v.err != nil || len(v.b) > 0 {
		return nil, ErrRowKeys
	}
	return out.b, nil
}

// DecodeIndex rebuilds the index of a resource from its unsealed key list:
// the rows as they are and a copy to encode afresh. params is extended
// with parameters registered since it was read, from paramKeys.
func DecodeIndex(paramKeys func() (map[int64]string, error), keys []byte, params map[int64]string) (old, x *store.Index, err error) {
	rows, err := decodeRows(keys, nil)
	if err != nil {
		return nil, nil, err
	}
	x = &store.Index{}
	for i := range rows {
		r := &rows[i]
		param, ok := params[r.pid]
		if !ok {
			fresh, err := paramKeys()
			if err != nil {
				return nil, nil, err
			}
			if param, ok = fresh[r.pid]; !ok {
				return nil, nil, fmt.Errorf("%w: unknown parameter %d", ErrRowKeys, r.pid)
			}
			for k, v := range fresh {
				params[k] = v
			}
		}
		grp := int32(r.grp)
		switch r.table {
		case tString:
			x.Strings = append(x.Strings, store.StringRow{Param: param, Group: grp,
				Norm: string(r.s1), Exact: string(r.s2), IxNorm: string(r.ix1), IxExact: string(r.ix2)})
		case tToken:
			x.Tokens = append(x.Tokens, store.TokenRow{Param: param, Group: grp,
				Code: string(r.s1), System: string(r.s2), IxCode: string(r.ix1), IxSystem: string(r.ix2)})
		case tRef:
			x.References = append(x.References, store.ReferenceRow{Param: param, Group: grp,
				ID: string(r.s1), Type: string(r.s2), URL: string(r.s3)})
		case tDate:
			x.Dates = append(x.Dates, store.DateRow{Param: param, Group: grp, Lo: r.i1, Hi: r.i2})
		case tNumber:
			x.Numbers = append(x.Numbers, store.NumberRow{Param: param, Group: grp, Lo: r.f1, Hi: r.f2})
		case tQuantity:
			x.Quantities = append(x.Quantities, store.QuantityRow{Param: param, Group: grp,
				Lo: r.f1, Hi: r.f2, Code: string(r.s1), System: string(r.s2), Unit: string(r.s3)})
		case tURI:
			x.URIs = append(x.URIs, store.URIRow{Param: param, Group: grp, URI: string(r.s1), IxURI: string(r.ix1)})
		}
	}
	old = &store.Index{
		Strings: append([]store.StringRow(nil), x.Strings...),
		Tokens:  append([]store.TokenRow(nil), x.Tokens...),
		URIs:    append([]store.URIRow(nil), x.URIs...),
	}
	return old, x, nil
}
