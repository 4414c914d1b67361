package config

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// The canonical example configs; examples/*.yaml are identical copies
// (TestTemplates_MatchExamples keeps them so).
//
//go:embed templates/*.yaml
var templateFS embed.FS

// Template is an example config that `k0rdent init --template <name>` writes.
type Template struct {
	// Name is the file name without .yaml: minimal, development, ...
	Name string
	// Description is the file's first comment line.
	Description string
	// Data is the file.
	Data []byte
}

// Templates returns the shipped example configs, sorted by name.
func Templates() []Template {
	entries, err := fs.ReadDir(templateFS, "templates")
	if err != nil {
		panic(err) // embedded at build time
	}
	var ts []Template
	for _, e := range entries {
		data, err := templateFS.ReadFile(path.Join("templates", e.Name()))
		if err != nil {
			panic(err)
		}
		first, _, _ := strings.Cut(string(data), "\n")
		ts = append(ts, Template{
			Name:        strings.TrimSuffix(e.Name(), ".yaml"),
			Description: strings.TrimSpace(strings.TrimPrefix(first, "#")),
			Data:        data,
		})
	}
	return ts
}

// TemplateNamed returns the template called name, or an error listing the
// known names.
func TemplateNamed(name string) (Template, error) {
	var names []string
	for _, t := range Templates() {
		if t.Name == name {
			return t, nil
		}
		names = append(names, t.Name)
	}
	return Template{}, fmt.Errorf("unknown template %q (known: %s)", name, strings.Join(names, ", "))
}
