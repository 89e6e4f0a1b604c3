package access

import (
	"context"
	"slices"
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

// ClinicalRoles are the roles whose user/ scopes reach data under the
// scope policy (clinicians and nurses); the other roles' permissions come
// with the access-control policy.
var ClinicalRoles = []string{"clinician", "nurse"}

// AdminScope is the scope of an app through which an administrator manages
// accounts (the admin API); it grants nothing to other roles.
const AdminScope = "hestia.admin"

// Scopes is the policy of a server with authentication and no role rules
// yet: a token's SMART scopes decide. It allows
//   - the hestia command on the server's own data (local) everything;
//   - anyone the public audit-log proofs and the capability statement;
//   - an administrator (role admin) account administration through an app
//     holding AdminScope;
//   - a service its system/ scopes and a user with a clinical role
//     (ClinicalRoles) its user/ scopes, by
//     resource type and permission (c create, r read/vread/instance
//     history, u update, d delete, s search/type history); batches and
//     transactions to any principal with a scope, as each entry is decided
//     on its own;
//
// and refuses everything else: audit events and administration to anyone
// but local, patient/ scopes (they need the compartment rules of the
// access-control policy), and scopes with a v2 query constraint (they need
// the constraint pushed into the search, also to come).
type Scopes struct{}

// Decide implements Policy.
func (Scopes) Decide(_ context.Context, r *Request) Decision {
	p := r.Principal
	if p == nil {
		return Decision{Allow: false, Reason: "no principal"}
	}
	if p.Kind == KindLocal {
		return Decision{Allow: true, Reason: "local: the hestia command on the server's own data"}
	}
	switch r.Interaction {
	case AuditProof, Capabilities:
		return Decision{Allow: true, Reason: "public"}
	case UserAdministration:
		if p.Kind == KindUser && slices.Contains(p.Roles, "admin") && slices.Contains(p.Scopes, AdminScope) {
			return Decision{Allow: true, Reason: "administrator with scope " + AdminScope}
		}
		return Decision{Allow: false, Reason: "account administration needs an administrator's token with scope " + AdminScope}
	}
	var want string // the scope context of the principal
	switch p.Kind {
	case KindService:
		want = "system"
	case KindUser:
		want = "user"
		if !slices.ContainsFunc(p.Roles, func(r string) bool { return slices.Contains(ClinicalRoles, r) }) {
			// Until role permissions exist, only clinical roles reach
			// data: a patient's or an administrator's user/ scopes grant
			// nothing.
			return Decision{Allow: false, Reason: "no clinical role: user/ scopes grant nothing to this account"}
		}
	default:
		return Decision{Allow: false, Reason: "not authenticated"}
	}
	switch r.Interaction {
	case Batch, Transaction:
		if len(p.Scopes) > 0 {
			return Decision{Allow: true, Reason: "entries are decided one by one"}
		}
		return Decision{Allow: false, Reason: "no scope"}
	}
	perm, typ := permissionOf(r.Interaction), r.ResourceType
	if r.Interaction == HistorySystem {
		typ = "*"
	}
	if perm == 0 || typ == "" {
		return Decision{Allow: false, Reason: string(r.Interaction) + " is not granted by scopes"}
	}
	for _, s := range p.Scopes {
		sc, ok := ParseScope(s)
		if !ok || sc.Context != want || sc.Query != "" {
			continue
		}
		if (sc.Type == "*" || sc.Type == typ) && strings.ContainsRune(sc.Perms, perm) {
			return Decision{Allow: true, Reason: "scope " + s}
		}
	}
	return Decision{Allow: false, Reason: "no scope grants " + string(perm) + " on " + typ}
}

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

var _ Policy = Scopes{}
