package access

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Reach is how far an interaction the policy allowed on a resource type
// reaches into the data: which patient compartments, which security
// labels, under which constraints. The engine turns it, with the Facts it
// gathers, into a Filter for searches (pushed into the store's query) and
// a Verdict for each resource it reads or writes.
type Reach struct {
	Patients string // PatientsAll, PatientsRelated or PatientsNone
	// Only, when set, limits the reach to this patient's compartment (a
	// patient's own record; the launch patient of patient/ scopes).
	Only string
	// Tenant: every resource in no patient compartment is reachable (a
	// reach of every patient); otherwise only those of the Directory
	// types (Practitioner, Organization …).
	Tenant    bool
	Directory []string
	// BreakGlass, when not zero, is how long a break-the-glass grant
	// lasts for this principal (a relationship role).
	BreakGlass time.Duration
	Labels     []string // restricted labels it may see ("*": all)
	Alert      []string // labels whose patients raise an alert when reached
	// Constraints are SMART v2 query constraints of the granting scopes:
	// every resource must match one of them (empty: none).
	Constraints []string
	// Consent: the patients' privacy Consents apply (ConsentDeny: a
	// patient without one that permits is not reachable).
	Consent, ConsentDeny bool
	// Practitioner is "Practitioner/ID" from the principal's fhirUser
	// (relationships, consent actors); Self the principal's own patient
	// id (a patient is never kept from their own record by consent).
	Practitioner, Self string
	Organization       string // "Organization/ID" of the user's employer, or ""
	Purpose            string // purpose of use (v3-ActReason)
	// Organizations are the organizations whose patients an
	// organization-wide rule relates the principal to; EncounterWindow how
	// long an Encounter's participants stay related after it ends.
	Organizations   []string
	EncounterWindow time.Duration
}

// Decide implements Policy.
func (r *Rules) Decide(_ context.Context, req *Request) Decision {
	d := r.decide(req)
	if d.Reason != "" {
		d.Reason += " [policy " + r.digest[:8] + "]"
	}
	return d
}

