package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

// BuildInfo is what `version` prints and what a run header's tool_version
// summarises: the module version, the VCS revision the binary was built
// from (with -buildvcs, which `make build` turns on), whether the work tree
// had uncommitted changes, the commit and build times, and the toolchain.
type BuildInfo struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	Revision   string `json:"revision,omitempty"`
	Dirty      bool   `json:"dirty"`
	CommitTime string `json:"commit_time,omitempty"`
	BuildTime  string `json:"build_time,omitempty"`
	GoVersion  string `json:"go_version"`
	Platform   string `json:"platform"`
}

// readBuildInfo fills a BuildInfo from runtime/debug.ReadBuildInfo.
// version (Options.Version, e.g. from -ldflags -X) wins over the module
// version; a binary built from a source tree without tags has a Go
// pseudo-version (v0.0.0-<commit time>-<revision>[+dirty]); a test binary
// or one built with -buildvcs=false has neither and is "dev".
//
// revision and dirty come from the build too (`make build` sets them from
// git with -ldflags -X, since Go stamps no VCS information in a git
// worktree); the stamp of -buildvcs wins when there is one.
func readBuildInfo(name, version, revision string, dirty bool, buildTime string) BuildInfo {
	bi := BuildInfo{Name: name, Version: version, Revision: revision, Dirty: dirty, BuildTime: buildTime,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	info, ok := debug.ReadBuildInfo()
	if ok {
		if bi.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			bi.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				bi.Revision = s.Value
			case "vcs.modified":
				bi.Dirty = s.Value == "true"
			case "vcs.time":
				bi.CommitTime = s.Value
			}
		}
	}
	if bi.Version == "" {
		bi.Version = "dev"
	}
	return bi
}

// String is the one-line tool version recorded in run headers
// (tool_version) and printed by --version: the version, then what it does
// not already say of the revision, the dirty flag and the build time.
func (b BuildInfo) String() string {
	var extra []string
	if b.Revision != "" && !strings.Contains(b.Version, shortRev(b.Revision)) {
		extra = append(extra, "rev "+shortRev(b.Revision))
	}
	if b.Dirty && !strings.Contains(b.Version, "dirty") {
		extra = append(extra, "dirty")
	}
	if b.BuildTime != "" {
		extra = append(extra, "built "+b.BuildTime)
	}
	if len(extra) == 0 {
		return b.Version
	}
	return b.Version + " (" + strings.Join(extra, ", ") + ")"
}

func shortRev(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}

func (a *app) versionCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "version",
		Usage:       "print the version of this binary (module version, VCS revision, dirty flag, build time)",
		Description: examples(a.Name+" version", a.Name+" version -o json"),
		Flags:       withGlobals(outputFlag("text", "json")),
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return usageErrorf("version takes no arguments, got %q (see %s version --help)", c.Args().First(), a.Name)
			}
			out, err := readOutput(c, "text", "json")
			if err != nil {
				return err
			}
			bi := a.build
			if out == "json" {
				return writeJSON(a.Stdout, bi)
			}
			fmt.Fprintf(a.Stdout, "%s %s\n", a.Name, bi.Version)
			if bi.Revision != "" {
				dirty := ""
				if bi.Dirty {
					dirty = " (dirty: built with uncommitted changes)"
				}
				fmt.Fprintf(a.Stdout, "  revision:    %s%s\n", bi.Revision, dirty)
			}
			if bi.CommitTime != "" {
				fmt.Fprintf(a.Stdout, "  commit time: %s\n", bi.CommitTime)
			}
			if bi.BuildTime != "" {
				fmt.Fprintf(a.Stdout, "  build time:  %s\n", bi.BuildTime)
			}
			fmt.Fprintf(a.Stdout, "  go:          %s %s\n", bi.GoVersion, bi.Platform)
			return nil
		},
	}
}
