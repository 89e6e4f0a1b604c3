package pgtest

import (
	"context"
	"net/url"
	"os"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5"
)

var namePattern = regexp.MustCompile(`^hestia_test_[0-9a-f]{16}$`)

// TestDSN checks that DSN gives a fresh, empty database of the expected name,
// a different one on each call, and that the database is gone after the test
// ends even while a connection to it is still open.
func TestDSN(t *testing.T) {
	var names []string
	var open []*pgx.Conn
	defer func() {
		for _, c := range open {
			c.Close(context.Background()) // already ended by the drop
		}
	}()

	ok := t.Run("fresh", func(t *testing.T) {
		for range 2 {
			dsn := DSN(t)
			u, err := url.Parse(dsn)
			if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
				t.Fatalf("DSN = %q: not a postgres URL (%v)", dsn, err)
			}
			conn, err := pgx.Connect(t.Context(), dsn)
			if err != nil {
				t.Fatalf("connecting to %s: %v", u.Redacted(), err)
			}
			open = append(open, conn) // left open across the drop

			var one int
			if err := conn.QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("SELECT 1 = %d, %v", one, err)
			}
			var name string
			if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
				t.Fatal(err)
			}
			if !namePattern.MatchString(name) || u.Path != "/"+name {
				t.Fatalf("database %q (URL path %q): want %s, named in the URL", name, u.Path, namePattern)
			}
			names = append(names, name)

			var tables int
			err = conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_catalog.pg_class c
				JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
				AND n.nspname NOT LIKE 'pg\_toast%'`).Scan(&tables)
			if err != nil {
				t.Fatal(err)
			}
			if tables != 0 {
				t.Errorf("database %s holds %d user relations, want none", name, tables)
			}
		}
		if len(names) == 2 && names[0] == names[1] {
			t.Errorf("two calls gave the same database %s", names[0])
		}
	})
	if !ok {
		return
	}
	if len(names) == 0 {
		t.Skip("PostgreSQL not available; see the subtest")
	}

	conn, err := pgx.Connect(t.Context(), os.Getenv(envVar))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, name := range names {
		var exists bool
		err := conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1)", name).Scan(&exists)
		if err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("database %s still exists after its test ended", name)
		}
	}
}

// TestNewName checks the generated names, which are the only text DSN puts
// into SQL.
func TestNewName(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		n := newName()
		if !namePattern.MatchString(n) {
			t.Fatalf("newName() = %q, want %s", n, namePattern)
		}
		if seen[n] {
			t.Fatalf("newName() repeated %q", n)
		}
		seen[n] = true
	}
}