func (r *Rules) decide(req *Request) Decision {
	p := req.Principal
	if p == nil {
		return Decision{Reason: "no principal"}
	}
	if p.Kind == KindLocal {
		return Decision{Allow: true, Reason: "local: the hestia command on the server's own data",
			Reach: &Reach{Patients: PatientsAll, Tenant: true, Labels: []string{"*"}}}
	}
	switch req.Interaction {
	case AuditProof, Capabilities:
		return Decision{Allow: true, Reason: "public"}
	case UserAdministration:
		if p.Kind == KindUser && r.hasFlag(p.Roles, func(ro *role) bool { return ro.administer }) && slices.Contains(p.Scopes, AdminScope) {
			return Decision{Allow: true, Reason: "administrator with scope " + AdminScope}
		}
		return Decision{Reason: "account administration needs an administrator's token with scope " + AdminScope}
	case AuditSearch, AuditExport:
		if r.auditor(p) {
			return Decision{Allow: true, Reason: "auditor"}
		}
		return Decision{Reason: "audit events are for auditors (a role with audit, and scope user/AuditEvent.rs)"}
	case AccessReport:
		if r.auditor(p) {
			return Decision{Allow: true, Reason: "auditor"}
		}
		if own := ownPatient(p); own != "" && own == req.ID && slices.Contains(p.Roles, "patient") && scopeGrants(p, "Patient", 'r') != nil {
			return Decision{Allow: true, Reason: "the patient's own access report"}
		}
		return Decision{Reason: "an access report is for the patient it is about, and for auditors"}
	case Erase, KeyRotation, Reindex, Import, Configure:
		return Decision{Reason: string(req.Interaction) + " is for the hestia command on the server's own data"}
	}
	roles := p.Roles
	switch p.Kind {
	case KindService:
		roles = []string{"service"}
	case KindUser:
	default:
		return Decision{Reason: "not authenticated"}
	}
	switch req.Interaction {
	case Batch, Transaction:
		if len(p.Scopes) > 0 {
			return Decision{Allow: true, Reason: "entries are decided one by one"}
		}
		return Decision{Reason: "no scope"}
	}
	perm, typ := permissionOf(req.Interaction), req.ResourceType
	if req.Interaction == HistorySystem {
		typ = "*"
	}
	if perm == 0 || typ == "" {
		return Decision{Reason: string(req.Interaction) + " is not granted by this policy"}
	}
	// Role permissions. Of the user's roles that grant the interaction,
	// one decides: the one that reaches furthest (patients, then labels,
	// then name, for a stable choice). Attributes of several roles are
	// never mixed (a relationship role's labels with another role's reach
	// to every patient would allow what neither role does).
	var chosen *role
	for _, name := range roles {
		ro := r.roles[name]
		if ro == nil || !ro.grant(typ, perm) {
			continue
		}
		if chosen == nil || wider(ro, chosen, p) {
			chosen = ro
		}
	}
	if chosen == nil {
		return Decision{Reason: "no role grants " + string(perm) + " on " + typ}
	}
	reach := &Reach{Alert: r.alert, ConsentDeny: r.consentDeny, Purpose: chosen.purpose,
		Labels: chosen.labels, Organizations: r.OrganizationRules([]string{chosen.name}, p.Organization),
		EncounterWindow: r.EncounterWindow()}
	exempt := chosen.exempt
	reach.Patients = chosen.patients
	if chosen.patients == PatientsOwn {
		reach.Patients = PatientsNone
		if own := ownPatient(p); own != "" {
			reach.Patients, reach.Only, reach.Self = PatientsAll, own, own
		}
	}
	if chosen.breakGlass && r.glass > 0 {
		reach.BreakGlass = r.glass
	}
	if p.Purpose != "" {
		// A stated purpose must be one the role may state: a consent
		// limited to a purpose must not be dodged by naming another.
		if p.Purpose != chosen.purpose && !slices.Contains(chosen.purposes, p.Purpose) {
			return Decision{Reason: "purpose of use " + p.Purpose + " is not one role " + chosen.name + " may state"}
		}
		reach.Purpose = p.Purpose
	}
	// ∩ SMART scopes. user/ (or system/) scopes reach what the role
	// does; patient/ scopes only the launch patient. When both grant, the
	// user/ scopes decide alone (their constraints included): the union
	// of the two cannot be one reach, and the user/ one is the narrower
	// reading for everything but the launch patient.
	scopes := scopeGrants(p, typ, perm)
	if len(scopes) == 0 {
		return Decision{Reason: "no scope grants " + string(perm) + " on " + typ}
	}
	wide := slices.DeleteFunc(slices.Clone(scopes), func(s Scope) bool { return s.Context == "patient" })
	if len(wide) > 0 {
		scopes = wide
	}
	for _, s := range scopes {
		if s.Query == "" {
			reach.Constraints = nil // an unconstrained scope grants it
			break
		}
		reach.Constraints = append(reach.Constraints, s.Query)
	}
	if len(wide) == 0 {
		// patient/ scopes reach the launch patient's compartment only.
		if p.Patient == "" {
			return Decision{Reason: "patient/ scopes without a patient in the launch context"}
		}
		if reach.Only != "" && reach.Only != p.Patient {
			return Decision{Reason: "the launch patient is not the user's own record"}
		}
		reach.Only = p.Patient
	}
	if p.Kind == KindUser {
		reach.Practitioner = practitionerOf(p.FHIRUser)
		if p.Organization != "" {
			reach.Organization = "Organization/" + p.Organization
		}
		if reach.Self == "" && slices.Contains(p.Roles, "patient") {
			reach.Self = ownPatient(p)
		}
	}
	reach.Consent = !exempt
	reach.Tenant = reach.Patients == PatientsAll && reach.Only == ""
	reach.Directory = r.directory
	reason := "role " + chosen.name + " and scope " + scopes[0].String()
	return Decision{Allow: true, Reason: reason, Reach: reach}
}

