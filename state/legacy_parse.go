package state

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// This file reads the files of the legacy bash tool (k0rdent-azure-setup).
// Every schema era from 0.0.4 to 0.4.0 is accepted: keys may be missing,
// scalars may be quoted or not, booleans may be strings, `null`, "" and a
// missing key mean the same thing, and unknown keys are ignored. Nothing in
// here panics on any input (see FuzzLegacyState).

// legacyPhaseSequence is the bash tool's PHASE_SEQUENCE, in execution order.
// Read only.
var legacyPhaseSequence = [...]string{
	"prepare_deployment",
	"setup_network",
	"create_vms",
	"setup_vpn",
	"connect_vpn",
	"install_k0s",
	"install_k0rdent",
	"setup_azure_children",
	"install_azure_csi",
	"install_kof_mothership",
	"install_kof_regional",
}

// legacyCorePhases is how many phases of legacyPhaseSequence always run.
const legacyCorePhases = 7

// Legacy phase statuses as the bash tool wrote them.
const (
	legacyPending    = "pending"
	legacyInProgress = "in_progress"
	legacyCompleted  = "completed"
	legacySkipped    = "skipped"
)

func legacyPhaseIndex(name string) int {
	for i, p := range legacyPhaseSequence {
		if p == name {
			return i
		}
	}
	return -1
}

// legacyState is what migration needs from deployment-state.yaml.
type legacyState struct {
	DeploymentID     string
	Deployer         string
	CreatedAt        time.Time
	LastUpdated      time.Time
	Status           string
	HasFlags         bool // deployment_flags present (0.2.0+)
	AzureChildren    bool
	KOF              bool
	SourceConfigFile string
	Location         string
	ResourceGroup    string
	ControllerCount  int
	WorkerCount      int
	WGNetwork        string
	WGPort           int
	AzureRG          string
	AzureNetwork     string
	AzureSSHKey      string
	VMs              []legacyVM
	Peers            []legacyPeer
	Bools            map[string]bool
	HasPhases        bool
	Phases           map[string]legacyPhase
	Artifacts        map[string]string
	StartTime        time.Time
	EndTime          time.Time
	KOFRegionalName  string
	// KOF facts the state file records (0.1.0+): versions, namespace,
	// the regional cluster's domain.
	KOFMothershipVersion string
	KOFNamespace         string
	KOFRegionalVersion   string
	KOFRegionalDomain    string
}

type legacyVM struct {
	Name      string
	AzureName string // the name in Azure (≤0.1.0: k0s-controller for Name k0s-controller-1)
	PublicIP  string
	PrivateIP string
	State     string
}

type legacyPeer struct {
	Name       string
	IP         string
	Role       string
	PrivateKey string
	PublicKey  string
}

type legacyPhase struct {
	Status        string
	UpdatedAt     time.Time
	SkippedReason string
}

type legacyEvent struct {
	Time    time.Time
	Action  string
	Message string
	Phase   string // from the `phase` field, or parsed from the message
	// Source is the side file the event came from ("azure-events.yaml");
	// "" for deployment-events.yaml.
	Source string
}

type legacyAzure struct {
	Configured     bool
	SubscriptionID string
	TenantID       string
	ClientID       string
}

type legacyKOF struct {
	MothershipInstalled bool
	RegionalInstalled   bool
}

// parseYAMLDoc decodes the first document of data into a node tree. A
// panic inside the YAML library is turned into an error: the loader must
// never crash the CLI on a damaged file.
func parseYAMLDoc(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml decoder panic: %v", r)
		}
	}()
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // empty file
		}
		return nil, err
	}
	n := resolve(&doc)
	if n != nil && n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, nil
		}
		n = resolve(n.Content[0])
	}
	return n, nil
}

