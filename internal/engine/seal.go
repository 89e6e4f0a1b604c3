package engine

import (
	"context"
	"errors"
	"strconv"

	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/store"
)

// Sealer seals resource bodies under their owner's data key: the patient
// whose compartment the resource belongs to, or the tenant ("").
type Sealer interface {
	Seal(ctx context.Context, owner string, ad, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, owner string, ad, ciphertext []byte) ([]byte, error)
}

// BodyAD is the associated data of a sealed body: it binds the body to its
// resource and version, so that a body moved to another row does not open.
func BodyAD(typ, id string, version int64) []byte {
	return []byte(typ + "/" + id + "/" + strconv.FormatInt(version, 10))
}

func (e *Engine) sealBody(ctx context.Context, owner, typ, id string, version int64, body []byte) ([]byte, error) {
	if e.keys == nil {
		return body, nil
	}
	sealed, err := e.keys.Seal(ctx, owner, BodyAD(typ, id, version), body)
	if errors.Is(err, crypt.ErrErased) {
		// The patient was erased: their compartment takes no new data.
		return nil, fault.Wrap(fault.Conflict, err, "the patient this resource belongs to was erased: nothing more is stored for them")
	}
	if err != nil {
		return nil, cryptErr(err)
	}
	return sealed, nil
}

// openBody replaces a stored version's sealed body by its plaintext.
func (e *Engine) openBody(ctx context.Context, r *store.Resource) error {
	if e.keys == nil || r == nil || r.Body == nil {
		return nil
	}
	pt, err := e.keys.Open(ctx, r.Owner, BodyAD(r.Type, r.ID, r.Version), r.Body)
	if err != nil {
		return cryptErr(err)
	}
	r.Body = pt
	return nil
}

func (e *Engine) openAll(ctx context.Context, rs []*store.Resource) error {
	for _, r := range rs {
		if err := e.openBody(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// cryptErr categorises a keyring error: the KMS is down (503, nothing is
// read or written in the clear), the owner's data was erased (410), or a
// stored ciphertext failed its integrity check (an error, never wrong data).
func cryptErr(err error) error {
	switch {
	case errors.Is(err, crypt.ErrUnavailable):
		return fault.Wrap(fault.Unavailable, err, "the key management service is unavailable")
	case errors.Is(err, crypt.ErrErased):
		return fault.Wrap(fault.Gone, err, "the data was erased")
	case errors.Is(err, crypt.ErrOpen):
		return fault.Wrap(fault.Internal, err, "stored data failed its integrity check")
	}
	return fault.Wrap(fault.Internal, err, "encryption failed")
}

// owner is the patient whose compartment a resource version belongs to, by
// the R4 Patient CompartmentDefinition: the Patient itself, or the first
// patient referenced through the type's compartment parameters; "" (the
// tenant) for resources outside every patient compartment.
func (e *Engine) owner(typ, id string, idx *store.Index) string {
	if typ == "Patient" {
		return id
	}
	keys := e.reg.CompartmentKeys(typ)
	if len(keys) == 0 || idx == nil {
		return ""
	}
	for _, k := range keys {
		for _, r := range idx.References {
			if r.Param == k && r.Type == "Patient" && r.Group == 0 {
				return r.ID
			}
		}
	}
	return ""
}
