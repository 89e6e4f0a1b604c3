package access

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// PatientConsent is an active R4 Consent of scope patient-privacy, reduced to
// what the policy evaluates.
type PatientConsent struct {
	ID      string
	Patient string
	Root    Provision
}

// Provision is a Consent provision: a permit or deny rule with its
// conditions, and nested provisions (exceptions to it).
//
// Conditions on the request: Actors (references: Practitioner/ID,
// Organization/ID …), Purposes (v3-ActReason codes) and the period the
// rule is in force. Conditions on the data: Classes (resource types) and
// Labels (security labels). Codes: the provision names codes, data
// references or a data period, which the policy does not match one by
// one; it is applied to its whole classes (a deny hides more, a permit is
// not taken), documented in docs/access.md.
type Provision struct {
	Deny       bool
	Start, End time.Time // zero: open
	Actors     []string
	Purposes   []string
	Classes    []string
	Labels     []Label
	Codes      bool
	Nested     []Provision
}

// MaxProvisions bounds the provisions of one Consent (nested included).
const MaxProvisions = 100

// ParseConsent reads a Consent resource (already validated against R4)
// into a PatientConsent. It returns ok=false for a Consent the policy does not
// enforce: not active, not of scope patient-privacy, or without a patient.
func ParseConsent(id string, res map[string]any) (c *PatientConsent, ok bool, err error) {
	if s, _ := res["status"].(string); s != "active" {
		return nil, false, nil
	}
	if !hasCoding(res["scope"], "http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy") {
		return nil, false, nil
	}
	pat, _ := res["patient"].(map[string]any)
	ref, _ := pat["reference"].(string)
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	typ, pid := refOf(ref)
	if typ != "Patient" || pid == "" {
		return nil, false, nil
	}
	c = &PatientConsent{ID: id, Patient: pid}
	n := 0
	root, _ := res["provision"].(map[string]any)
	if root == nil {
		// No provision (a policy rule only, say OPTOUT): what it allows
		// is not stated in a form the policy reads, so it denies (fail
		// closed).
		c.Root = Provision{Deny: true}
		return c, true, nil
	}
	if c.Root, err = parseProvision(root, &n, 0); err != nil {
		return nil, false, err
	}
	return c, true, nil
}

func parseProvision(m map[string]any, n *int, depth int) (Provision, error) {
	var p Provision
	*n++
	if *n > MaxProvisions || depth > 5 {
		return p, errors.New("consent: too many or too deeply nested provisions")
	}
	switch t, _ := m["type"].(string); t {
	case "deny":
		p.Deny = true
	case "permit":
	default:
		// A provision without a type (allowed by R4 in nested ones)
		// inherits nothing we can enforce safely: treat it as a deny.
		p.Deny = true
	}
	if per, ok := m["period"].(map[string]any); ok {
		p.Start = parseTime(per["start"])
		p.End = parseTime(per["end"])
	}
	for _, a := range list(m["actor"]) {
		am, _ := a.(map[string]any)
		ref, _ := am["reference"].(map[string]any)
		s, _ := ref["reference"].(string)
		t, id := refOf(s)
		if t == "" || id == "" {
			// An actor we cannot name (an identifier only): matches no one
			// for a permit, everyone for a deny (fail closed).
			p.Actors = append(p.Actors, "?")
			continue
		}
		p.Actors = append(p.Actors, t+"/"+id)
	}
	for _, x := range list(m["purpose"]) {
		if cm, ok := x.(map[string]any); ok {
			if code, _ := cm["code"].(string); code != "" {
				p.Purposes = append(p.Purposes, code)
			}
		}
	}
	unreadable := false // a data condition the policy cannot match
	for _, x := range list(m["class"]) {
		cm, _ := x.(map[string]any)
		sys, _ := cm["system"].(string)
		code, _ := cm["code"].(string)
		if code == "" || (sys != "" && sys != "http://hl7.org/fhir/resource-types") {
			unreadable = true
			continue
		}
		p.Classes = append(p.Classes, code)
	}
	for _, x := range list(m["securityLabel"]) {
		cm, _ := x.(map[string]any)
		sys, _ := cm["system"].(string)
		code, _ := cm["code"].(string)
		if code == "" {
			unreadable = true
			continue
		}
		p.Labels = append(p.Labels, Label{System: sys, Code: code})
	}
	// Codes, data references and data periods are not matched one by
	// one: all three are handled as "codes" (see Provision).
	_, dataPeriod := m["dataPeriod"]
	p.Codes = unreadable || len(list(m["code"])) > 0 || len(list(m["data"])) > 0 || dataPeriod
	for _, x := range list(m["provision"]) {
		nm, ok := x.(map[string]any)
		if !ok {
			continue
		}
		np, err := parseProvision(nm, n, depth+1)
		if err != nil {
			return p, err
		}
		p.Nested = append(p.Nested, np)
	}
	return p, nil
}

func list(v any) []any { l, _ := v.([]any); return l }