// resolve follows document wrappers and aliases (a bounded number of hops).
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && i < 16; i++ {
		switch {
		case n.Kind == yaml.AliasNode:
			n = n.Alias
		default:
			return n
		}
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

// pairs returns the key/value pairs of a mapping in document order; a later
// duplicate key replaces an earlier one (as the bash tool's yq would read
// it). Non-mappings have no pairs.
func pairs(n *yaml.Node) []kv {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out []kv
	idx := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			continue
		}
		v := resolve(n.Content[i+1])
		if j, ok := idx[k.Value]; ok {
			out[j].v = v
			continue
		}
		idx[k.Value] = len(out)
		out = append(out, kv{k.Value, v})
	}
	return out
}

type kv struct {
	k string
	v *yaml.Node
}

// get returns the value of key in mapping n, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	var found *yaml.Node
	for _, p := range pairs(n) {
		if p.k == key {
			found = p.v
		}
	}
	return found
}

// str returns a scalar's text; null, "null", "~" and non-scalars are "".
func str(n *yaml.Node) string {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	v := strings.TrimSpace(n.Value)
	if v == "null" || v == "~" {
		return ""
	}
	return v
}

// boolean reads true/false written as YAML booleans or strings.
func boolean(n *yaml.Node) bool {
	b, _ := strconv.ParseBool(strings.ToLower(str(n)))
	return b
}

// integer reads an int written as a number or a string; anything else is 0.
func integer(n *yaml.Node) int {
	i, err := strconv.Atoi(str(n))
	if err != nil {
		return 0
	}
	return i
}

// legacyLocalZones are the zone abbreviations the bash tool's `date` prints
// in deployment_end_time (and 0.3.0's deployment_start_time). Go's time
// package resolves abbreviations against the machine's local zone, which
// would make migration depend on where it runs, so we use a fixed table.
// Read only.
var legacyLocalZones = map[string]int{
	"UTC": 0, "GMT": 0, "Z": 0,
	"PST": -8, "PDT": -7, "MST": -7, "MDT": -6, "CST": -6, "CDT": -5,
	"EST": -5, "EDT": -4, "AKST": -9, "AKDT": -8, "HST": -10,
	"WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2, "EET": 2, "EEST": 3,
	"JST": 9, "KST": 9, "AEST": 10, "AEDT": 11,
}

// parseLegacyTime accepts the legacy tool's two timestamp shapes: UTC
// ISO-8601 (`2025-12-03T08:58:41Z`, also with an offset) and local
// `2025-12-03 01:31:07 PST`. Unknown shapes or zones give the zero time.
func parseLegacyTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC()
	}
	if len(s) > 20 && s[19] == ' ' {
		t, err := time.ParseInLocation("2006-01-02 15:04:05", s[:19], time.UTC)
		if err != nil {
			return time.Time{}
		}
		off, ok := legacyLocalZones[strings.ToUpper(strings.TrimSpace(s[20:]))]
		if !ok {
			return time.Time{}
		}
		return t.Add(-time.Duration(off) * time.Hour).UTC()
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04:05", s, time.UTC); err == nil {
		return t
	}
	return time.Time{}
}

func legacyTime(n *yaml.Node) time.Time { return parseLegacyTime(str(n)) }

// legacyHostName maps the ≤0.1.0 name of the first controller to today's.
func legacyHostName(name string) string {
	if name == "k0s-controller" {
		return "k0s-controller-1"
	}
	return name
}

// legacyStateBools are the boolean flags migration reads (all eras).
var legacyStateBools = [...]string{
	"wg_keys_generated", "wg_laptop_config_created", "wg_vpn_connected",
	"k0s_config_generated", "k0s_cluster_deployed", "k0rdent_installed",
	"k0rdent_ready", "azure_csi_installed", "kof_mothership_installed",
	"kof_regional_installed",
}

