package config

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// State says where the deployment's state lives: on this machine (the
// default: the state directory) or, for a team, in an Azure Blob Storage
// container (README, "Working as a team").
type State struct {
	// Backend is "local" (default) or "azureblob".
	Backend string `yaml:"backend,omitempty"`
	// Account, Container and Prefix (azureblob only): the storage account,
	// the container (created beforehand) and the blob name prefix of this
	// deployment inside it (e.g. team/prod; empty: the container's root).
	Account   string `yaml:"account,omitempty"`
	Container string `yaml:"container,omitempty"`
	Prefix    string `yaml:"prefix,omitempty"`
}

// State backends.
const (
	StateLocal     = "local"
	StateAzureBlob = "azureblob"
)

var (
	reStorageAccount = regexp.MustCompile(`^[a-z0-9]{3,24}$`)
	reContainer      = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)
	rePrefix         = regexp.MustCompile(`^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$`)
)

// URL is the state URL of an azureblob state
// (azblob://account/container[/prefix]); "" for the local backend.
func (s State) URL() string {
	if s.Backend != StateAzureBlob {
		return ""
	}
	u := "azblob://" + s.Account + "/" + s.Container
	if s.Prefix != "" {
		u += "/" + s.Prefix
	}
	return u
}

// problems checks the state section; each problem names the field and
// the fix.
func (s State) problems() []Problem {
	var out []Problem
	bad := func(path, format string, args ...any) {
		out = append(out, Problem{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	switch s.Backend {
	case "", StateLocal:
		for path, v := range map[string]string{"state.account": s.Account, "state.container": s.Container, "state.prefix": s.Prefix} {
			if v != "" {
				bad(path, "is only for backend azureblob (remove it, or set state.backend: azureblob)")
			}
		}
	case StateAzureBlob:
		if !reStorageAccount.MatchString(s.Account) {
			bad("state.account", "%q is not a storage account name (3-24 lower-case letters and digits)", s.Account)
		}
		if !reContainer.MatchString(s.Container) {
			bad("state.container", "%q is not a container name (3-63 lower-case letters, digits and single hyphens)", s.Container)
		}
		if s.Prefix != "" && (!rePrefix.MatchString(s.Prefix) || strings.Contains("/"+s.Prefix+"/", "/../") || strings.Contains("/"+s.Prefix+"/", "/./")) {
			bad("state.prefix", "%q is not a blob name prefix (segments of letters, digits, . _ - joined by /, e.g. team/prod)", s.Prefix)
		}
	default:
		bad("state.backend", "%q is not a state backend (local or azureblob)", s.Backend)
	}
	sortProblems(out)
	return out
}

// LoadState reads only the state section of the config file at path, for
// the CLI to find the store before it reads the rest: the zero State
// (local) when the file does not exist or has no state section; an *Error
// naming file, line and field when the section is wrong.
func LoadState(path string) (State, error) {
	// A file that is missing or not a readable config (a FIFO, a device,
	// too large...) has no state section here: Load reports it.
	data, err := readFile(path)
	if err != nil {
		return State{}, nil
	}
	var doc struct {
		State yaml.Node `yaml:"state"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil || doc.State.Kind == 0 {
		return State{}, nil // Load reports a file that does not parse
	}
	var s State
	dec := doc.State
	if err := dec.Decode(&s); err != nil || dec.Kind != yaml.MappingNode {
		return State{}, &Error{Problems: []Problem{{File: path, Line: doc.State.Line, Path: "state",
			Msg: "must be a mapping: backend, account, container, prefix"}}}
	}
	known := map[string]bool{"backend": true, "account": true, "container": true, "prefix": true}
	var probs []Problem
	for i := 0; i+1 < len(dec.Content); i += 2 {
		if k := dec.Content[i].Value; !known[k] {
			probs = append(probs, Problem{File: path, Line: dec.Content[i].Line, Path: "state." + k,
				Msg: "unknown key (state has backend, account, container, prefix)"})
		}
	}
	lines := map[string]int{"state": doc.State.Line}
	for i := 0; i+1 < len(dec.Content); i += 2 {
		lines["state."+dec.Content[i].Value] = dec.Content[i].Line
	}
	for _, p := range s.problems() {
		p.File = path
		if l, ok := lines[p.Path]; ok {
			p.Line = l
		} else {
			p.Line = lines["state"]
		}
		probs = append(probs, p)
	}
	if len(probs) > 0 {
		sortProblems(probs)
		return State{}, &Error{Problems: probs}
	}
	return s, nil
}
