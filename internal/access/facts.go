package access

import (
	"slices"
	"sort"
	"time"
)

// Facts are what the engine knows, from the store, about the principal's
// relation to patients at the time of a request. The policy decides from
// them; it never reads the store itself.
type Facts struct {
	Now time.Time
	// Related maps the patients the principal has a treatment
	// relationship with to how (careteam, encounter, general-practitioner,
	// organization). Only gathered for a Reach of PatientsRelated.
	Related map[string]string
	// Glass maps the patients the principal broke the glass for to the
	// end of the grant.
	Glass map[string]time.Time
	// Consents are the active privacy Consents, by patient.
	Consents map[string][]*PatientConsent
	// Labelled maps patients whose Patient resource carries restricted
	// labels to those labels: they apply to the whole compartment.
	Labelled map[string][]Label
}

// Target is one resource a request reads or writes.
type Target struct {
	Type   string
	Owner  string  // patient compartment ("" for none)
	Labels []Label // meta.security
}

// Verdict is the decision on one resource.
type Verdict struct {
	Allow  bool
	Reason string
	// BreakGlass: allowed through a break-the-glass grant.
	BreakGlass bool
	// CanBreakGlass: refused for want of a relationship, and the
	// principal may break the glass for this patient.
	CanBreakGlass bool
	// Alert: the patient's data raises an alert (a label of Reach.Alert).
	Alert bool
}

// Check decides one resource. It does not check Reach.Constraints (the
// engine matches the resource against them in the store).
func (r *Reach) Check(f *Facts, t Target) Verdict {
	for _, l := range t.Labels {
		if c := restricted(l); c != "" && !r.mayLabel(c) {
			return Verdict{Reason: "the resource is labelled " + c}
		}
	}
	if t.Owner == "" {
		switch {
		case r.Tenant:
			return Verdict{Allow: true, Reason: "in no patient compartment"}
		case slices.Contains(r.Directory, t.Type):
			return Verdict{Allow: true, Reason: "directory"}
		}
		return Verdict{Reason: "in no patient compartment, and not a directory type: for roles that reach every patient"}
	}
	v := Verdict{Allow: true}
	switch {
	case r.Only != "" && t.Owner != r.Only:
		return Verdict{Reason: "outside the one patient's compartment this access is limited to"}
	case r.Patients == PatientsAll:
		v.Reason = "role reaches every patient"
	case r.Patients == PatientsRelated:
		if how, ok := f.Related[t.Owner]; ok {
			v.Reason = "treatment relationship (" + how + ")"
		} else if r.glassFor(f, t.Owner) {
			v.Reason, v.BreakGlass = "break-the-glass", true
		} else {
			return Verdict{Reason: "no treatment relationship with the patient", CanBreakGlass: r.BreakGlass > 0}
		}
	default:
		return Verdict{Reason: "the role reaches no patient data"}
	}
	for _, l := range f.Labelled[t.Owner] {
		c := restricted(l)
		if !r.mayLabel(c) {
			return Verdict{Reason: "the patient's record is labelled " + c}
		}
		if slices.Contains(r.Alert, c) {
			v.Alert = true
		}
	}
	if r.Consent && t.Owner != r.Self {
		rule := r.consentRule(f, t.Owner)
		if !rule.allows(t.Type, t.Labels) {
			return Verdict{Reason: "the patient's consent does not permit it"}
		}
		if rule.consent != "" {
			v.Reason += "; consent " + rule.consent
		}
	}
	return v
}

// MaySeeAllLabels reports whether no security label limits the reach.
func (r *Reach) MaySeeAllLabels() bool { return slices.Contains(r.Labels, "*") }

func (r *Reach) mayLabel(code string) bool {
	return slices.Contains(r.Labels, "*") || slices.Contains(r.Labels, code)
}

// Filter is what a search may return, for the store to apply in its query
// to matches, included resources, chains and _has alike (never after
// paging). A resource is visible when its compartment is (All, else
// Patients; Tenant for none; never Exclude), it carries none of
// HideLabels, and every Rule of its patient allows it.
type Filter struct {
	All      bool
	Patients []string
	Tenant   bool     // every resource in no compartment
	Tenants  []string // else those of these types (the directory)
	Exclude  []string
	// HideLabels are the restricted labels the principal may not see.
	HideLabels []Label
	// Rules are per-patient exceptions from consents.
	Rules []PatientRule
	// Glass lists the reachable patients reached through break-the-glass;
	// Alert those whose data raises an alert (for the audit event).
	Glass, Alert []string
	Constraints  []string
}

// PatientRule is what one patient's consents allow this principal: Only,
// when not nil, the resource types allowed (an opt-in consent that permits
// some classes), and Deny, resources hidden (by type and/or label).
type PatientRule struct {
	Patient string
	Only    []string
	Deny    []DenyRule
	consent string // the consent ids that decided (for reasons)
	hidden  bool   // nothing of the patient is visible
}