// parseLegacyState reads deployment-state.yaml of any era. A file that is
// not a YAML mapping is an error; anything inside it is tolerated.
func parseLegacyState(data []byte) (*legacyState, error) {
	root, err := parseYAMLDoc(data)
	if err != nil {
		return nil, err
	}
	if root == nil || root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a YAML mapping")
	}
	st := &legacyState{
		DeploymentID:         str(get(root, "deployment_id")),
		Deployer:             str(get(root, "deployer")),
		CreatedAt:            legacyTime(get(root, "created_at")),
		LastUpdated:          legacyTime(get(root, "last_updated")),
		Status:               str(get(root, "status")),
		SourceConfigFile:     str(get(root, "source_config_file")),
		AzureRG:              str(get(root, "azure_rg_status")),
		AzureNetwork:         str(get(root, "azure_network_status")),
		AzureSSHKey:          str(get(root, "azure_ssh_key_status")),
		StartTime:            legacyTime(get(root, "deployment_start_time")),
		EndTime:              legacyTime(get(root, "deployment_end_time")),
		KOFRegionalName:      str(get(root, "kof_regional_cluster_name")),
		KOFMothershipVersion: str(get(root, "kof_mothership_version")),
		KOFNamespace:         str(get(root, "kof_mothership_namespace")),
		KOFRegionalVersion:   str(get(root, "kof_regional_version")),
		KOFRegionalDomain:    str(get(root, "kof_regional_domain")),
		Bools:                map[string]bool{},
		Artifacts:            map[string]string{},
	}
	if st.DeploymentID == "" {
		// The never-implemented schema of docs/STATE_TRACKING_DETAILS.md.
		st.DeploymentID = str(get(get(root, "deployment"), "id"))
	}
	if st.Deployer == "unknown" {
		st.Deployer = ""
	}
	if f := get(root, "deployment_flags"); f != nil && f.Kind == yaml.MappingNode {
		st.HasFlags = true
		st.AzureChildren = boolean(get(f, "azure_children"))
		st.KOF = boolean(get(f, "kof"))
	} else if a, k := get(root, "deployment_flags_azure_children"), get(root, "deployment_flags_kof"); a != nil || k != nil {
		// 0.1.0 wrote the flags as flat top-level keys.
		st.HasFlags = true
		st.AzureChildren = boolean(a)
		st.KOF = boolean(k)
	}
	cfg := get(root, "config")
	st.Location = str(get(cfg, "azure_location"))
	st.ResourceGroup = str(get(cfg, "resource_group"))
	st.ControllerCount = integer(get(cfg, "controller_count"))
	st.WorkerCount = integer(get(cfg, "worker_count"))
	st.WGNetwork = str(get(cfg, "wireguard_network"))
	if p := integer(get(cfg, "wireguard_port")); p > 0 && p < 65536 {
		st.WGPort = p
	}
	for _, b := range legacyStateBools {
		st.Bools[b] = boolean(get(root, b))
	}
	seenVM := map[string]bool{}
	for _, p := range pairs(get(root, "vm_states")) {
		name := legacyHostName(p.k)
		if name == "" || seenVM[name] {
			continue
		}
		seenVM[name] = true
		st.VMs = append(st.VMs, legacyVM{
			Name:      name,
			AzureName: p.k,
			PublicIP:  str(get(p.v, "public_ip")),
			PrivateIP: str(get(p.v, "private_ip")),
			State:     str(get(p.v, "state")),
		})
	}
	seenPeer := map[string]bool{}
	for _, p := range pairs(get(root, "wireguard_peers")) {
		name := legacyHostName(p.k)
		if name == "" || seenPeer[name] {
			continue
		}
		seenPeer[name] = true
		st.Peers = append(st.Peers, legacyPeer{
			Name:       name,
			IP:         str(get(p.v, "ip")),
			Role:       str(get(p.v, "role")),
			PrivateKey: str(get(p.v, "private_key")),
			PublicKey:  str(get(p.v, "public_key")),
		})
	}
	if ph := get(root, "phases"); ph != nil && ph.Kind == yaml.MappingNode {
		st.HasPhases = true
		st.Phases = map[string]legacyPhase{}
		for _, p := range pairs(ph) {
			if legacyPhaseIndex(p.k) < 0 {
				continue
			}
			lp := legacyPhase{
				Status:        str(get(p.v, "status")),
				UpdatedAt:     legacyTime(get(p.v, "updated_at")),
				SkippedReason: str(get(p.v, "skipped_reason")),
			}
			// The never-implemented documented schema used plain booleans.
			if p.v != nil && p.v.Kind == yaml.ScalarNode {
				lp = legacyPhase{Status: legacyPending}
				if boolean(p.v) {
					lp.Status = legacyCompleted
				}
			}
			st.Phases[p.k] = lp
		}
	}
	for _, p := range pairs(get(root, "artifacts")) {
		if path := str(get(p.v, "path")); path != "" {
			st.Artifacts[p.k] = path
		}
	}
	return st, nil
}

