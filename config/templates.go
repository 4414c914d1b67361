package config

import (
	"embed"
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

// Templates returns the shipped example configs by name (minimal,
// development, production, with-kof, with-azure-children,
// with-command-phases); the data is a fresh copy.
func Templates() map[string][]byte {
	m := map[string][]byte{}
	for _, t := range TemplateList() {
		m[t.Name] = t.Data
	}
	return m
}

// TemplateList returns the shipped example configs with their
// descriptions, sorted by name.
func TemplateList() []Template {
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
