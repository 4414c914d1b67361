package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", os.Getenv("K0RDENT_UPDATE_GOLDEN") != "", "rewrite golden files and examples/*.yaml from config/templates (or K0RDENT_UPDATE_GOLDEN=1, as make golden sets)")

func TestTemplates_ParseClean(t *testing.T) {
	want := []string{"development", "minimal", "production", "with-azure-children", "with-command-phases", "with-kof"}
	var names []string
	for _, tpl := range TemplateList() {
		names = append(names, tpl.Name)
		t.Run(tpl.Name, func(t *testing.T) {
			c, err := Parse(tpl.Data, tpl.Name+".yaml")
			if err != nil {
				t.Fatalf("Parse:\n%v", err)
			}
			// As a run without --with-kof and --with-azure-children
			// validates it: the template's enabled keys decide.
			warns, err := c.Validate(RunFlags{})
			if err != nil {
				t.Fatalf("Validate:\n%v", err)
			}
			if len(warns) > 0 {
				t.Errorf("warnings: %v", warns)
			}
			if tpl.Description == "" {
				t.Errorf("no description: start the file with a comment line")
			}
		})
	}
	if !slices.Equal(names, want) {
		t.Errorf("templates: got %v, want %v", names, want)
	}
	if got := Templates(); len(got) != len(want) || !bytes.Equal(got["minimal"], TemplateList()[1].Data) {
		t.Errorf("Templates(): got %d entries, want %d with minimal's data", len(got), len(want))
	}
}

func TestTemplates_Production(t *testing.T) {
	c, err := Parse(Templates()["production"], "production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.Controllers.Count != 3 || c.Cluster.Workers.Count < 2 {
		t.Errorf("production: got %d controllers and %d workers, want 3 and 2+ (HA)", c.Cluster.Controllers.Count, c.Cluster.Workers.Count)
	}
}

// TestTemplates_MatchExamples keeps examples/*.yaml identical to the
// embedded templates; -update copies the templates over.
func TestTemplates_MatchExamples(t *testing.T) {
	dir := filepath.Join("..", "examples")
	for _, tpl := range TemplateList() {
		path := filepath.Join(dir, tpl.Name+".yaml")
		if *update {
			if err := os.WriteFile(path, tpl.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (run go test ./config -update to copy config/templates to examples/)", err)
			continue
		}
		if !bytes.Equal(got, tpl.Data) {
			t.Errorf("%s differs from config/templates/%s.yaml (edit the template, then go test ./config -update)", path, tpl.Name)
		}
	}
}

func TestParse_DefaultedMinimalGolden(t *testing.T) {
	c, err := Parse(Templates()["minimal"], "minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "minimal.defaulted.golden.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./config -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("defaulted minimal config differs from %s (if intended, run go test ./config -run Golden -update):\ngot:\n%s", golden, got)
	}
	// The golden file is itself a valid config with the same digest.
	c2, err := Parse(want, golden)
	if err != nil {
		t.Fatalf("golden does not parse: %v", err)
	}
	if c2.Digest() != c.Digest() {
		t.Errorf("golden digest %s, want %s", c2.Digest(), c.Digest())
	}
}