// Compiled on first use, not at every process's start-up.
var phaseMessageRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^Phase (completed|skipped|reset): ([a-z0-9_]+)`)
})

// parseLegacyEvents reads deployment-events.yaml of any era. Events are
// returned in file order; entries that are not mappings are dropped.
func parseLegacyEvents(data []byte) ([]legacyEvent, error) {
	root, err := parseYAMLDoc(data)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a YAML mapping")
	}
	evs := get(root, "events")
	if evs == nil || evs.Kind != yaml.SequenceNode {
		return nil, nil
	}
	out := make([]legacyEvent, 0, len(evs.Content))
	for _, item := range evs.Content {
		item = resolve(item)
		if item == nil || item.Kind != yaml.MappingNode {
			continue
		}
		ev := legacyEvent{
			Time:    legacyTime(get(item, "timestamp")),
			Action:  str(get(item, "action")),
			Message: str(get(item, "message")),
			Phase:   str(get(item, "phase")),
		}
		if ev.Phase == "" {
			// Before 0.4.0 the phase was only in the message.
			if m := phaseMessageRE().FindStringSubmatch(ev.Message); m != nil {
				ev.Phase = m[2]
			}
		}
		out = append(out, ev)
	}
	return out, nil
}

// skipReason returns the reason in "Phase skipped: x - Component not enabled".
func (ev legacyEvent) skipReason() string {
	if _, r, ok := strings.Cut(ev.Message, " - "); ok {
		return strings.TrimSpace(r)
	}
	return ""
}

// startFlags parses "Deployment started with flags: azure-children=true, kof=false".
func (ev legacyEvent) startFlags() (azure, kof, ok bool) {
	_, list, found := strings.Cut(ev.Message, "flags:")
	if !found {
		return false, false, false
	}
	var seen int
	for _, f := range strings.Split(list, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			continue
		}
		switch strings.TrimSpace(k) {
		case "azure-children", "azure_children":
			azure, seen = b, seen|1
		case "kof":
			kof, seen = b, seen|2
		}
	}
	return azure, kof, seen == 3
}

func parseLegacyAzure(data []byte) (*legacyAzure, error) {
	root, err := parseYAMLDoc(data)
	if err != nil {
		return nil, err
	}
	if root == nil || root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a YAML mapping")
	}
	return &legacyAzure{
		Configured:     boolean(get(root, "azure_credentials_configured")),
		SubscriptionID: str(get(root, "azure_subscription_id")),
		TenantID:       str(get(root, "azure_tenant_id")),
		ClientID:       str(get(root, "azure_client_id")),
	}, nil
}

func parseLegacyKOF(data []byte) (*legacyKOF, error) {
	root, err := parseYAMLDoc(data)
	if err != nil {
		return nil, err
	}
	if root == nil || root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a YAML mapping")
	}
	return &legacyKOF{
		MothershipInstalled: boolean(get(root, "kof_mothership_installed")),
		RegionalInstalled:   boolean(get(root, "kof_regional_installed")),
	}, nil
}

// parseClusterIDFile reads .clusterid (full id) or .project-suffix (the
// suffix only, ≤0.1.0). It returns "" when the contents are not a plausible
// id.
func parseClusterIDFile(data []byte, suffixOnly bool) string {
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimSpace(line)
	if line == "" || len(line) > 64 || strings.ContainsAny(line, " \t/\\\x00") {
		return ""
	}
	if suffixOnly && !strings.HasPrefix(line, "k0rdent-") {
		return "k0rdent-" + line
	}
	return line
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