// wider reports whether role a reaches further than role b for p.
func wider(a, b *role, p *Principal) bool {
	mode := func(ro *role) string {
		if ro.patients == PatientsOwn {
			if ownPatient(p) == "" {
				return PatientsNone
			}
			return PatientsRelated // one patient: between related and none
		}
		return ro.patients
	}
	if ma, mb := mode(a), mode(b); ma != mb {
		return better(ma, mb)
	}
	la, lb := len(a.labels), len(b.labels)
	if slices.Contains(a.labels, "*") {
		la = 1 << 10
	}
	if slices.Contains(b.labels, "*") {
		lb = 1 << 10
	}
	if la != lb {
		return la > lb
	}
	return a.name < b.name
}

// better reports whether reach mode a is wider than b.
func better(a, b string) bool {
	rank := func(m string) int {
		switch m {
		case PatientsAll:
			return 3
		case PatientsRelated:
			return 2
		case PatientsNone:
			return 1
		}
		return 0
	}
	return rank(a) > rank(b)
}

func (ro *role) grant(typ string, perm rune) bool {
	if ps, ok := ro.grants[typ]; ok && strings.ContainsRune(ps, perm) {
		return true
	}
	ps, ok := ro.grants["*"]
	return ok && strings.ContainsRune(ps, perm)
}

func (r *Rules) hasFlag(roles []string, f func(*role) bool) bool {
	for _, name := range roles {
		if ro := r.roles[name]; ro != nil && f(ro) {
			return true
		}
	}
	return false
}

func (r *Rules) auditor(p *Principal) bool {
	if p.Kind != KindUser || !r.hasFlag(p.Roles, func(ro *role) bool { return ro.audit }) {
		return false
	}
	for _, s := range p.Scopes {
		if sc, ok := ParseScope(s); ok && sc.Context == "user" && (sc.Type == "AuditEvent" || sc.Type == "*") && strings.ContainsRune(sc.Perms, 'r') && sc.Query == "" {
			return true
		}
	}
	return false
}

// scopeGrants returns the principal's scopes that grant perm on typ in its
// contexts: system/ for a service; user/ and patient/ for a user.
func scopeGrants(p *Principal, typ string, perm rune) []Scope {
	var out []Scope
	for _, s := range p.Scopes {
		sc, ok := ParseScope(s)
		if !ok {
			continue
		}
		switch {
		case p.Kind == KindService && sc.Context == "system":
		case p.Kind == KindUser && (sc.Context == "user" || sc.Context == "patient"):
		default:
			continue
		}
		if (sc.Type == "*" || sc.Type == typ) && strings.ContainsRune(sc.Perms, perm) {
			out = append(out, sc)
		}
	}
	return out
}

// ownPatient is the patient id of a patient's own record: the token's
// patient, else the fhirUser when it is a Patient.
func ownPatient(p *Principal) string {
	if !slices.Contains(p.Roles, "patient") {
		return ""
	}
	if p.Patient != "" {
		return p.Patient
	}
	if t, id := refOf(p.FHIRUser); t == "Patient" {
		return id
	}
	return ""
}

func practitionerOf(fhirUser string) string {
	if t, id := refOf(fhirUser); t == "Practitioner" {
		return "Practitioner/" + id
	}
	return ""
}

// refOf splits the last two segments of a reference or URL.
func refOf(ref string) (typ, id string) {
	ref = strings.TrimSuffix(ref, "/")
	i := strings.LastIndexByte(ref, '/')
	if i <= 0 {
		return "", ""
	}
	id = ref[i+1:]
	rest := ref[:i]
	typ = rest[strings.LastIndexByte(rest, '/')+1:]
	return typ, id
}

var _ Policy = (*Rules)(nil)
