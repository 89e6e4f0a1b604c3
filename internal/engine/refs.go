package engine

import (
	"context"
	"strings"

	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
)

// resolveRefs rewrites the references of res: a reference to another
// entry's fullUrl (urn:uuid: or absolute) becomes that entry's Type/id, and
// a conditional reference (Type?criteria) becomes the one resource it
// matches. Each conditional match becomes a check for the transaction.
//
// Every rewrite is recorded in undo (when not nil), so that a retried
// transaction can start again from the references the client sent.
func (e *Engine) resolveRefs(ctx context.Context, res map[string]any, idOf map[string]string, checks *[]check, undo *[]refUndo) error {
	var err error
	set := func(m map[string]any, ref, to string) {
		if undo != nil {
			*undo = append(*undo, refUndo{m: m, ref: ref})
		}
		m["reference"] = to
	}
	walkRefs(res, func(m map[string]any, ref string) {
		if err != nil {
			return
		}
		if to, ok := idOf[ref]; ok {
			set(m, ref, to)
			return
		}
		if strings.HasPrefix(ref, "urn:uuid:") || strings.HasPrefix(ref, "urn:oid:") {
			err = fault.New(fault.Invalid, "a reference names a urn that no entry of the Bundle has as fullUrl")
			return
		}
		typ, query, isCond := conditionalRef(ref)
		if !isCond {
			return
		}
		ids, q, cerr := e.conditional(ctx, typ, query)
		if cerr != nil {
			err = cerr
			return
		}
		if len(ids) != 1 {
			err = fault.New(fault.PreconditionFailed, "a conditional reference to %s matches %d resources; exactly one is required", typ, len(ids))
			return
		}
		set(m, ref, typ+"/"+ids[0])
		if checks != nil {
			*checks = append(*checks, check{q: q, want: ids})
		}
	})
	return err
}

// refUndo is one reference rewrite: the object and its original value.
type refUndo struct {
	m   map[string]any
	ref string
}

// conditionalRef recognises "Type?criteria".
func conditionalRef(ref string) (typ, query string, ok bool) {
	typ, query, found := strings.Cut(ref, "?")
	if !found || strings.Contains(typ, "/") || !fhir.IsResourceType(typ) {
		return "", "", false
	}
	return typ, query, true
}

func hasConditionalRef(res map[string]any) bool {
	found := false
	walkRefs(res, func(_ map[string]any, ref string) {
		if _, _, ok := conditionalRef(ref); ok {
			found = true
		}
	})
	return found
}

// walkRefs calls fn for every object with a string "reference" member,
// including inside contained resources.
func walkRefs(v any, fn func(m map[string]any, ref string)) {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["reference"].(string); ok {
			fn(x, ref)
		}
		for k, c := range x {
			if k == "reference" {
				continue
			}
			switch c.(type) {
			case map[string]any, []any:
				walkRefs(c, fn)
			}
		}
	case []any:
		for _, c := range x {
			switch c.(type) {
			case map[string]any, []any:
				walkRefs(c, fn)
			}
		}
	}
}
