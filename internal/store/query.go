package store

// Query is a search over the current, not-deleted resources of one type,
// already parsed and resolved by internal/search. Every value in it went
// through the same index-value encoder as the index rows.
type Query struct {
	Type  string
	Where []Clause // all must hold (AND)
	Sort  []Sort   // empty: insertion order
	// Count is the page size; 0 returns no resources (with Total, a count only).
	Count  int
	Offset int
	// Snapshot restricts the search to resources that existed when the first
	// page was computed, so later pages neither repeat nor skip entries when
	// resources are created meanwhile. 0: no restriction; SearchResult.Snapshot
	// is the value to pass for the following pages.
	Snapshot int64
	Total    bool // compute SearchResult.Total
	Include  []Include
	// RevInclude lists references pointing at the matches whose sources are
	// added to the result.
	RevInclude []Include
	// IncludeLimit caps the number of included resources; 0 means no cap.
	IncludeLimit int
	// Visible are conditions (access control) that every resource the
	// query returns or looks through MUST satisfy: the matches, what
	// _include and _revinclude add, the targets of chains and the sources
	// of _has. They are part of the query itself, so that paging and
	// totals never see what they hide.
	Visible []Clause
}

// Clause holds alternatives: at least one must hold (OR).
type Clause []Cond

// Cond is one condition on a resource. The concrete types are below.
type Cond interface{ cond() }

// StringMatch is how a StringCond compares.
type StringMatch uint8

const (
	StringPrefix   StringMatch = iota // Norm starts with Value
	StringExact                       // Exact equals Value
	StringContains                    // Norm contains Value
)

// StringCond matches string rows. Ix lists the index forms to look up:
// for a prefix, IxNorm of rows whose Norm starts like Value (a superset,
// checked against Value); for :exact, IxExact. A row matches if it holds
// any of them: there is one form per blind-index key in use (two while
// the key rotates). Empty Ix means the index cannot help (a short prefix,
// :contains): candidates are checked one by one.
type StringCond struct {
	Param string
	Match StringMatch
	Value string
	Ix    []string
}

// TokenCond matches token rows. System nil means any system; a non-nil
// empty System means "no system". Code empty with a System means any code
// in that system. IxSystem and IxCode list the index forms, as for
// StringCond.Ix; IxSystem is nil exactly when System is.
type TokenCond struct {
	Param    string
	System   *string
	Code     string
	IxSystem []string
	IxCode   []string
}

// RefCond matches reference rows: a local target (Type may be empty for
// any type) or a URL.
type RefCond struct {
	Param string
	Type  string
	ID    string
	URL   string
}

// Prefix is a FHIR search comparison prefix.
type Prefix uint8

const (
	Eq Prefix = iota
	Ne
	Gt
	Lt
	Ge
	Le
	Sa
	Eb
	Ap
)

// DateCond compares date rows with the closed range [Lo, Hi] of the search
// value, following the prefix rules of the FHIR search specification.
type DateCond struct {
	Param  string
	Prefix Prefix
	Lo, Hi int64
}

// NumberCond compares number rows. Value is the search value; [Lo, Hi) is
// the range its precision implies (used by eq, ne, sa, eb and ap; gt, lt,
// ge and le compare with Value).
type NumberCond struct {
	Param  string
	Prefix Prefix
	Value  float64
	Lo, Hi float64
}

// QuantityCond is a NumberCond on quantity rows, restricted to a unit when
// System, Code or Unit is set (Code matches the code or the unit text when
// System is empty).
type QuantityCond struct {
	NumberCond
	System string
	Code   string
}

// URIMatch is how a URICond compares.
type URIMatch uint8

const (
	URIEqual URIMatch = iota
	URIAbove          // the stored uri is a prefix of the value
	URIBelow          // the value is a prefix of the stored uri
)

// URICond matches uri rows. Ix lists the index forms of Value for
// URIEqual, as for StringCond.Ix; it is empty for URIAbove and URIBelow,
// which are checked on candidates.
type URICond struct {
	Param string
	Match URIMatch
	Value string
	Ix    []string
}

// Kind names the index table of a parameter.
type Kind uint8

const (
	KindString Kind = iota + 1
	KindToken
	KindReference
	KindDate
	KindNumber
	KindQuantity
	KindURI
)

// MissingCond holds when the resource has (Missing=false) or has no
// (Missing=true) row for Param.
type MissingCond struct {
	Param   string
	Kind    Kind
	Missing bool
}

// NotCond holds when Cond holds for none of the resource's rows (FHIR :not).
type NotCond struct{ Cond Cond }

// ChainCond holds when a reference of Param points to a resource of one of
// Types that satisfies Where (FHIR chaining).
type ChainCond struct {
	Param string
	Types []string
	Where []Clause
}

// HasCond holds when a resource of Type whose reference Param points to
// this resource satisfies Where (FHIR _has, reverse chaining).
type HasCond struct {
	Type  string
	Param string
	Where []Clause
}

// IDCond holds for the listed logical ids.
type IDCond struct{ IDs []string }

// LastUpdatedCond compares meta.lastUpdated (microseconds) like DateCond.
type LastUpdatedCond struct {
	Prefix Prefix
	Lo, Hi int64
}

// CompositeCond holds when one composite value (rows sharing a Group)
// satisfies every part; each part names a component key as its Param.
type CompositeCond struct {
	Parts []Cond
}

// OwnerCond holds for resources in one of the Owners' patient
// compartments, or (Tenant) in none — of TenantTypes only, when set; Not
// negates it.
type OwnerCond struct {
	Owners      []string
	Tenant      bool
	TenantTypes []string
	Not         bool
}

// TypeCond holds for resources of one of Types; Not negates it.
type TypeCond struct {
	Types []string
	Not   bool
}

// NoneCond holds when none of Conds (index conditions) holds for the
// resource's rows: NotCond of several conditions at once.
type NoneCond struct{ Conds []Cond }

func (NoneCond) cond()        {}
func (OwnerCond) cond()       {}
func (TypeCond) cond()        {}
func (StringCond) cond()      {}
func (TokenCond) cond()       {}
func (RefCond) cond()         {}
func (DateCond) cond()        {}
func (NumberCond) cond()      {}
func (QuantityCond) cond()    {}
func (URICond) cond()         {}
func (MissingCond) cond()     {}
func (NotCond) cond()         {}
func (ChainCond) cond()       {}
func (HasCond) cond()         {}
func (IDCond) cond()          {}
func (LastUpdatedCond) cond() {}
func (CompositeCond) cond()   {}

// Sort is one sort key. Param is a search parameter key of Kind, or the
// special keys SortID and SortLastUpdated.
type Sort struct {
	Param string
	Kind  Kind
	Desc  bool
}

// Special sort keys.
const (
	SortID          = "_id"
	SortLastUpdated = "_lastUpdated"
)

// Include asks for the targets (or, in RevInclude, the sources) of the
// references of Param held by resources of SourceType. TargetType, when
// set, restricts the targets. Iterate applies the include to included
// resources too.
type Include struct {
	SourceType string
	Param      string
	TargetType string
	Iterate    bool
}

// SearchResult is one page of matches.
type SearchResult struct {
	Matches  []*Resource
	Included []*Resource
	Total    int // -1 when not computed
	Snapshot int64
	// More reports whether another page follows.
	More bool
}
