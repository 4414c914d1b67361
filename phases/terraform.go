package phases

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	iofs "io/fs"
	"maps"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/k0rdent/k0rdent-deploy/config"
	tf "github.com/k0rdent/k0rdent-deploy/providers/terraform"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// TerraformName is the terraform node's name: the journal key.
const TerraformName = "terraform"

// Outputs of the terraform node besides the module's own (vm_details,
// public_ips, private_ips, resource_group, wireguard_port: see
// providers/terraform). Every output becomes a Terraform reference in
// runtime.yaml.
const (
	TerraformOutputSSHUser    = "ssh_user"     // the VMs' admin user
	TerraformOutputSSHKeyPath = "ssh_key_path" // its private key: ssh.key_path, or one generated under secrets/ssh
	TerraformOutputImported   = "imported"     // how many legacy resources the run imported (adoption only)
	TerraformOutputClusterID  = "cluster_id"   // <metadata.name>-<8 random>, chosen once
)

// Files the phase keeps in the Terraform working directory besides the
// module, the variables and the state.
const (
	terraformClusterIDFile = "cluster-id" // the cluster id, chosen once
)

func terraformPlugin() Plugin {
	return Plugin{
		Name:        TerraformName,
		Description: "Azure infrastructure (network, NSG, VMs with cloud-init) from the embedded Terraform module, applied with terraform-exec",
		DependsOn:   []string{WireGuardName},
		Factory: func(bc BuildContext) ([]workflow.Phase, error) {
			return []workflow.Phase{newTerraform(bc)}, nil
		},
	}
}

// Terraform is the terraform node: it writes the module (the embedded
// Azure one, or terraform.module) and its variables into the Terraform
// working directory, runs init and apply, and turns the module's outputs
// into node outputs. Re-running it is safe: apply converges, and the SSH
// key and the cluster id are created once. After a legacy migration it
// adopts what the bash tool created instead of creating it: with the
// migration's adoption file and no state, it writes import blocks for
// every recorded resource, plans, and applies only a plan that destroys,
// replaces and changes nothing (tags aside), or stops before apply with an
// *AdoptionError naming the resources and the choices; the legacy SSH key
// (secrets/ssh/legacy-admin-key) stays the VMs' admin key. When the
// store keeps Terraform's state (Dirs.TerraformState), every terraform
// command runs against Terraform's http backend served by the store for
// that command sequence (Run, Verify, Destroy); otherwise Terraform keeps
// terraform.tfstate in the work dir.
type Terraform struct {
	cfg  *config.Config
	dirs Dirs
}

var (
	_ workflow.Phase          = (*Terraform)(nil)
	_ workflow.Preconditioner = (*Terraform)(nil)
	_ workflow.Describer      = (*Terraform)(nil)
	_ workflow.Verifier       = (*Terraform)(nil)
	_ workflow.Policer        = (*Terraform)(nil)
	_ workflow.Destroyer      = (*Terraform)(nil)
)

func newTerraform(bc BuildContext) *Terraform {
	return &Terraform{cfg: bc.Config, dirs: bc.Dirs}
}

// Name implements workflow.Phase.
func (p *Terraform) Name() string { return TerraformName }

// DependsOn implements workflow.Phase.
func (p *Terraform) DependsOn() []string { return []string{WireGuardName} }

// Policy implements workflow.Policer: one attempt may take the VM creation
// timeout plus five minutes for the network around it; errors Azure or
// the network are known to clear by themselves are retried twice.
func (p *Terraform) Policy() workflow.Policy {
	return workflow.Policy{
		Timeout: p.cfg.Timeouts.VMCreation.D() + 5*time.Minute,
		Retries: 2,
		Backoff: 30 * time.Second,
	}
}

// configPath resolves a path of the config relative to its file.
func (p *Terraform) configPath(s string) string {
	if s == "" || filepath.IsAbs(s) || p.cfg.File() == "" {
		return s
	}
	return filepath.Join(filepath.Dir(p.cfg.File()), s)
}

// workDir is the Terraform working directory, absolute.
func (p *Terraform) workDir() (string, error) {
	if p.dirs.Terraform == "" {
		return "", errors.New("terraform: no working directory (the state store sets it)")
	}
	return filepath.Abs(p.dirs.Terraform)
}

// secretsDir is the secrets directory, absolute: the SSH key path is an
// output that later phases use from wherever they run.
func (p *Terraform) secretsDir(env *workflow.Env) string {
	dir := p.dirs.Secrets
	if dir == "" {
		dir = env.SecretsDir
	}
	if abs, err := filepath.Abs(dir); err == nil && dir != "" {
		return abs
	}
	return dir
}

