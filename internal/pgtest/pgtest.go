// Package pgtest gives each test that needs PostgreSQL a database of its own,
// for tests only.
//
// Invariants:
//
//   - The server is the one named by HESTIA_TEST_POSTGRES, a postgres:// URL
//     of a database whose user may create and drop databases, such as
//     postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable.
//     .ci/postgres.sh starts such a server on loopback and exports it.
//   - DSN returns the postgres:// URL of a fresh database created for the
//     calling test alone, from template0, so it holds no user objects. It
//     differs from HESTIA_TEST_POSTGRES only in the database name.
//   - The database is dropped WITH (FORCE) when the test and its subtests
//     end, after the cleanups the test registered after calling DSN; the
//     drop ends connections still open, so none keeps it alive.
//   - Database names are "hestia_test_" followed by random hex digits,
//     generated here and quoted with pgx.Identifier; nothing else is ever
//     put into SQL text.
//   - Without HESTIA_TEST_POSTGRES a test that needs PostgreSQL is skipped
//     with a clear message, except under CI=true, where it fails: CI always
//     runs these tests.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// envVar names the admin URL of the test server.
const envVar = "HESTIA_TEST_POSTGRES"

// namePrefix starts the name of every database made here.
const namePrefix = "hestia_test_"

// timeout bounds each create or drop, connection included.
const timeout = 30 * time.Second

// DSN creates an empty database for the test and returns its postgres:// URL,
// suitable for pgx. The database is dropped when the test ends. Without
// HESTIA_TEST_POSTGRES the test is skipped, or failed under CI=true.
func DSN(t testing.TB) string {
	t.Helper()
	admin := Need(t)
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		t.Fatalf("pgtest: %s must be a postgres://user@host:port/database URL", envVar)
	}
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", envVar, err)
	}

	name := newName()
	if err := exec(cfg, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		t.Fatalf("pgtest: creating database %s on %s: %v", name, u.Redacted(), err)
	}
	t.Cleanup(func() {
		if err := exec(cfg, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s on %s: %v", name, u.Redacted(), err)
		}
	})

	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// Snapshot copies the database of dsn (one DSN returned, with no open
// connection) and returns a function that puts the copy back in its
// place, as restoring a backup would. The copy is dropped when the test
// ends.
func Snapshot(t testing.TB, dsn string) (restore func()) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: snapshot: %v", err)
	}
	orig := strings.TrimPrefix(u.Path, "/")
	if !strings.HasPrefix(orig, namePrefix) {
		t.Fatalf("pgtest: snapshot: not a test database")
	}
	cfg, err := pgx.ParseConfig(os.Getenv(envVar))
	if err != nil {
		t.Fatalf("pgtest: %s: %v", envVar, err)
	}
	cp := newName()
	if err := exec(cfg, "CREATE DATABASE "+pgx.Identifier{cp}.Sanitize()+" TEMPLATE "+pgx.Identifier{orig}.Sanitize()); err != nil {
		t.Fatalf("pgtest: snapshot of %s: %v", orig, err)
	}
	t.Cleanup(func() {
		if err := exec(cfg, "DROP DATABASE IF EXISTS "+pgx.Identifier{cp}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping snapshot %s: %v", cp, err)
		}
	})
	return func() {
		t.Helper()
		if err := exec(cfg, "DROP DATABASE IF EXISTS "+pgx.Identifier{orig}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Fatalf("pgtest: restore %s: %v", orig, err)
		}
		if err := exec(cfg, "CREATE DATABASE "+pgx.Identifier{orig}.Sanitize()+" TEMPLATE "+pgx.Identifier{cp}.Sanitize()); err != nil {
			t.Fatalf("pgtest: restore %s: %v", orig, err)
		}
	}
}

// Need skips the test when no PostgreSQL server is configured (fails it
// under CI=true), and returns the admin URL otherwise.
func Need(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(envVar)
	if admin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL not available: " + envVar + " is unset, and tests that need PostgreSQL must run in CI " +
				"(.ci/run sources .ci/postgres.sh, which starts a server on loopback and exports " + envVar + ")")
		}
		t.Skip("PostgreSQL not available: set " + envVar + " to the URL of a database whose user may create databases " +
			"(e.g. postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable), or run `. .ci/postgres.sh`")
	}
	return admin
}

// newName returns a database name not used before: the prefix and 16 random
// hex digits.
func newName() string {
	// Not a secret: the name only has to differ from other tests'.
	return fmt.Sprintf("%s%016x", namePrefix, rand.Uint64())
}

// exec runs one statement on its own connection to the admin database. It is
// sent alone with the simple protocol, outside of any transaction block, as
// CREATE DATABASE and DROP DATABASE require.
func exec(cfg *pgx.ConnConfig, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	return err
}
