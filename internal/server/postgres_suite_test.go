package server

import (
	"os"
	execpkg "os/exec"
	"strings"
	"testing"

	"github.com/hestiahealth/hestia/internal/pgtest"
)

// TestSuiteOnPostgres runs every test of this package again with
// PostgreSQL as the database (HESTIA_TEST_STORAGE=postgres; testConfig
// gives each test a fresh database): every interaction, the search
// conformance table, transactions, history, erasure, access control, the
// audit log and authentication behave the same on both drivers. Tests
// that reach into the database (tampering, restoring an older copy,
// scanning what is stored) do so on either driver.
func TestSuiteOnPostgres(t *testing.T) {
	if onPostgres() {
		t.Skip("this is the PostgreSQL run")
	}
	if testing.Short() {
		t.Skip("runs the package's tests again")
	}
	pgtest.Need(t)
	args := []string{"-test.count=1", "-test.timeout=30m"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := execpkg.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "HESTIA_TEST_STORAGE=postgres")
	out, err := cmd.CombinedOutput()
	if err != nil {
		// The failures, not the whole log.
		var keep []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "FAIL") || strings.HasPrefix(strings.TrimSpace(l), "--- ") || strings.Contains(l, "_test.go:") || strings.Contains(l, "panic") {
				keep = append(keep, l)
			}
		}
		t.Fatalf("the tests on PostgreSQL failed: %v\n%s", err, strings.Join(keep, "\n"))
	}
	if testing.Verbose() {
		t.Logf("%s", out)
	}
}