// TerraformOutputsPresent is the precondition of nodes that work on the
// VMs (vpn, k0s): the terraform node's outputs are there and describe
// every VM. Its failure says what is missing and to re-run from terraform.
func TerraformOutputsPresent() workflow.Check {
	return workflow.Check{
		Name: "terraform outputs present",
		Fix:  "k0rdent run --from terraform",
		Check: func(_ context.Context, env *workflow.Env) error {
			out := env.Inputs[TerraformName]
			if len(out) == 0 {
				return errors.New("no outputs of the terraform node")
			}
			var missing []string
			for _, k := range tf.OutputNames() {
				if out[k] == "" {
					missing = append(missing, k)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("terraform outputs %s missing", strings.Join(missing, ", "))
			}
			vms, err := tf.ParseVMDetails(out[tf.OutputVMDetails])
			if err != nil {
				return err
			}
			var noIP []string
			for _, name := range sortedKeys(vms) {
				if vms[name].PublicIP == "" {
					noIP = append(noIP, name)
				}
			}
			if len(vms) == 0 {
				return errors.New("terraform output vm_details lists no VM")
			}
			if len(noIP) > 0 {
				return fmt.Errorf("VMs without a public IP: %s", strings.Join(noIP, ", "))
			}
			return nil
		},
	}
}

// wgInputs is what the terraform node takes from the wireguard node.
type wgInputs struct {
	port      int
	addresses map[string]string // VM name -> WireGuard address
	cloudInit map[string]string // VM name -> cloud-init document path
}

// wireguardInputs reads and checks the wireguard node's outputs for the
// configured hosts: every VM needs a WireGuard address and a cloud-init
// document that exists.
func wireguardInputs(env *workflow.Env, hosts []config.Host) (*wgInputs, error) {
	out := env.Inputs[WireGuardName]
	if len(out) == 0 {
		return nil, errors.New("no outputs of the wireguard node")
	}
	in := &wgInputs{addresses: map[string]string{}, cloudInit: map[string]string{}}
	port, err := strconv.Atoi(out[WireGuardOutputPort])
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("wireguard output %s is %q, want a UDP port", WireGuardOutputPort, out[WireGuardOutputPort])
	}
	in.port = port
	var peers []struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out[WireGuardOutputPeers]), &peers); err != nil {
		return nil, fmt.Errorf("wireguard output %s: %w", WireGuardOutputPeers, err)
	}
	for _, pr := range peers {
		addr, _, _ := strings.Cut(pr.Address, "/")
		in.addresses[pr.Name] = addr
	}
	var problems []string
	for _, h := range hosts {
		if in.addresses[h.Name] == "" {
			problems = append(problems, fmt.Sprintf("VM %s has no WireGuard peer", h.Name))
		}
		path := secretPath(env, out[WireGuardOutputCloudInit+h.Name])
		if path == "" {
			problems = append(problems, fmt.Sprintf("VM %s has no %s%s output", h.Name, WireGuardOutputCloudInit, h.Name))
			continue
		}
		if _, err := os.Stat(path); err != nil {
			problems = append(problems, fmt.Sprintf("VM %s: cloud-init document %s: %v", h.Name, path, errors.Unwrap(err)))
			continue
		}
		in.cloudInit[h.Name] = path
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return in, nil
}

// Preconditions implements workflow.Preconditioner.
func (p *Terraform) Preconditions() []workflow.Check {
	checks := []workflow.Check{{
		Name: "wireguard outputs present",
		Fix:  "k0rdent run --from wireguard",
		Check: func(_ context.Context, env *workflow.Env) error {
			_, err := wireguardInputs(env, p.cfg.Hosts())
			return err
		},
	}}
	if p.cfg.Terraform.Module == "" {
		// The embedded module works in Azure: without a subscription
		// (no login) nothing may start, not even terraform init.
		checks = append(checks, workflow.Check{
			Name: TerraformCheckAzureLogin,
			Fix:  "az login (or set azure.subscription_id, or export ARM_SUBSCRIPTION_ID)",
			Check: func(ctx context.Context, _ *workflow.Env) error {
				_, err := resolveSubscription(ctx, p.cfg)
				return err
			},
		})
	}
	return checks
}

// TerraformCheckAzureLogin is the name of the terraform node's
// precondition that an Azure subscription resolves (azure.subscription_id,
// ARM_SUBSCRIPTION_ID, or the Azure CLI's login), checked with the embedded
// Azure module before anything starts.
const TerraformCheckAzureLogin = "azure login"

