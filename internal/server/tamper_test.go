package server

import (
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hestiahealth/hestia/internal/pgtest"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// rawDB opens the server's database directly, as an attacker with write
// access to the disk (or to the database server) would. Its statements
// take ? placeholders on either driver.
func rawDB(t *testing.T, s *testServer) *rawSQL {
	t.Helper()
	return rawDBAt(t, Config{DataDir: s.node.Dir, Storage: s.storage})
}

// rawDBAt opens the database of a configuration directly.
func rawDBAt(t *testing.T, cfg Config) *rawSQL {
	t.Helper()
	driver, dsn := "sqlite", "file:"+filepath.Join(cfg.DataDir, DatabaseFile)+"?_pragma=busy_timeout(5000)"
	if cfg.Storage != "" {
		driver, dsn = "pgx", cfg.Storage
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &rawSQL{db: db, pg: cfg.Storage != ""}
}

// snapshotDB copies the database of a closed node; the function it returns
// puts the copy back, as restoring an older backup would.
func snapshotDB(t *testing.T, cfg Config) (restore func()) {
	t.Helper()
	if cfg.Storage != "" {
		return pgtest.Snapshot(t, cfg.Storage)
	}
	path := filepath.Join(cfg.DataDir, DatabaseFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		for _, f := range []string{path + "-wal", path + "-shm"} {
			os.Remove(f)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// rawSQL runs SQL on a test server's database.
type rawSQL struct {
	db *sql.DB
	pg bool
}

// rebind turns ? placeholders into PostgreSQL's $1, $2, ….
func (r *rawSQL) rebind(q string) string {
	if !r.pg {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (r *rawSQL) Exec(q string, args ...any) (sql.Result, error) {
	return r.db.Exec(r.rebind(q), args...)
}

func (r *rawSQL) QueryRow(q string, args ...any) *sql.Row {
	return r.db.QueryRow(r.rebind(q), args...)
}

func (r *rawSQL) Query(q string, args ...any) (*sql.Rows, error) {
	return r.db.Query(r.rebind(q), args...)
}

func exec(t *testing.T, db *rawSQL, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestTamperedCiphertextsAreErrorsNeverData moves, truncates and re-labels
// stored ciphertexts: each read fails, and never returns another
// resource's data.
func TestTamperedCiphertextsAreErrorsNeverData(t *testing.T) {
	s := newTestServer(t)
	a := s.create(patient("Alpha"))
	b := s.create(patient("Bravo"))
	obs := map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "x"},
		"subject": map[string]any{"reference": "Patient/" + a["id"].(string)}}
	o := s.create(obs)
	o["status"] = "amended"
	s.expect(s.do("PUT", "/Observation/"+o["id"].(string), o), http.StatusOK)
	db := rawDB(t, s)
	rid := func(typ, id string) int64 {
		var r int64
		if err := db.QueryRow(`SELECT rid FROM resource WHERE type = ? AND id = ?`, typ, id).Scan(&r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	ra, rb, ro := rid("Patient", a["id"].(string)), rid("Patient", b["id"].(string)), rid("Observation", o["id"].(string))

	failsWithoutData := func(name, path string, leak ...string) {
		t.Helper()
		r := s.do("GET", path, nil)
		if r.status < 400 {
			t.Errorf("%s: status %d: %s", name, r.status, r.body)
		}
		for _, l := range leak {
			if strings.Contains(string(r.body), l) {
				t.Errorf("%s: the response holds data: %s", name, r.body)
			}
		}
	}

	// 1. Bravo's body copied into Alpha's row (same table, same owner kind).
	exec(t, db, `UPDATE version SET body = (SELECT body FROM version WHERE rid = ?), owner = (SELECT owner FROM version WHERE rid = ?) WHERE rid = ?`, rb, rb, ra)
	failsWithoutData("swapped body", "/Patient/"+a["id"].(string), "Bravo", "Alpha")

	// 2. Version 1 of the Observation moved to version 2.
	exec(t, db, `UPDATE version SET body = (SELECT body FROM version WHERE rid = ? AND version = 1) WHERE rid = ? AND version = 2`, ro, ro)
	failsWithoutData("older version moved up", "/Observation/"+o["id"].(string), "final")

	// 3. A truncated ciphertext.
	exec(t, db, `UPDATE version SET body = substr(body, 1, length(body) - 7) WHERE rid = ? AND version = 1`, ro)
	failsWithoutData("truncated", "/Observation/"+o["id"].(string)+"/_history/1", "final")

	// 4. A ciphertext labelled with another owner's key.
	exec(t, db, `UPDATE version SET owner = ? WHERE rid = ?`, b["id"].(string), rb+0)
	exec(t, db, `UPDATE version SET owner = (SELECT id FROM resource WHERE rid = ?) WHERE rid = ?`, ra, rb)
	failsWithoutData("wrong key", "/Patient/"+b["id"].(string), "Bravo")

	// 5. A damaged key prefix (Tink's key id) in a sealed index key list:
	// the search fails instead of answering from the wrong key.
	damage := `UPDATE resource SET ix = CAST(X'00' || substr(ix, 2) AS BLOB) WHERE rid = ?`
	if db.pg {
		damage = `UPDATE resource SET ix = '\x00'::bytea || substr(ix, 2) WHERE rid = ?`
	}
	exec(t, db, damage, ro)
	r := s.do("GET", "/Observation?code:text=x", nil)
	if r.status < 400 {
		t.Errorf("search over a damaged key list: %d %s", r.status, r.body)
	}
}
