package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hestiahealth/hestia/internal/store"
	"github.com/hestiahealth/hestia/internal/store/storetest"
)

func openTest(t *testing.T) store.Store {
	t.Helper()
	db, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "hestia.db"), Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) { storetest.Run(t, openTest) }