// terraformVars builds the module's variables from the config and the
// wireguard node's outputs. It is pure: Run adds nothing to it.
func terraformVars(cfg *config.Config, wg *wgInputs, clusterID, owner, sshPublicKey string) (tf.Vars, error) {
	v := tf.Vars{
		ClusterID:      clusterID,
		SubscriptionID: cfg.Azure.SubscriptionID,
		Location:       cfg.Azure.Location,
		Owner:          owner,
		VMImage:        cfg.Azure.VMImage,
		VMPriority:     cfg.Azure.VMPriority,
		SpotMaxPrice:   -1, // pay up to the on-demand price; Azure evicts on capacity only
		OSDiskSizeGB:   cfg.Azure.OSDiskSizeGB,
		VNetPrefix:     cfg.Network.VNetPrefix,
		SubnetPrefix:   cfg.Network.SubnetPrefix,
		WireGuardPort:  wg.port,
		SSHUser:        cfg.SSH.Username,
		SSHPublicKey:   sshPublicKey,
		VMs:            map[string]tf.VM{},
	}
	if cfg.Azure.IsSpot() {
		v.EvictionPolicy = cfg.Azure.EvictionPolicy
	}
	var missing []string
	for i, h := range cfg.Hosts() {
		addr, ci := wg.addresses[h.Name], wg.cloudInit[h.Name]
		if addr == "" || ci == "" {
			missing = append(missing, h.Name)
			continue
		}
		v.VMs[h.Name] = tf.VM{Index: i, Role: h.Role, Size: h.Size, Zone: strconv.Itoa(h.Zone), WireGuardIP: addr, CloudInit: ci}
	}
	if len(missing) > 0 {
		return tf.Vars{}, fmt.Errorf("no WireGuard address or cloud-init document for %s (re-run: k0rdent run --from wireguard)", strings.Join(missing, ", "))
	}
	return v, nil
}

// module returns the module to apply and how to name it.
func (p *Terraform) module() (iofs.FS, string, error) {
	dir := p.configPath(p.cfg.Terraform.Module)
	if dir == "" {
		return tf.AzureModule(), "the embedded Azure module", nil
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return nil, "", fmt.Errorf("terraform.module %s: %w (set it to a module directory, or remove it to use the embedded Azure module)", dir, err)
	}
	return os.DirFS(dir), "module " + dir, nil
}

// binary finds terraform (providers/terraform.Find); download allows
// installing it with hc-install (Run and Destroy; never Verify, which
// status --check calls).
func (p *Terraform) binary(ctx context.Context, download bool) (string, error) {
	version := p.cfg.Terraform.Version
	if version == "" {
		version = tf.DefaultVersion
	}
	install := "" // a downloaded terraform goes to the user cache directory
	if cache, err := os.UserCacheDir(); err == nil {
		install = filepath.Join(cache, "k0rdent", "terraform", version)
	}
	bin := p.cfg.Terraform.Binary
	if strings.ContainsRune(bin, filepath.Separator) {
		bin = p.configPath(bin)
	}
	return tf.Find(ctx, tf.FindOptions{Binary: bin, Download: download, Version: version, InstallDir: install})
}

func (p *Terraform) exec(ctx context.Context, env *workflow.Env, download bool, srv TerraformStateServer) (*tf.Exec, error) {
	dir, err := p.workDir()
	if err != nil {
		return nil, err
	}
	bin, err := p.binary(ctx, download)
	if err != nil {
		return nil, err
	}
	o := tf.Options{Dir: dir, Binary: bin, Output: env.Output}
	if srv != nil {
		address, user, password := srv.Backend()
		o.Backend = &tf.HTTPBackend{Address: address, Username: user, Password: password}
		env.Log.Info("terraform", "binary", bin, "dir", dir, "state", "http backend "+address)
	} else {
		env.Log.Info("terraform", "binary", bin, "dir", dir)
	}
	return tf.New(o)
}

// TerraformStateServer is Terraform's http backend served by the state
// store while terraform runs (state.TerraformHTTP; Dirs.TerraformState
// starts one).
type TerraformStateServer interface {
	// Backend is the state's URL and the basic auth credentials.
	Backend() (address, username, password string)
	// HasState reports whether the store has a Terraform state.
	HasState() bool
	// Err is why the server last refused a request, or nil: terraform
	// itself reports only a status code.
	Err() error
	// Close stops serving.
	Close() error
}

