package access

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strings"
	"time"
)

// DefaultPolicy is the policy file a server uses when none is configured.
//
//go:embed default-policy.json
var DefaultPolicy []byte

// MaxPolicySize bounds a policy file.
const MaxPolicySize = 1 << 20

// File is a policy file as an administrator writes it (JSON). ParsePolicy
// checks it and turns it into Rules.
type File struct {
	Comment string `json:"comment,omitempty"`
	Consent struct {
		// Default is what happens to a patient's data when no active
		// privacy Consent of the patient decides: "permit" (opt-out: a
		// Consent may deny) or "deny" (opt-in: a Consent must permit).
		Default string `json:"default"`
	} `json:"consent"`
	BreakGlass struct {
		Minutes int `json:"minutes"` // how long a break-the-glass grant lasts
	} `json:"breakGlass"`
	Relationship struct {
		// EncounterDays: an Encounter's participant keeps the relationship
		// for this many days after the Encounter ends.
		EncounterDays int `json:"encounterDays"`
		// Organizations are organization-wide rules: users with one of
		// Roles reach every patient whose managingOrganization is
		// Organization.
		Organizations []OrgRule `json:"organizations"`
	} `json:"relationship"`
	Labels struct {
		// Alert lists the labels whose patients raise an alert when their
		// data is accessed (a VIP: V).
		Alert []string `json:"alert"`
	} `json:"labels"`
	// Directory lists the resource types in no patient compartment that
	// principals limited by patient (related, own, patient/ scopes) may
	// reach when their role grants them: the directory and definitions.
	// Other resources in no compartment (a Task, a Device, anything whose
	// patient reference does not resolve) are for roles that reach every
	// patient.
	Directory []string            `json:"directory"`
	Roles     map[string]RoleFile `json:"roles"`
}

// OrgRule is an organization-wide relationship rule: users with one of
// Roles reach the patients the Organization manages; with Members, only
// users who belong to that organization.
type OrgRule struct {
	Organization string   `json:"organization"` // "Organization/ID"
	Roles        []string `json:"roles"`
	Members      bool     `json:"members,omitempty"`
}

// RoleFile is one role of a policy file.
type RoleFile struct {
	Description string `json:"description,omitempty"`
	// Grants maps resource types ("*" for all) to SMART v2 permissions
	// ("cruds" or a part of it, in that order).
	Grants map[string]string `json:"grants"`
	// Patients is how far the role reaches into patient compartments:
	// "all", "related" (a treatment relationship), "own" (the patient's
	// own) or "none".
	Patients   string   `json:"patients"`
	BreakGlass bool     `json:"breakGlass,omitempty"`
	Labels     []string `json:"labels,omitempty"` // restricted labels it may see ("*": all)
	Audit      bool     `json:"audit,omitempty"`  // audit events, access reports, alerts
	Administer bool     `json:"administer,omitempty"`
	// ConsentExempt: patients' privacy Consents do not limit this role
	// (a service the law exempts, such as public-health reporting; the
	// default policy exempts no one).
	ConsentExempt bool `json:"consentExempt,omitempty"`
	// Purposes are the purposes of use its users may state with the
	// X-Purpose-Of-Use header besides Purpose (any other: refused).
	Purposes []string `json:"purposes,omitempty"`
	// Purpose is the purpose of use (a v3-ActReason code such as TREAT)
	// of the role's requests that state none; consents may depend on it.
	Purpose string `json:"purpose,omitempty"`
}

// Patient reach of a role.
const (
	PatientsAll     = "all"
	PatientsRelated = "related"
	PatientsOwn     = "own"
	PatientsNone    = "none"
)

// Rules is a checked policy, ready to decide. It is immutable.
type Rules struct {
	consentDeny   bool // opt-in: patient data needs a permitting Consent
	glass         time.Duration
	encounterDays int
	orgRules      []OrgRule
	alert         []string
	directory     []string
	roles         map[string]*role
	digest        string // names the policy in audit records
}

type role struct {
	name       string
	grants     map[string]string // type or "*" → perms
	patients   string
	breakGlass bool
	labels     []string
	audit      bool
	administer bool
	purpose    string
	purposes   []string
	exempt     bool // from consent
}

// Restricted security labels: each needs an explicit permission (a role's
// labels). Confidentiality R and V (HL7 v3-Confidentiality) and the
// sensitivity codes of HL7 v3-ActCode.
var restrictedLabels = map[string]string{
	"R":   SystemConfidentiality,
	"V":   SystemConfidentiality,
	"HIV": SystemActCode,
	"PSY": SystemActCode,
	"SUD": SystemActCode, // substance use disorder, 42 CFR Part 2
	"ETH": SystemActCode, // substance abuse (alcohol, drugs), 42 CFR Part 2
}

// Code systems of security labels.
const (
	SystemConfidentiality = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
	SystemActCode         = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
)

// Label is a security label (meta.security coding).
type Label struct{ System, Code string }

