// Command k0rdent deploys a k0rdent management cluster. See package
// github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli for the commands.
package main

import (
	"os"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
	"github.com/k0rdent/k0rdent-deploy/phases"
)

// version and buildTime may be set at build time (-ldflags '-X
// main.version=v1.2.3 -X main.buildTime=2026-12-03T15:00:00Z'); an empty
// version is the module version and VCS revision from
// runtime/debug.ReadBuildInfo (see `k0rdent version`).
var version, buildTime string

func main() {
	app := cli.NewApp(cli.Options{
		Registry:  phases.Builtin(),
		Stdin:     os.Stdin,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		Version:   version,
		BuildTime: buildTime,
	})
	os.Exit(cli.Execute(app, os.Args))
}