// stateServer starts Terraform's state server when the store keeps
// Terraform's state (nil, nil when Terraform keeps it in its work dir).
func (p *Terraform) stateServer(ctx context.Context) (TerraformStateServer, error) {
	if p.dirs.TerraformState == nil {
		return nil, nil
	}
	srv, err := p.dirs.TerraformState(ctx)
	if err != nil {
		return nil, fmt.Errorf("serve Terraform's state from the state store: %w", err)
	}
	return srv, nil
}

// stateRefused adds to a terraform error why the state server refused
// a request, if it did.
func stateRefused(err error, srv TerraformStateServer) error {
	if err == nil || srv == nil || srv.Err() == nil {
		return err
	}
	return fmt.Errorf("%w (the state store refused Terraform's request: %v)", err, srv.Err())
}

// hasState reports whether Terraform's state manages anything: the
// store's state when it keeps one, else terraform.tfstate in dir.
func hasState(dir string, srv TerraformStateServer) (bool, error) {
	if srv != nil {
		return srv.HasState(), nil
	}
	return tf.HasState(dir)
}

// Run implements workflow.Phase.
func (p *Terraform) Run(ctx context.Context, env *workflow.Env) error {
	dir, err := p.workDir()
	if err != nil {
		return err
	}
	wg, err := wireguardInputs(env, p.cfg.Hosts())
	if err != nil {
		return fmt.Errorf("%w (re-run: k0rdent run --from wireguard)", err)
	}
	module, moduleName, err := p.module()
	if err != nil {
		return err
	}
	if err := tf.WriteModule(dir, module); err != nil {
		return err
	}
	clusterID, err := p.clusterID(dir)
	if err != nil {
		return err
	}
	keyPath, pub, err := p.sshKey(p.secretsDir(env))
	if err != nil {
		return err
	}
	vars, err := terraformVars(p.cfg, wg, clusterID, owner(p.cfg), pub)
	if err != nil {
		return err
	}
	// One subscription per run, journalled, handed to Terraform and (by
	// the outputs) to the Azure SDK: phases/subscription.go.
	if vars.SubscriptionID, err = terraformSubscription(ctx, env, p.cfg); err != nil {
		return err
	}
	srv, err := p.stateServer(ctx)
	if err != nil {
		return err
	}
	if srv != nil {
		defer srv.Close()
	}
	adopting, err := adoption(dir, srv)
	if err != nil {
		return err
	}
	if adopting != nil {
		if err := adoptVars(&vars, adopting, p.cfg); err != nil {
			return err
		}
	} else if adopted, err := tf.ReadAdopted(dir); err != nil {
		return err
	} else if adopted != nil {
		keepAdopted(&vars, adopted) // the adopted VMs keep their names and custom data
	}
	varsPath, err := tf.WriteVars(dir, vars)
	if err != nil {
		return err
	}
	env.Log.Info("terraform inputs", "module", moduleName, "vars", varsPath, "cluster_id", clusterID, "vms", len(vars.VMs), "ssh_key", keyPath)

	t, err := p.exec(ctx, env, true, srv)
	if err != nil {
		return err
	}
	if err := t.Init(ctx); err != nil {
		return transientTerraform(stateRefused(err, srv))
	}
	if adopting != nil {
		n, err := p.adopt(ctx, env, t, dir, module, adopting, vars.SubscriptionID)
		if err != nil {
			return stateRefused(err, srv)
		}
		env.SetOutput(TerraformOutputImported, strconv.Itoa(n))
	} else if err := t.Apply(ctx); err != nil {
		return transientTerraform(stateRefused(err, srv))
	}
	out, err := t.Output(ctx)
	if err != nil {
		return stateRefused(err, srv)
	}
	var missing []string
	for _, name := range tf.OutputNames() {
		if _, ok := out[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s has no output %s (a module must declare: %s)", moduleName, strings.Join(missing, ", "), strings.Join(tf.OutputNames(), ", "))
	}
	for k, v := range out {
		env.SetOutput(k, v)
	}
	env.SetOutput(TerraformOutputSSHUser, p.cfg.SSH.Username)
	env.SetOutput(TerraformOutputSSHKeyPath, keyPath)
	env.SetOutput(TerraformOutputClusterID, clusterID)
	return nil
}

// transientMarkers are pieces of terraform errors that clear by themselves.
var transientMarkers = []string{
	"RetryableError", "TooManyRequests", "429 Too Many Requests", "connection reset by peer",
	"i/o timeout", "TLS handshake timeout", "Error acquiring the state lock",
	"AllocationFailed", "ZonalAllocationFailed", "OverconstrainedAllocationRequest",
}

// transientTerraform marks err transient when terraform's message says it
// may clear by itself (throttling, a dropped connection, capacity).
func transientTerraform(err error) error {
	msg := err.Error()
	for _, m := range transientMarkers {
		if strings.Contains(msg, m) {
			return workflow.Transient(err)
		}
	}
	return err
}

// Verify implements workflow.Verifier: a refresh-only plan (nothing is
// written) must find no resource changed outside Terraform, and the
// refreshed outputs must equal those the journal recorded for the last
// apply (env.Recorded).
func (p *Terraform) Verify(ctx context.Context, env *workflow.Env) error {
	recorded := map[string]string{}
	for _, k := range tf.OutputNames() {
		if v, ok := env.Recorded[k]; ok {
			recorded[k] = v
		}
	}
	if len(recorded) == 0 {
		return errors.New("no recorded outputs of a terraform apply (re-run: k0rdent run --from terraform)")
	}
	srv, err := p.stateServer(ctx)
	if err != nil {
		return err
	}
	if srv != nil {
		defer srv.Close()
		if !srv.HasState() {
			return errors.New("no Terraform state in the state store (re-run: k0rdent run --from terraform)")
		}
	}
	if dir, err := p.workDir(); err == nil {
		if a, err := adoption(dir, srv); err == nil && a != nil {
			return fmt.Errorf("the legacy deployment's %d VMs and their network are not imported into Terraform yet: the terraform node runs to import them (changing nothing, or stopping before apply)", len(a.VMs))
		}
	}
	t, err := p.exec(ctx, env, false, srv)
	if err != nil {
		return err
	}
	if srv != nil {
		// The work dir came from the store without .terraform/: init
		// (providers, and this server's address) before the plan.
		if err := t.Init(ctx); err != nil {
			return stateRefused(err, srv)
		}
	}
	d, err := t.Drift(ctx)
	if err != nil {
		return stateRefused(err, srv)
	}
	problems := slices.Clone(d.Resources)
	keys := make([]string, 0, len(recorded))
	for k := range recorded {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		now, ok := d.Outputs[k]
		switch {
		case !ok:
			problems = append(problems, "output "+k+" gone")
		case now != recorded[k]:
			problems = append(problems, "output "+k+": "+diffOutput(recorded[k], now))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("infrastructure drifted: %s (repair: k0rdent run --from terraform)", strings.Join(problems, "; "))
	}
	return nil
}

// diffOutput says how an output changed: for JSON objects, which keys were
// added, removed or changed; otherwise the old and new value.
func diffOutput(was, now string) string {
	var a, b map[string]json.RawMessage
	if json.Unmarshal([]byte(was), &a) != nil || json.Unmarshal([]byte(now), &b) != nil {
		return fmt.Sprintf("was %q, now %q", was, now)
	}
	var parts []string
	for _, k := range sortedKeys(a) {
		if _, ok := b[k]; !ok {
			parts = append(parts, k+" removed")
		} else if string(a[k]) != string(b[k]) {
			parts = append(parts, k+" changed")
		}
	}
	for _, k := range sortedKeys(b) {
		if _, ok := a[k]; !ok {
			parts = append(parts, k+" added")
		}
	}
	return strings.Join(parts, ", ")
}

// Destroy implements workflow.Destroyer: terraform destroy of everything
// the state holds. The cluster id and the SSH key are kept (a later run
// reuses them); the record of the last apply is removed.
func (p *Terraform) Destroy(ctx context.Context, env *workflow.Env) error {
	dir, err := p.workDir()
	if err != nil {
		return err
	}
	srv, err := p.stateServer(ctx)
	if err != nil {
		return err
	}
	if srv != nil {
		defer srv.Close()
	}
	if has, err := hasState(dir, srv); err != nil || !has {
		if err != nil {
			return err
		}
		// A migrated deployment not adopted yet: the bash tool's
		// resources exist, but no Terraform state knows them.
		if a, err := tf.ReadAdoption(dir); err != nil || a != nil {
			if err != nil {
				return err
			}
			return neverAdopted(a)
		}
		env.Log.Info("no terraform state: nothing to destroy", "dir", dir)
		return nil
	}
	t, err := p.exec(ctx, env, true, srv)
	if err != nil {
		return err
	}
	if err := t.Init(ctx); err != nil {
		return transientTerraform(stateRefused(err, srv))
	}
	if err := t.Destroy(ctx); err != nil {
		return transientTerraform(stateRefused(err, srv))
	}
	return nil
}

// neverAdopted is the Destroy of a migrated deployment whose resources
// were never adopted: Terraform cannot destroy what it has no state for,
// and saying "nothing to destroy" would let the teardown record them gone.
func neverAdopted(a *tf.Adoption) error {
	rg := a.ResourceGroup
	if rg == "" {
		rg = a.ClusterID + "-resgrp"
	}
	return fmt.Errorf("nothing destroyed: the bash tool's resources (resource group %s, %d VMs) were migrated but never adopted, so Terraform has no state for them;"+
		" adopt them with `k0rdent run --only terraform` and reset again, or delete them by hand: az group delete --name %s", rg, len(a.VMs), rg)
}

// Describe implements workflow.Describer.
func (p *Terraform) Describe(env *workflow.Env) []string {
	c := p.cfg
	module := "the embedded Azure module"
	if c.Terraform.Module != "" {
		module = "module " + p.configPath(c.Terraform.Module)
	}
	port := "<the wireguard node's port>"
	if v, ok := env.Input(WireGuardName, WireGuardOutputPort); ok {
		port = v
	} else if c.Network.WireGuardPort != 0 {
		port = strconv.Itoa(c.Network.WireGuardPort)
	}
	lines := []string{
		fmt.Sprintf("terraform init and apply of %s in %s", module, p.dirs.Terraform),
		fmt.Sprintf("resource group <cluster-id>-resgrp in %s; VNet %s, subnet %s; NSG allows UDP %s (WireGuard) and TCP 22 (SSH)",
			c.Azure.Location, c.Network.VNetPrefix, c.Network.SubnetPrefix, port),
	}
	if c.Terraform.Module == "" {
		lines = append(lines[:1], append([]string{azurermPlanLine(p.dirs.Terraform)}, lines[1:]...)...)
	}
	prio := c.Azure.VMPriority
	if c.Azure.IsSpot() {
		prio += ", eviction " + c.Azure.EvictionPolicy
	}
	for _, h := range c.Hosts() {
		lines = append(lines, fmt.Sprintf("VM %s: %s, %s, zone %d, %s, image %s", h.Name, h.Role, h.Size, h.Zone, prio, c.Azure.VMImage))
	}
	if p.dirs.TerraformState != nil {
		lines = append(lines, "Terraform's state in the state store, served to terraform's http backend on 127.0.0.1 while it runs")
	}
	if dir, err := p.workDir(); err == nil {
		if a, err := adoption(dir, nil); err != nil {
			lines = append(lines, "adoption: "+err.Error())
		} else if a != nil {
			lines = append(lines, describeAdoption(a, p.cfg)...)
		}
	}
	legacyKey := ""
	if env == nil && p.dirs.Secrets == "" {
		// no secrets directory to look in
	} else if sd := p.secretsDir(env); sd != "" {
		if _, err := os.Stat(filepath.Join(sd, "ssh", legacySSHKeyFile+".pub")); err == nil {
			legacyKey = filepath.Join(sd, "ssh", legacySSHKeyFile)
		}
	}
	if c.SSH.KeyPath != "" {
		lines = append(lines, fmt.Sprintf("SSH user %s with the key %s", c.SSH.Username, p.configPath(c.SSH.KeyPath)))
	} else if legacyKey != "" {
		lines = append(lines, fmt.Sprintf("SSH user %s with the legacy tool's admin key %s (kept: the VMs hold it)", c.SSH.Username, legacyKey))
	} else {
		lines = append(lines, fmt.Sprintf("SSH user %s with an ed25519 key generated once in secrets/ssh/", c.SSH.Username))
	}
	return lines
}

// clusterID returns the cluster id: the one kept in the working directory
// dir, else runtime.yaml's when it has a suffix (a migrated deployment;
// the bare metadata.name is not unique enough to name Azure resources),
// else a new <metadata.name>-<8 random>. It is kept in dir.
func (p *Terraform) clusterID(dir string) (string, error) {
	path := filepath.Join(dir, terraformClusterIDFile)
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read cluster id: %w", err)
	}
	id := p.dirs.ClusterID
	if id == "" || id == p.cfg.Metadata.Name {
		const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("cluster id: %w", err)
		}
		for i := range b {
			b[i] = alphabet[int(b[i])%len(alphabet)]
		}
		id = p.cfg.Metadata.Name + "-" + string(b)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep the cluster id in %s: %w", path, err)
	}
	return id, nil
}

