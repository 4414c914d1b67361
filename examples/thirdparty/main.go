// Command thirdparty is an example of a team's own k0rdent binary: the
// built-in phases plus the team's Go phase (package hello), driven by the
// unchanged k0rdent CLI. Build it with
//
//	go build -o bin/k0rdent-hello ./examples/thirdparty
//
// and use it like k0rdent: `k0rdent-hello phases` lists hello next to the
// built-in phases, `k0rdent-hello run --plan` shows what it would do.
//
// HELLO_DIR sets where hello.txt is written (default: the current
// directory): the config file has no section for third-party phases, so a
// team's binary reads its own settings from the environment or flags.
package main

import (
	"os"

	"github.com/k0rdent/k0rdent-deploy/cmd/k0rdent/cli"
	"github.com/k0rdent/k0rdent-deploy/examples/thirdparty/hello"
	"github.com/k0rdent/k0rdent-deploy/phases"
)

// version is set at build time: -ldflags '-X main.version=v1.2.3'.
var version = "dev"

func main() {
	reg := phases.Builtin()
	reg.RegisterPlugin(hello.Plugin(hello.Options{Dir: os.Getenv("HELLO_DIR")}))
	app := cli.NewApp(cli.Options{
		Registry: reg,
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Version:  version + " (with hello)",
		Name:     "k0rdent-hello",
	})
	os.Exit(cli.Execute(app, os.Args))
}
