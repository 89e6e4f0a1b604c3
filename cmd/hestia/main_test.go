package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	_ "modernc.org/sqlite"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"hestia": func() {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := root().ExecuteContext(ctx); err != nil {
				os.Stderr.WriteString("hestia: " + err.Error() + "\n")
				os.Exit(1)
			}
		},
	})
}

// TestScripts runs the command-line scenarios in testdata/script.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script", Setup: func(env *testscript.Env) error {
		// A generated master key goes to the script's own folder.
		env.Setenv("HESTIA_KEY_DIR", env.WorkDir+"/keys")
		return nil
	}, Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){"sql": sqlCmd}})
}

// sqlCmd is the script command "sql DB STATEMENT": it runs a statement on a
// database file (an attacker's edit) and prints the first column of each
// row it returns.
func sqlCmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: sql DB STATEMENT")
	}
	db, err := sql.Open("sqlite", ts.MkAbs(args[0]))
	ts.Check(err)
	defer db.Close()
	rows, err := db.Query(args[1])
	if neg {
		if err == nil {
			ts.Fatalf("sql succeeded")
		}
		return
	}
	ts.Check(err)
	defer rows.Close()
	for rows.Next() {
		var v string
		ts.Check(rows.Scan(&v))
		fmt.Fprintln(ts.Stdout(), v)
	}
	ts.Check(rows.Err())
}