// owner is metadata.owner, else user@host.
func owner(cfg *config.Config) string {
	if cfg.Metadata.Owner != "" {
		return cfg.Metadata.Owner
	}
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	if host == "" {
		return name
	}
	return name + "@" + host
}

// sshKey returns the VMs' SSH private key path and public key: ssh.key_path
// and its .pub, or an ed25519 pair generated once in <secrets>/ssh/.
func (p *Terraform) sshKey(secrets string) (keyPath, public string, err error) {
	if kp := p.cfg.SSH.KeyPath; kp != "" {
		kp = p.configPath(kp)
		b, err := os.ReadFile(kp + ".pub")
		if err != nil {
			return "", "", fmt.Errorf("ssh.key_path %s: public key: %w (put the public key beside it as %s.pub, or remove ssh.key_path to have one generated)", kp, err, kp)
		}
		if _, _, _, _, err := ssh.ParseAuthorizedKey(b); err != nil {
			return "", "", fmt.Errorf("ssh.key_path %s.pub: %w (want an OpenSSH public key)", kp, err)
		}
		return kp, strings.TrimSpace(string(b)), nil
	}
	if secrets == "" {
		return "", "", errors.New("terraform: no secrets directory for the SSH key (the state store sets it)")
	}
	// A migrated deployment's VMs hold the legacy tool's admin key: keep it.
	legacy := filepath.Join(secrets, "ssh", legacySSHKeyFile)
	if b, err := os.ReadFile(legacy + ".pub"); err == nil {
		if _, err := os.Stat(legacy); err == nil {
			return legacy, strings.TrimSpace(string(b)), nil
		}
	}
	return ensureSSHKey(filepath.Join(secrets, "ssh"), "k0rdent")
}

