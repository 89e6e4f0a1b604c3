package access

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	for in, want := range map[string]string{
		"patient/Observation.read":                   "patient/Observation.rs",
		"user/*.write":                               "user/*.cud",
		"system/*.*":                                 "system/*.cruds",
		"patient/Observation.rs":                     "patient/Observation.rs",
		"user/Patient.cruds":                         "user/Patient.cruds",
		"patient/Observation.rs?category=laboratory": "patient/Observation.rs?category=laboratory",
		"system/Patient.d":                           "system/Patient.d",
	} {
		sc, ok := ParseScope(in)
		if !ok || sc.String() != want {
			t.Errorf("ParseScope(%q) = %v %v, want %s", in, sc, ok, want)
		}
	}
	for _, bad := range []string{"openid", "launch/patient", "patient/Observation", "patient/Observation.sr", "patient/Observation.rr",
		"patient/Observation.x", "group/Patient.rs", "patient/.rs", "patient/observation.rs", "patient/Obs-x.rs", "patient/Observation.", "system/*.rs?a b"} {
		if sc, ok := ParseScope(bad); ok {
			t.Errorf("ParseScope(%q) accepted: %v", bad, sc)
		}
	}
}

func TestScopeCovers(t *testing.T) {
	cases := []struct {
		have, want string
		ok         bool
	}{
		{"system/*.rs", "system/Observation.rs", true},
		{"system/*.rs", "system/Observation.read", true},
		{"system/*.rs", "system/Observation.r", true},
		{"system/*.rs", "system/Observation.cruds", false},
		{"system/Patient.rs", "system/Observation.rs", false},
		{"user/*.cruds", "system/Patient.r", false},
		{"patient/Observation.rs", "patient/Observation.rs?category=laboratory", true},
		{"patient/Observation.rs?category=laboratory", "patient/Observation.rs", false},
	}
	for _, c := range cases {
		h, _ := ParseScope(c.have)
		w, _ := ParseScope(c.want)
		if got := h.Covers(w); got != c.ok {
			t.Errorf("%s covers %s: %v, want %v", c.have, c.want, got, c.ok)
		}
	}
}

// Scopes in the default policy: a service's system/ scopes decide by type
// and permission; a user's scopes grant only what a role allows; a
// patient account without its patient reaches nothing; audit events stay
// with auditors; v2 constraints are applied to the data.
func TestScopesInTheDefaultPolicy(t *testing.T) {
	svc := func(scopes ...string) *Principal {
		return &Principal{ID: "c1", Kind: KindService, Client: "c1", Scopes: scopes}
	}
	cases := []struct {
		p     *Principal
		in    Interaction
		typ   string
		allow bool
	}{
		{svc("system/Patient.rs"), Read, "Patient", true},
		{svc("system/Patient.rs"), SearchType, "Patient", true},
		{svc("system/Patient.rs"), HistoryInst, "Patient", true},
		{svc("system/Patient.rs"), Create, "Patient", false},
		{svc("system/Patient.rs"), Read, "Observation", false},
		{svc("system/Patient.read"), VRead, "Patient", true},
		{svc("system/*.cud"), Update, "Observation", true},
		{svc("system/*.cud"), Read, "Observation", false},
		{svc("system/*.s"), HistorySystem, "", true},
		{svc("system/Patient.s"), HistorySystem, "", false},
		{svc("system/*.cruds"), AuditSearch, "", false},
		{svc("system/*.cruds"), AccessReport, "Patient", false},
		{svc("system/*.cruds"), Import, "", false},
		{svc("system/*.cruds"), Erase, "Patient", false},
		{svc("patient/*.cruds"), Read, "Patient", false},
		{svc("user/*.cruds"), Read, "Patient", false},
		{svc("system/Observation.rs?category=laboratory"), Read, "Observation", true}, // the constraint applies to the data
		{svc("system/Patient.r"), Transaction, "", true},
		{svc(), Transaction, "", false},
		{&Principal{ID: "u", Kind: KindUser, Roles: []string{"nurse"}, Scopes: []string{"user/Patient.r"}}, Read, "Patient", true},
		{&Principal{ID: "u", Kind: KindUser, Roles: []string{"clinician"}, Scopes: []string{"system/Patient.r"}}, Read, "Patient", false},
		{&Principal{ID: "u", Kind: KindUser, Roles: []string{"patient"}, Scopes: []string{"user/*.cruds"}}, Read, "Patient", false},
		{&Principal{ID: "u", Kind: KindUser, Roles: []string{"admin"}, Scopes: []string{"user/*.cruds"}}, Read, "Patient", false},
		{&Principal{ID: "u", Kind: KindUser, Scopes: []string{"user/*.cruds"}}, Read, "Patient", false},
		{&Principal{ID: "u", Kind: KindUser, Roles: []string{"admin"}, Scopes: []string{AdminScope}}, UserAdministration, "", true},
		{&Principal{ID: "u", Kind: KindUser, Roles: []string{"clinician"}, Scopes: []string{AdminScope}}, UserAdministration, "", false},
		{svc(AdminScope), UserAdministration, "", false},
		{Anonymous(netip.Addr{}), Read, "Patient", false},
		{Anonymous(netip.Addr{}), AuditProof, "", true},
		{Anonymous(netip.Addr{}), Capabilities, "", true},
		{Local(), AuditSearch, "", true},
		{nil, Capabilities, "", false},
	}
	rules, err := ParsePolicy(DefaultPolicy)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		d := rules.Decide(context.Background(), &Request{Principal: c.p, Interaction: c.in, ResourceType: c.typ})
		// Allowed for a reach of no patient data is allowed for nothing
		// of a patient type.
		allow := d.Allow && (d.Reach == nil || d.Reach.Patients != PatientsNone || d.Reach.Only != "" || c.typ != "Patient")
		if allow != c.allow || d.Reason == "" {
			id := "<nil>"
			if c.p != nil {
				id = c.p.Kind + " " + strings.Join(c.p.Scopes, " ")
			}
			t.Errorf("%s %s %s: allow %v (%s), want %v", id, c.in, c.typ, d.Allow, d.Reason, c.allow)
		}
	}
}

// FuzzParseScope: any string parses without panicking, and a parsed
// scope prints back to a string that parses to the same scope and covers
// it.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"patient/Observation.read", "user/*.cruds", "system/Patient.rs?category=x", "openid", "a/b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, ok := ParseScope(s)
		if !ok {
			return
		}
		again, ok := ParseScope(sc.String())
		if !ok || again != sc || !sc.Covers(again) {
			t.Fatalf("%q parsed to %+v, which prints %q and parses to %+v (%v)", s, sc, sc.String(), again, ok)
		}
	})
}
