package engine

import (
	"context"
	"errors"
	"slices"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/store"
)

func checkTypeID(typ, id string) error {
	if !fhir.IsResourceType(typ) {
		return fault.New(fault.NotFound, "unknown resource type")
	}
	if id != "" && !fhir.ValidID(id) {
		return fault.New(fault.Invalid, "not a valid resource id")
	}
	return nil
}

// Read returns the current version of a resource. A deleted resource is a
// Gone error carrying the deleted version (see GoneVersion).
func (e *Engine) Read(ctx context.Context, typ, id string) (*Resource, error) {
	if err := checkTypeID(typ, id); err != nil {
		return nil, err
	}
	ev, reach, err := e.decide(ctx, access.Read, typ, id)
	if err != nil {
		return nil, err
	}
	r, err := e.store.Read(ctx, typ, id)
	if err != nil {
		return nil, e.record(ctx, ev, e.missing(ctx, reach, typ, storeErr(err, "resource")))
	}
	if r.Deleted {
		ev.Version = r.Version
		if err := e.checkDeleted(ctx, ev, reach, r); err != nil {
			return nil, e.record(ctx, ev, err)
		}
		return nil, e.record(ctx, ev, &GoneError{Version: r.Version, Updated: r})
	}
	ev.Version, ev.Count, ev.Patients = r.Version, 1, owners(ev.Patients, r)
	if err := e.openBody(ctx, r); err != nil {
		return nil, e.record(ctx, ev, err)
	}
	if err := e.checkRead(ctx, ev, reach, r); err != nil {
		ev.Count = 0
		return nil, e.record(ctx, ev, err)
	}
	if err := e.record(ctx, ev, nil); err != nil {
		return nil, err
	}
	return r, nil
}

// missing is the answer for a resource that does not exist: for a
// principal limited by patient, the same refusal as for one it may not
// see (with or without a break-the-glass reason).
func (e *Engine) missing(ctx context.Context, reach *access.Reach, typ string, err error) error {
	if fault.KindOf(err) != fault.NotFound || !restricted(reach) || slices.Contains(reach.Directory, typ) {
		return err
	}
	return refuse(reach, "no such resource")
}

// VRead returns one version of a resource.
func (e *Engine) VRead(ctx context.Context, typ, id string, version int64) (*Resource, error) {
	if err := checkTypeID(typ, id); err != nil {
		return nil, err
	}
	ev, reach, err := e.decide(ctx, access.VRead, typ, id)
	if err != nil {
		return nil, err
	}
	ev.Version = version
	r, err := e.store.ReadVersion(ctx, typ, id, version)
	if err != nil {
		return nil, e.record(ctx, ev, e.missing(ctx, reach, typ, storeErr(err, "version")))
	}
	if r.Deleted {
		if err := e.checkDeleted(ctx, ev, reach, r); err != nil {
			return nil, e.record(ctx, ev, versionRefusal(err))
		}
		return nil, e.record(ctx, ev, &GoneError{Version: r.Version, Updated: r})
	}
	ev.Count, ev.Patients = 1, owners(ev.Patients, r)
	if err := e.openBody(ctx, r); err != nil {
		return nil, e.record(ctx, ev, err)
	}
	if err := e.checkRead(ctx, ev, reach, r); err != nil {
		ev.Count = 0
		return nil, e.record(ctx, ev, versionRefusal(err))
	}
	if reach != nil && len(reach.Constraints) > 0 {
		// A constraint is matched on the current version's index: an
		// older version is out of its reach.
		if cur, err := e.store.Read(ctx, typ, id); err != nil || cur.Version != version {
			ev.Count = 0
			return nil, e.record(ctx, ev, refuse(reach, "older version under a constrained scope"))
		}
	}
	if err := e.record(ctx, ev, nil); err != nil {
		return nil, err
	}
	return r, nil
}

// checkDeleted decides a delete marker: the compartment, and the labels
// of the last version that had a body (a deleted resource says no more
// than a hidden one).
func (e *Engine) checkDeleted(ctx context.Context, ev *audit.Event, reach *access.Reach, r *store.Resource) error {
	t := access.Target{Type: r.Type, Owner: r.Owner}
	if reach != nil && r.Version > 1 {
		prev, err := e.store.ReadVersion(ctx, r.Type, r.ID, r.Version-1)
		if err != nil {
			return storeErr(err, "version")
		}
		if !prev.Deleted {
			if err := e.openBody(ctx, prev); err != nil {
				return err
			}
			t.Labels = labelsOf(prev.Body)
		}
	}
	return e.checkTarget(ctx, ev, reach, t)
}

// versionRefusal words a vread's refusal as a missing version says it.
func versionRefusal(err error) error {
	var d *denied
	if errors.As(err, &d) && fault.KindOf(err) == fault.NotFound {
		return &denied{err: fault.New(fault.NotFound, "version not found"), reason: d.reason}
	}
	return err
}

// GoneError reports a deleted resource (HTTP 410).
type GoneError struct {
	Version int64
	Updated *store.Resource
}

func (g *GoneError) Error() string { return "resource deleted" }

// Unwrap makes a GoneError a fault of kind Gone.
func (g *GoneError) Unwrap() error { return fault.New(fault.Gone, "the resource has been deleted") }

// AsGone returns the GoneError in err's chain.
func AsGone(err error) (*GoneError, bool) {
	var g *GoneError
	ok := errors.As(err, &g)
	return g, ok
}