// legacySSHKeyFile is where the legacy migration copies the bash tool's
// admin SSH key (and .pub) under <secrets>/ssh/ (state.LegacySSHKeySecret).
const legacySSHKeyFile = "legacy-admin-key"

// adoption returns the legacy resources to adopt: those the migration
// recorded in the working directory, as long as no Terraform state (the
// store's, through srv, or the work dir's) manages anything yet.
func adoption(dir string, srv TerraformStateServer) (*tf.Adoption, error) {
	a, err := tf.ReadAdoption(dir)
	if err != nil || a == nil {
		return nil, err
	}
	if has, err := hasState(dir, srv); err != nil || has {
		return nil, err
	}
	return a, nil
}

// adoptVars adapts the variables to an adoption: every VM the legacy
// state records keeps its resource names and the custom data it was built
// with. A recorded VM the config does not have, or another region, is a
// mismatch the operator must settle first.
func adoptVars(vars *tf.Vars, a *tf.Adoption, cfg *config.Config) error {
	var errs []error
	if a.Location != "" && a.Location != cfg.Azure.Location {
		errs = append(errs, fmt.Errorf("the legacy deployment is in %s, azure.location is %s", a.Location, cfg.Azure.Location))
	}
	for _, name := range slices.Sorted(maps.Keys(a.VMs)) {
		if _, ok := vars.VMs[name]; !ok {
			errs = append(errs, fmt.Errorf("the legacy deployment has VM %s (%s), the config does not", name, a.VMs[name].Role))
		}
	}
	keepAdopted(vars, a)
	if len(errs) > 0 {
		return &AdoptionError{Problems: errs}
	}
	return nil
}

