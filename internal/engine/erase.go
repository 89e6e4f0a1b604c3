package engine

import (
	"context"
	"errors"
	"time"

	"github.com/hestiahealth/hestia/internal/access"
	"github.com/hestiahealth/hestia/internal/audit"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
)

// Shredder destroys a patient's data key.
type Shredder interface {
	DestroyDataKey(ctx context.Context, owner string) error
	HasDataKey(ctx context.Context, owner string) (bool, error)
}

// Ledger records erasures durably, outside the database.
type Ledger interface {
	Append(patient string, at time.Time) error
}

// Erasure reports what an erasure removed.
type Erasure struct {
	Patient   string
	Resources int // resources in the patient's compartment, now deleted
	Versions  int // versions whose bodies were removed
}

// Erase erases a patient (GDPR Art. 17) by crypto-shredding: the erasure
// is first written to the ledger (so that it is applied again to any
// database restored from before it), then the index rows of the patient's
// compartment are deleted, its resources marked deleted and the bodies of
// their versions removed, and last the patient's data key is destroyed, so
// that no copy of the database, however old, opens what it sealed. Audit
// records are not erased. Erasing again is harmless.
func (e *Engine) Erase(ctx context.Context, ledger Ledger, patient string) (*Erasure, error) {
	if !fhir.ValidID(patient) {
		return nil, fault.New(fault.Invalid, "not a valid patient id")
	}
	ev, err := e.begin(ctx, access.Erase, "Patient", patient)
	if err != nil {
		return nil, err
	}
	shred, ok := e.keys.(Shredder)
	if !ok || ledger == nil {
		return nil, e.record(ctx, ev, errors.New("engine: erasure needs the keyring and the ledger"))
	}
	if err := ledger.Append(patient, e.now()); err != nil {
		return nil, e.record(ctx, ev, fault.Wrap(fault.Unavailable, err, "the erasure ledger cannot be written"))
	}
	out, err := e.eraseNow(ctx, shred, patient, ev)
	return out, e.record(ctx, ev, err)
}

// eraseNow erases in the store, with ev's record appended in the
// erasure's own transaction when the recorder can encode it (marked
// Recorded), then destroys the data key; a failure after the record
// committed is recorded separately by record.
func (e *Engine) eraseNow(ctx context.Context, shred Shredder, patient string, ev *audit.Event) (*Erasure, error) {
	ev.Patients = []string{patient}
	var inTx func(resources, versions int) ([]byte, error)
	if enc, ok := e.audit.(audit.Encoder); ok {
		inTx = func(resources, _ int) ([]byte, error) {
			ev.Count = resources
			return enc.Encode(ev)
		}
	}
	res, vers, err := e.store.EraseOwner(ctx, patient, inTx)
	if err != nil {
		return nil, storeErr(err, "patient")
	}
	ev.Count, ev.Recorded = res, inTx != nil
	e.forgetFacts()
	if err := shred.DestroyDataKey(ctx, patient); err != nil {
		return nil, fault.Wrap(fault.Unavailable, err, "the patient's data key could not be destroyed")
	}
	return &Erasure{Patient: patient, Resources: res, Versions: vers}, nil
}

// ReapplyErasures applies the ledger's erasures again to this database:
// a patient whose data key exists (a database restored from before the
// erasure) is erased again. It returns the patients erased again.
func (e *Engine) ReapplyErasures(ctx context.Context, patients []string) ([]string, error) {
	shred, ok := e.keys.(Shredder)
	if !ok {
		return nil, nil // the benchmark-only plaintext build has no keys
	}
	var again []string
	for _, p := range patients {
		exists, err := shred.HasDataKey(ctx, p)
		if err != nil {
			return again, err
		}
		if !exists {
			// Erased here already. Make sure the key's name is marked
			// erased (a database erased before the mark existed, or
			// stopped between the erasure and the mark), so that the
			// compartment takes no new data.
			if err := shred.DestroyDataKey(ctx, p); err != nil {
				return again, err
			}
			continue
		}
		ev := e.event(ctx, access.Erase, "Patient", p)
		ev.Reason = "erasure ledger applied to a restored database"
		_, err = e.eraseNow(ctx, shred, p, ev)
		if err := e.record(ctx, ev, err); err != nil {
			return again, err
		}
		again = append(again, p)
	}
	return again, nil
}
