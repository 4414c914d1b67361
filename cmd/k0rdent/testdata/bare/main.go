// Command bare is k0rdent without the built-in phases: the same CLI over an
// empty registry. The CLI lifecycle tests (crash, signals, lock, resume) run
// graphs of command phases with it, so they test the CLI itself and need no
// Terraform, WireGuard or Azure. It lives under testdata so `go build ./...`
// skips it.
package main

import (
	"os"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
	// As in the real main: no ssh probing at start-up of commands that
	// never use SSH (see package quietssh).
	_ "github.com/k0rdent/k0rdent-deploy/internal/quietssh/restore"
	"github.com/k0rdent/k0rdent-deploy/phases"
)

func main() {
	app := cli.NewApp(cli.Options{
		Registry: phases.NewRegistry(),
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Version:  "test",
	})
	os.Exit(cli.Execute(app, os.Args))
}