// RestrictedLabels returns the labels that need explicit permission, in a
// stable order.
func RestrictedLabels() []Label {
	out := make([]Label, 0, len(restrictedLabels))
	for code, sys := range restrictedLabels {
		out = append(out, Label{System: sys, Code: code})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// IsRestricted reports whether a label needs explicit permission.
func IsRestricted(l Label) bool { return restricted(l) != "" }

// restricted returns the code of a restricted label, or "".
//
// The code decides, whatever the system (a legacy system URL, none): a
// label is hidden by what it says, and the search index matches codes
// alike (the safe direction).
func restricted(l Label) string {
	if _, ok := restrictedLabels[l.Code]; ok {
		return l.Code
	}
	return ""
}

// ParsePolicy checks a policy file. Every error names what is wrong; an
// unknown field is an error (a misspelt setting must not silently widen
// or narrow access).
func ParsePolicy(data []byte) (*Rules, error) {
	if len(data) > MaxPolicySize {
		return nil, fmt.Errorf("policy: larger than %d bytes", MaxPolicySize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("policy: the file is empty")
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if dec.More() {
		return nil, errors.New("policy: trailing data after the JSON object")
	}
	r := &Rules{roles: make(map[string]*role, len(f.Roles)), encounterDays: f.Relationship.EncounterDays}
	switch f.Consent.Default {
	case "permit", "":
	case "deny":
		r.consentDeny = true
	default:
		return nil, fmt.Errorf("policy: consent.default must be \"permit\" or \"deny\", not %q", f.Consent.Default)
	}
	if f.BreakGlass.Minutes < 0 || f.BreakGlass.Minutes > 24*60 {
		return nil, errors.New("policy: breakGlass.minutes must be between 0 (no break-the-glass) and 1440")
	}
	r.glass = time.Duration(f.BreakGlass.Minutes) * time.Minute
	if r.encounterDays < 0 || r.encounterDays > 3650 {
		return nil, errors.New("policy: relationship.encounterDays must be between 0 and 3650")
	}
	for i, o := range f.Relationship.Organizations {
		if t, id, ok := strings.Cut(o.Organization, "/"); !ok || t != "Organization" || id == "" || strings.Contains(id, "/") {
			return nil, fmt.Errorf("policy: relationship.organizations[%d].organization must be Organization/ID", i)
		}
		if len(o.Roles) == 0 {
			return nil, fmt.Errorf("policy: relationship.organizations[%d] names no roles", i)
		}
	}
	r.orgRules = f.Relationship.Organizations
	for _, l := range f.Labels.Alert {
		if _, ok := restrictedLabels[l]; !ok {
			return nil, fmt.Errorf("policy: labels.alert: %q is not a restricted label (%s)", l, labelCodes())
		}
	}
	r.alert = f.Labels.Alert
	for _, t := range f.Directory {
		if t == "*" || !validType(t) {
			return nil, fmt.Errorf("policy: directory: %q is not a resource type", t)
		}
	}
	r.directory = f.Directory
	if len(f.Roles) == 0 {
		return nil, errors.New("policy: no roles")
	}
	for name, rf := range f.Roles {
		ro := &role{name: name, grants: make(map[string]string, len(rf.Grants)), patients: rf.Patients,
			breakGlass: rf.BreakGlass, labels: rf.Labels, audit: rf.Audit, administer: rf.Administer, purpose: rf.Purpose, purposes: rf.Purposes, exempt: rf.ConsentExempt}
		for typ, perms := range rf.Grants {
			if !validType(typ) {
				return nil, fmt.Errorf("policy: role %s: %q is not a resource type", name, typ)
			}
			if !canonicalPerms(perms) {
				return nil, fmt.Errorf("policy: role %s: grant %q for %s must be letters of \"cruds\" in that order", name, perms, typ)
			}
			ro.grants[typ] = perms
		}
		switch rf.Patients {
		case PatientsAll, PatientsRelated, PatientsOwn, PatientsNone:
		case "":
			ro.patients = PatientsNone
		default:
			return nil, fmt.Errorf("policy: role %s: patients must be all, related, own or none, not %q", name, rf.Patients)
		}
		for _, l := range rf.Labels {
			if _, ok := restrictedLabels[l]; !ok && l != "*" {
				return nil, fmt.Errorf("policy: role %s: label %q is not a restricted label (%s, or *)", name, l, labelCodes())
			}
		}
		if rf.BreakGlass && ro.patients != PatientsRelated {
			return nil, fmt.Errorf("policy: role %s: breakGlass applies to roles whose patients are \"related\"", name)
		}
		r.roles[name] = ro
	}
	canon, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	r.digest = digest(canon)
	return r, nil
}

func labelCodes() string {
	codes := make([]string, 0, len(restrictedLabels))
	for c := range restrictedLabels {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return strings.Join(codes, ", ")
}

// digest is a short, stable name of a policy's content (FNV-1a 64: an
// identifier in audit records, not a security property).
func digest(b []byte) string {
	h := fnv.New64a()
	h.Write(b)
	return fmt.Sprintf("%016x", h.Sum64())
}

// Digest names the policy's content (it changes when the policy does).
func (r *Rules) Digest() string { return r.digest }

// BreakGlassFor is how long a break-the-glass grant lasts (0: none).
func (r *Rules) BreakGlassFor() time.Duration { return r.glass }

// EncounterWindow is how long after an Encounter its participants keep
// their relationship with the patient.
func (r *Rules) EncounterWindow() time.Duration {
	return time.Duration(r.encounterDays) * 24 * time.Hour
}

// OrganizationRules returns the organization-wide rules that apply to a
// principal with these roles and organization (an id, or ""): the
// organizations whose patients it reaches.
func (r *Rules) OrganizationRules(roles []string, organization string) []string {
	var out []string
	for _, o := range r.orgRules {
		if o.Members && o.Organization != "Organization/"+organization {
			continue
		}
		if slices.ContainsFunc(o.Roles, func(x string) bool { return slices.Contains(roles, x) }) {
			out = append(out, o.Organization)
		}
	}
	return out
}
