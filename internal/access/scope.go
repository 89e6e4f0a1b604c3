package access

import (
	"strings"
)

// Scope is a SMART on FHIR resource scope, v1 (patient/Observation.read)
// or v2 (patient/Observation.rs?category=laboratory), in canonical form.
type Scope struct {
	Context string // "patient", "user" or "system"
	Type    string // a resource type, or "*"
	Perms   string // a subsequence of "cruds"
	Query   string // a v2 constraint (the part after "?"), or ""
}

// ParseScope parses a SMART resource scope; ok is false for anything else
// (openid, launch/patient, offline_access …).
func ParseScope(s string) (sc Scope, ok bool) {
	ctx, rest, found := strings.Cut(s, "/")
	if !found || (ctx != "patient" && ctx != "user" && ctx != "system") {
		return sc, false
	}
	rest, sc.Query, _ = strings.Cut(rest, "?")
	typ, perms, found := strings.Cut(rest, ".")
	if !found || typ == "" || !validType(typ) {
		return sc, false
	}
	switch perms {
	case "read":
		perms = "rs"
	case "write":
		perms = "cud"
	case "*":
		perms = "cruds"
	default:
		if !canonicalPerms(perms) {
			return sc, false
		}
	}
	if sc.Query != "" && strings.ContainsAny(sc.Query, " \t\n") {
		return sc, false
	}
	sc.Context, sc.Type, sc.Perms = ctx, typ, perms
	return sc, true
}

func validType(t string) bool {
	if t == "*" {
		return true
	}
	for i, r := range t {
		switch {
		case r >= 'A' && r <= 'Z':
		case (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// canonicalPerms reports whether p is a non-empty subsequence of "cruds"
// (each letter at most once, in that order), as SMART v2 requires.
func canonicalPerms(p string) bool {
	if p == "" {
		return false
	}
	const order = "cruds"
	i := 0
	for _, r := range p {
		j := strings.IndexRune(order[i:], r)
		if j < 0 {
			return false
		}
		i += j + 1
	}
	return true
}

// String is the scope in v2 syntax.
func (s Scope) String() string {
	out := s.Context + "/" + s.Type + "." + s.Perms
	if s.Query != "" {
		out += "?" + s.Query
	}
	return out
}

// Covers reports whether s grants everything other grants: the same
// context, the same type or "*", at least its permissions, and no
// constraint or the same one.
func (s Scope) Covers(other Scope) bool {
	if s.Context != other.Context || (s.Type != "*" && s.Type != other.Type) {
		return false
	}
	if s.Query != "" && s.Query != other.Query {
		return false
	}
	for _, r := range other.Perms {
		if !strings.ContainsRune(s.Perms, r) {
			return false
		}
	}
	return true
}

// AdminScope is the scope of an app through which an administrator manages
// accounts (the admin API); it grants nothing to other roles.
const AdminScope = "hestia.admin"

// permissionOf maps an interaction to its SMART v2 permission letter (0
// for interactions scopes do not grant).
func permissionOf(in Interaction) rune {
	switch in {
	case Create:
		return 'c'
	case Read, VRead, HistoryInst:
		return 'r'
	case Update:
		return 'u'
	case Delete:
		return 'd'
	case SearchType, HistoryType, HistorySystem, ConditionalHit:
		return 's'
	}
	return 0
}