// keepAdopted gives the VMs adopted earlier their legacy names and the
// custom data they were built with, in every run after the adoption.
func keepAdopted(vars *tf.Vars, a *tf.Adoption) {
	vars.LegacyNames = map[string]tf.LegacyNames{}
	for name, lv := range a.VMs {
		vm, ok := vars.VMs[name]
		if !ok {
			continue
		}
		vm.CloudInit = ""
		vars.VMs[name] = vm
		azName := lv.Name
		if azName == "" {
			azName = name
		}
		vars.LegacyNames[name] = tf.LegacyNames{VM: azName, NIC: lv.NIC, PublicIP: lv.PublicIPName, IPConfiguration: lv.IPConfiguration}
	}
}

// AdoptionError: the resources of a migrated legacy deployment cannot be
// adopted as the config stands. Nothing was applied.
type AdoptionError struct {
	Problems []error
}

func (e *AdoptionError) Error() string {
	var b strings.Builder
	b.WriteString("terraform: the legacy deployment cannot be adopted without changing what exists; nothing was applied:")
	for _, p := range e.Problems {
		b.WriteString("\n  - " + p.Error())
	}
	b.WriteString("\nchoices: fix the config to match the deployment (cluster.controllers, cluster.workers: count and size, azure.location, azure.vm_image), then `k0rdent run --resume`;" +
		" or leave it alone and deploy fresh elsewhere (another config and state directory, `k0rdent run --fresh`)")
	return b.String()
}

func (e *AdoptionError) Unwrap() []error { return e.Problems }