// DenyRule hides the resources of one of Types (any type when empty) that
// carry one of Labels (any labels when empty).
type DenyRule struct {
	Types  []string
	Labels []Label
}

// Filter computes a search's filter from the facts.
func (r *Reach) Filter(f *Facts) *Filter {
	out := &Filter{Tenant: r.Tenant, Constraints: r.Constraints}
	if !r.Tenant {
		out.Tenants = r.Directory
	}
	for _, l := range RestrictedLabels() {
		if !r.mayLabel(l.Code) {
			out.HideLabels = append(out.HideLabels, l)
		}
	}
	// The compartments in reach, before labels and consents.
	var set []string
	switch {
	case r.Patients == PatientsNone || r.Patients == "":
	case r.Only != "" && r.Patients == PatientsAll:
		set = []string{r.Only}
	case r.Only != "":
		set = r.related(f, []string{r.Only}, out)
	case r.Patients == PatientsAll:
		out.All = true
	case r.Patients == PatientsRelated:
		candidates := make([]string, 0, len(f.Related)+len(f.Glass))
		for p := range f.Related {
			candidates = append(candidates, p)
		}
		for p := range f.Glass {
			if _, ok := f.Related[p]; !ok {
				candidates = append(candidates, p)
			}
		}
		set = r.related(f, candidates, out)
	}
	hide := func(p string) {
		if out.All {
			if !slices.Contains(out.Exclude, p) {
				out.Exclude = append(out.Exclude, p)
			}
			return
		}
		set = slices.DeleteFunc(set, func(x string) bool { return x == p })
	}
	for p, labels := range f.Labelled {
		for _, l := range labels {
			c := restricted(l)
			if !r.mayLabel(c) {
				hide(p)
				break
			}
			if slices.Contains(r.Alert, c) {
				out.Alert = append(out.Alert, p)
			}
		}
	}
	if r.Consent {
		if r.ConsentDeny && out.All {
			// Opt-in: only patients whose consent permits are in reach.
			out.All = false
			set = nil
			for p := range f.Consents {
				if !slices.Contains(out.Exclude, p) {
					set = append(set, p)
				}
			}
			if r.Self != "" && !slices.Contains(set, r.Self) {
				set = append(set, r.Self)
			}
			out.Exclude = nil
		}
		var check []string
		if out.All {
			for p := range f.Consents {
				check = append(check, p)
			}
		} else {
			check = slices.Clone(set)
		}
		for _, p := range check {
			if p == r.Self {
				continue
			}
			rule := r.consentRule(f, p)
			switch {
			case rule.hidden:
				hide(p)
			case rule.Only != nil || len(rule.Deny) > 0:
				out.Rules = append(out.Rules, rule)
			}
		}
	}
	sort.Strings(set)
	sort.Strings(out.Exclude)
	sort.Strings(out.Glass)
	sort.Strings(out.Alert)
	sort.Slice(out.Rules, func(i, j int) bool { return out.Rules[i].Patient < out.Rules[j].Patient })
	if !out.All {
		out.Patients = set
		if out.Patients == nil {
			out.Patients = []string{}
		}
	}
	return out
}

// related keeps of set what a relationship or a break-the-glass grant
// reaches, noting in out the patients reached through a grant.
func (r *Reach) related(f *Facts, set []string, out *Filter) []string {
	var keep []string
	for _, p := range set {
		if _, ok := f.Related[p]; ok {
			keep = append(keep, p)
		} else if r.glassFor(f, p) {
			keep = append(keep, p)
			out.Glass = append(out.Glass, p)
		}
	}
	return keep
}

// glassFor reports whether a break-the-glass grant for patient is in
// force, and the reach may still break the glass.
func (r *Reach) glassFor(f *Facts, patient string) bool {
	until, ok := f.Glass[patient]
	return ok && r.BreakGlass > 0 && f.Now.Before(until)
}

// Visible reports whether a filter lets a resource through (what the
// store's query implements; for tests and for resources read one by one).
func (fl *Filter) Visible(t Target) bool {
	for _, l := range t.Labels {
		if c := restricted(l); c != "" && slices.ContainsFunc(fl.HideLabels, func(h Label) bool { return h.Code == c }) {
			return false
		}
	}
	if t.Owner == "" {
		return fl.Tenant || slices.Contains(fl.Tenants, t.Type)
	}
	if fl.All {
		if slices.Contains(fl.Exclude, t.Owner) {
			return false
		}
	} else if !slices.Contains(fl.Patients, t.Owner) {
		return false
	}
	for _, rule := range fl.Rules {
		if rule.Patient == t.Owner && !rule.allows(t.Type, t.Labels) {
			return false
		}
	}
	return true
}
