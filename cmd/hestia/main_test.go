package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
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
	}})
}
