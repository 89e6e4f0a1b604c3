package search

import (
	"testing"

	"github.com/hestiahealth/hestia/internal/crypt"
)

// The keyring remembers the forms of token systems only, which it tells by
// their field: it must be the one this package gives systems.
func TestSystemFieldMatchesKeyring(t *testing.T) {
	if fieldSystem != crypt.SystemField {
		t.Fatalf("search gives token systems the field %q, the keyring remembers %q", fieldSystem, crypt.SystemField)
	}
	for _, f := range []string{fieldPrefix, fieldExact, fieldCode, fieldURI} {
		if f == crypt.SystemField {
			t.Fatalf("field %q of another kind of value would be remembered", f)
		}
	}
}
