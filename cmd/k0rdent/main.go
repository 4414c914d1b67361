// Command k0rdent deploys a k0rdent management cluster. See package
// github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli for the commands.
package main

import (
	"os"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
	// Before rig's sshconfig initialises: no ssh probing at start-up of
	// commands that never use SSH (see package quietssh).
	_ "github.com/k0rdent/k0rdent-deploy/internal/quietssh/restore"
	"github.com/k0rdent/k0rdent-deploy/phases"
)

// Set at build time by `make build` (-ldflags '-X main.version=v1.2.3 -X
// main.revision=<commit> -X main.dirty=true -X main.buildTime=<RFC 3339>');
// empty ones come from runtime/debug.ReadBuildInfo (see `k0rdent version`).
var version, revision, dirty, buildTime string

func main() {
	app := cli.NewApp(cli.Options{
		Registry:  phases.Builtin(),
		Stdin:     os.Stdin,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		Version:   version,
		Revision:  revision,
		Dirty:     dirty == "true",
		BuildTime: buildTime,
	})
	os.Exit(cli.Execute(app, os.Args))
}