// adopt imports the legacy resources: import blocks, a saved plan that
// must import and neither replace nor destroy anything, nor change
// anything but tags, then its apply. It returns how many were imported.
func (p *Terraform) adopt(ctx context.Context, env *workflow.Env, t *tf.Exec, dir string, module iofs.FS, a *tf.Adoption, subscription string) (int, error) {
	imports, err := tf.Imports(module, a, subscription)
	if err != nil {
		return 0, err
	}
	if err := tf.WriteImports(dir, imports); err != nil {
		return 0, err
	}
	planFile := filepath.Join(dir, ".k0rdent-adopt.tfplan")
	defer os.Remove(planFile)
	sum, err := t.PlanFile(ctx, planFile)
	if err != nil {
		tf.RemoveImports(dir)
		if strings.Contains(err.Error(), "non-existent") || strings.Contains(err.Error(), "Cannot import") {
			return 0, &AdoptionError{Problems: []error{fmt.Errorf("a resource the legacy state records does not exist: %w", err)}}
		}
		return 0, transientTerraform(err)
	}
	env.Log.Info("adoption plan", "summary", sum.String(), "import", sum.Import, "add", sum.Add, "change", sum.Change, "destroy", sum.Destroy)
	var problems []error
	for _, addr := range sum.Destroy {
		problems = append(problems, fmt.Errorf("%s would be destroyed or replaced", addr))
	}
	for _, addr := range sum.Change {
		if attrs := sum.Changed[addr]; len(attrs) > 0 {
			problems = append(problems, fmt.Errorf("%s would change: %s", addr, strings.Join(attrs, ", ")))
		}
	}
	for _, im := range imports {
		if !slices.Contains(sum.Import, im.To) {
			problems = append(problems, fmt.Errorf("%s (%s) is recorded by the legacy state but would not be imported", im.To, im.ID))
		}
	}
	if len(problems) > 0 {
		tf.RemoveImports(dir)
		return 0, &AdoptionError{Problems: problems}
	}
	if err := t.ApplyPlanFile(ctx, planFile); err != nil {
		return 0, transientTerraform(err)
	}
	return len(sum.Import), tf.AdoptionDone(dir)
}

// ensureSSHKey returns dir/id_ed25519 and its public key, generating the
// pair (private 0600, public 0644, dir 0700) when the private key is
// missing. An existing key is never replaced.
func ensureSSHKey(dir, comment string) (keyPath, public string, err error) {
	keyPath = filepath.Join(dir, "id_ed25519")
	if b, err := os.ReadFile(keyPath); err == nil {
		signer, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return "", "", fmt.Errorf("ssh key %s: %w (remove it to have a new one generated)", keyPath, err)
		}
		pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " " + comment
		return keyPath, pub, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("ssh key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("ssh key directory: %w", err)
	}
	pubKey, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate ssh key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return "", "", fmt.Errorf("encode ssh key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pubKey)
	if err != nil {
		return "", "", fmt.Errorf("encode ssh public key: %w", err)
	}
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " " + comment
	if err := os.WriteFile(keyPath+".pub", []byte(pub+"\n"), 0o644); err != nil {
		return "", "", fmt.Errorf("write ssh public key: %w", err)
	}
	// The private key last, through a temporary file: its presence means
	// the pair is complete.
	tmp := keyPath + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
		return "", "", fmt.Errorf("write ssh key: %w", err)
	}
	if err := os.Rename(tmp, keyPath); err != nil {
		return "", "", fmt.Errorf("write ssh key: %w", err)
	}
	return keyPath, pub, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// describeAdoption is what `run --plan` says about an adoption.
func describeAdoption(a *tf.Adoption, cfg *config.Config) []string {
	rg := a.ResourceGroup
	if rg == "" {
		rg = a.ClusterID + "-resgrp"
	}
	vms := slices.Sorted(maps.Keys(a.VMs))
	lines := []string{fmt.Sprintf("adopt the legacy deployment %s: terraform import blocks for resource group %s, %s-vnet, %s-subnet, %s-nsg and, for %s (%s), each VM, its NIC and public IP; "+
		"the plan must read \"N to import, 0 to add, 0 to destroy\" or the run stops before apply", a.ClusterID, rg, a.ClusterID, a.ClusterID, a.ClusterID, plural(len(vms), "VM"), strings.Join(vms, ", "))}
	var hosts []string
	for _, h := range cfg.Hosts() {
		hosts = append(hosts, h.Name)
	}
	for _, v := range vms {
		if !slices.Contains(hosts, v) {
			lines = append(lines, fmt.Sprintf("mismatch: the legacy deployment has VM %s, the config does not: the run will stop (fix cluster.controllers/workers)", v))
		}
	}
	return lines
}
