package store

// Index holds the search-index rows of one resource version, grouped by the
// kind of value. Param is the key of a search parameter (its canonical URL,
// with a suffix such as "#0" for a composite component or ":text" for the
// text of a token); Group ties together the rows of one composite value and
// is 0 for plain rows.
//
// String, token and URI rows carry two forms of their value: the value
// itself (Norm, Exact, System, Code, URI), used to check candidates and to
// sort, and the index form (the Ix fields) that the caller's index-value
// encoder produced, which is what the index tables hold and compare byte
// for byte. A driver MUST NOT store the values themselves anywhere but in
// the row key list it seals with its KeyCipher (see sqlite.Config). Dates,
// numbers, quantities and references are stored as they are.
type Index struct {
	Strings    []StringRow
	Tokens     []TokenRow
	References []ReferenceRow
	Dates      []DateRow
	Numbers    []NumberRow
	Quantities []QuantityRow
	URIs       []URIRow
}

// Len is the number of rows.
func (x *Index) Len() int {
	if x == nil {
		return 0
	}
	return len(x.Strings) + len(x.Tokens) + len(x.References) + len(x.Dates) +
		len(x.Numbers) + len(x.Quantities) + len(x.URIs)
}

// StringRow indexes a string: Norm is the normalised form used for the
// default (starts-with) and :contains searches, Exact the value for :exact;
// IxNorm indexes a prefix of Norm (see search.PrefixLen) and IxExact Exact.
type StringRow struct {
	Param   string
	Group   int32
	Norm    string
	Exact   string
	IxNorm  string
	IxExact string
}

// TokenRow indexes a code with its system ("" when the value has none).
type TokenRow struct {
	Param    string
	Group    int32
	System   string
	Code     string
	IxSystem string
	IxCode   string
}

// ReferenceRow indexes a reference: a local target (Type and ID) or an
// absolute or canonical URL.
type ReferenceRow struct {
	Param string
	Group int32
	Type  string
	ID    string
	URL   string
}

// DateRow is the closed range [Lo, Hi] of an instant, date, dateTime or
// Period, in microseconds since the Unix epoch (UTC). Open ends are
// MinTime / MaxTime.
type DateRow struct {
	Param  string
	Group  int32
	Lo, Hi int64
}

// Open ends of date ranges.
const (
	MinTime int64 = -1 << 62
	MaxTime int64 = 1 << 62
)

// NumberRow is a number or a range of numbers [Lo, Hi].
type NumberRow struct {
	Param  string
	Group  int32
	Lo, Hi float64
}

// QuantityRow is a quantity (or range) with its unit system, code and
// human-readable unit.
type QuantityRow struct {
	Param  string
	Group  int32
	System string
	Code   string
	Unit   string
	Lo, Hi float64
}

// URIRow indexes a uri, url or canonical value.
type URIRow struct {
	Param string
	Group int32
	URI   string
	IxURI string
}
