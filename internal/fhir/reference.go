package fhir

import (
	"slices"
	"strings"
)

// reference checks Reference.reference: a local #id, urn:uuid:, urn:oid:,
// an absolute URL, or a relative Type/id[/_history/vid] (or a conditional
// Type?query, as transactions allow). targets are the types the element
// allows ("Resource" or none = any). The current path is the reference.
func (v *validator) reference(ref string, targets []string) {
	if hasXMLSpace(ref) {
		v.errorf("value", "a reference must not contain white space")
		return
	}
	switch {
	case ref[0] == '#':
		v.localRef(ref[1:], true)
		return
	case strings.HasPrefix(ref, "urn:uuid:"):
		// Warnings: a malformed URN is still an absolute URI that merely
		// does not resolve, which the reference validator accepts.
		if !validUUID(ref) {
			v.report("warning", "value", "invalid urn:uuid: reference")
		}
		return
	case strings.HasPrefix(ref, "urn:oid:"):
		if !validOID(ref) {
			v.report("warning", "value", "invalid urn:oid: reference")
		}
		return
	case hasScheme(ref):
		// An absolute URL; if it ends in a RESTful Type/id, check the type.
		if rt, _, ok := restTail(ref); ok {
			v.checkTarget(rt, targets)
		}
		return
	}
	if q := strings.IndexByte(ref, '?'); q >= 0 && !strings.Contains(ref[:q], "/") {
		if t := ref[:q]; IsResourceType(t) {
			v.checkTarget(t, targets) // a conditional reference, as transactions allow
			return
		}
	}
	rt, rest, ok := strings.Cut(ref, "/")
	if !ok {
		v.errorf("value", "invalid reference: a relative reference must be Type/id")
		return
	}
	if !IsResourceType(rt) {
		v.errorf("value", "invalid reference: unknown resource type in a relative reference")
		return
	}
	id, hist, versioned := strings.Cut(rest, "/_history/")
	if !ValidID(id) || (versioned && !ValidID(hist)) {
		v.errorf("value", "invalid reference: a relative reference must be Type/id or Type/id/_history/version with valid ids")
		return
	}
	v.checkTarget(rt, targets)
}

// checkTarget warns about a reference to a resource type the element does
// not allow.
func (v *validator) checkTarget(rt string, targets []string) {
	if len(targets) == 0 || slices.Contains(targets, rt) || slices.Contains(targets, "Resource") {
		return
	}
	for _, t := range targets {
		if !v.d.types[t].isResource() {
			return // a profile we cannot resolve: do not judge
		}
	}
	// A warning: several official examples reference types their
	// element does not list.
	v.report("warning", "value", "a reference to a "+rt+" is not allowed here")
}

func (t *typeDef) isResource() bool { return t != nil && t.kind == kindResource }

// hasScheme reports whether s starts with an RFC 3986 scheme and ':'.
func hasScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return true
		default:
			return false
		}
	}
	return false
}

// restTail returns Type and id when an absolute URL ends in
// /Type/id or /Type/id/_history/vid with a known resource type.
func restTail(u string) (rt, id string, ok bool) {
	if i := strings.Index(u, "/_history/"); i >= 0 {
		u = u[:i]
	}
	u, _, _ = strings.Cut(u, "?")
	u, _, _ = strings.Cut(u, "#")
	slash := strings.LastIndexByte(u, '/')
	if slash < 0 {
		return "", "", false
	}
	id = u[slash+1:]
	prev := strings.LastIndexByte(u[:slash], '/')
	if prev < 0 {
		return "", "", false
	}
	rt = u[prev+1 : slash]
	if !IsResourceType(rt) {
		return "", "", false
	}
	return rt, id, true
}