func parseTime(v any) time.Time {
	s, _ := v.(string)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

func hasCoding(v any, system, code string) bool {
	m, _ := v.(map[string]any)
	for _, x := range list(m["coding"]) {
		cm, _ := x.(map[string]any)
		if s, _ := cm["system"].(string); s == system {
			if c, _ := cm["code"].(string); c == code {
				return true
			}
		}
	}
	return false
}

// consentRule evaluates the patient's consents for this principal now:
// the rules its data is seen under. Within a consent a nested provision
// overrides its parent, and among siblings and across consents a deny wins.
// A provision without conditions on the data sets the patient's base
// decision; one with them (classes, labels, codes) is an exception to it.
// With a base of permit, deny exceptions hide what they name; with a base of
// deny, permit exceptions by class open those classes (a permit limited to
// labels or codes is not taken), and deny exceptions still hide.
func (r *Reach) consentRule(f *Facts, patient string) PatientRule {
	rule := PatientRule{Patient: patient}
	var permits []string
	base := 0 // 0 undecided, 1 permit, -1 deny
	for _, c := range f.Consents[patient] {
		if !r.applies(&c.Root, f.Now) {
			continue
		}
		rule.consent = strings.TrimPrefix(rule.consent+","+c.ID, ",")
		switch b := r.provisionBase(&c.Root, f.Now, &rule, &permits); {
		case b < 0:
			base = -1
		case b > 0 && base == 0:
			base = 1
		}
	}
	if base == 0 {
		base = 1
		if r.ConsentDeny {
			base = -1
		}
	}
	if base < 0 {
		if permits == nil {
			rule.hidden = true
		}
		rule.Only = permits
	}
	return rule
}

// provisionBase walks a provision that applies: it returns its base
// decision (0 when it has conditions on the data) as overridden by its
// nested provisions, and adds its exceptions to rule and permits.
func (r *Reach) provisionBase(p *Provision, now time.Time, rule *PatientRule, permits *[]string) int {
	b := 0
	if len(p.Classes) == 0 && len(p.Labels) == 0 && !p.Codes {
		b = 1
		if p.Deny {
			b = -1
		}
	} else if p.Deny {
		// Codes cannot be matched one by one: a provision naming codes
		// hides its whole classes (everything, without classes).
		if p.Codes && len(p.Classes) == 0 {
			b = -1
		} else {
			rule.Deny = append(rule.Deny, DenyRule{Types: p.Classes, Labels: p.Labels})
		}
	} else if len(p.Labels) == 0 && !p.Codes {
		if *permits == nil {
			*permits = []string{}
		}
		*permits = append(*permits, p.Classes...)
	}
	nested := 0
	for i := range p.Nested {
		n := &p.Nested[i]
		if !r.applies(n, now) {
			continue
		}
		switch nb := r.provisionBase(n, now, rule, permits); {
		case nb < 0:
			nested = -1
		case nb > 0 && nested == 0:
			nested = 1
		}
	}
	if nested != 0 {
		return nested
	}
	return b
}

// applies reports whether a provision applies to this request now.
func (r *Reach) applies(p *Provision, now time.Time) bool {
	return r.inForce(p, now) && r.actorMatches(p)
}

// ConsentLimits reports whether the patient's consents limit this
// principal in any way (hide anything of the patient from it).
func (r *Reach) ConsentLimits(f *Facts, patient string) bool {
	if !r.Consent || patient == r.Self {
		return false
	}
	// Whatever purpose the request states: a provision limited to any
	// purpose counts (a purpose must not open the way to lifting it).
	whatever := *r
	whatever.Purpose = ""
	rule := whatever.consentRule(f, patient)
	return rule.hidden || rule.Only != nil || len(rule.Deny) > 0
}

// inForce reports whether a provision's own period holds now and its
// purpose matches the request's: a provision limited to purposes applies
// to a request that states one of them; a deny provision applies also to a
// request that states no purpose (fail closed).
func (r *Reach) inForce(p *Provision, now time.Time) bool {
	if !p.Start.IsZero() && now.Before(p.Start) {
		return false
	}
	if !p.End.IsZero() && now.After(p.End) {
		return false
	}
	if len(p.Purposes) > 0 {
		if r.Purpose == "" {
			return p.Deny
		}
		return slices.Contains(p.Purposes, r.Purpose)
	}
	return true
}

// actorMatches reports whether a provision's actors include the
// principal: its Practitioner, its own patient record, or its
// Organization (when the token names one). An actor the policy cannot
// relate to the principal (a care team, a role; an organization when the
// principal's is unknown) matches for a deny and not for a permit (fail
// closed).
func (r *Reach) actorMatches(p *Provision) bool {
	if len(p.Actors) == 0 {
		return true
	}
	for _, a := range p.Actors {
		switch {
		case r.Practitioner != "" && a == r.Practitioner:
			return true
		case r.Self != "" && a == "Patient/"+r.Self:
			return true
		case r.Organization != "" && a == r.Organization:
			return true
		case strings.HasPrefix(a, "Practitioner/"), strings.HasPrefix(a, "Patient/"),
			r.Organization != "" && strings.HasPrefix(a, "Organization/"):
			// Someone else (the principal's organization is known).
		default:
			if p.Deny {
				return true
			}
		}
	}
	return false
}

// allows reports whether a patient's rule lets a resource through.
func (rule *PatientRule) allows(typ string, labels []Label) bool {
	if rule.hidden {
		return false
	}
	if rule.Only != nil && !slices.Contains(rule.Only, typ) {
		return false
	}
	for _, d := range rule.Deny {
		if len(d.Types) > 0 && !slices.Contains(d.Types, typ) {
			continue
		}
		if len(d.Labels) == 0 {
			return false
		}
		for _, l := range d.Labels {
			// By code, whatever the system, as the search index does.
			if slices.ContainsFunc(labels, func(x Label) bool { return x.Code == l.Code }) {
				return false
			}
		}
	}
	return true
}
