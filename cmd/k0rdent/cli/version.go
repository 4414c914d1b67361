package cli

import (
	"fmt"
	"runtime"

	ucli "github.com/urfave/cli/v2"
)

func (a *app) versionCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "version",
		Usage:       "print the version of this binary",
		Description: examples(a.Name + " version"),
		Flags:       withGlobals(),
		Action: func(c *ucli.Context) error {
			fmt.Fprintf(a.Stdout, "%s %s (%s, %s/%s)\n", a.Name, a.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
