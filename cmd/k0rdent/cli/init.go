package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/config"
)

// initOptions are the flags of `k0rdent init`.
type initOptions struct {
	Path     string
	Template string
	Force    bool
}

func (a *app) initCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "init",
		Usage:     "write a starter k0rdent.yaml",
		ArgsUsage: " ",
		Description: "Writes a commented k0rdent.yaml from a template to the --config path.\n" +
			"It refuses to replace an existing file unless --force is given.\n\n" +
			examples(a.Name+" init", a.Name+" init --template production --config prod.yaml", a.Name+" init --force"),
		Flags: withGlobals(
			&ucli.StringFlag{Name: "template", Aliases: []string{"t"}, Value: "minimal",
				Usage: "template: " + strings.Join(templateNames(), ", ")},
			&ucli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "replace an existing file"},
		),
		Action: func(c *ucli.Context) error {
			g, err := readGlobals(c)
			if err != nil {
				return err
			}
			return a.doInit(initOptions{Path: g.ConfigPath, Template: c.String("template"), Force: c.Bool("force")})
		},
	}
}

func templateNames() []string {
	var names []string
	for name := range config.Templates() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (a *app) doInit(o initOptions) error {
	data, ok := config.Templates()[o.Template]
	if !ok {
		return usageErrorf("--template %q: want one of %s", o.Template, strings.Join(templateNames(), ", "))
	}
	if _, err := os.Stat(o.Path); err == nil && !o.Force {
		return usageErrorf("%s already exists; keep it, or pass --force to replace it with the %s template", o.Path, o.Template)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("check %s: %w", o.Path, err)
	}
	if dir := filepath.Dir(o.Path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", dir, err)
		}
	}
	if err := os.WriteFile(o.Path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", o.Path, err)
	}
	fmt.Fprintf(a.Stdout, "wrote %s (template %s); edit it, then run: %s run --plan\n", o.Path, o.Template, a.Name)
	return nil
}
