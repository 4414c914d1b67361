package phases

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/k0sproject/k0sctl/pkg/apis/k0sctl.k0sproject.io/v1beta1"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/providers/k0sctl"
	"github.com/k0rdent/k0rdent-deploy/providers/wireguard"
	"github.com/k0rdent/k0rdent-deploy/workflow"
)

// K0sName is the k0s node's name: the journal key.
const K0sName = "k0s"

// Outputs of the k0s node.
const (
	K0sOutputKubeconfig   = "kubeconfig"    // the admin kubeconfig, 0600 under secrets/k0s
	K0sOutputK0sctlConfig = "k0sctl_config" // the k0sctl.yaml written (SSH key path only)
	K0sOutputAPIEndpoint  = "api_endpoint"  // https://<first controller's WireGuard IP>:6443
	K0sOutputVersion      = "k0s_version"   // the k0s version installed
)

// Where the k0s node keeps its files: the k0sctl configuration in its work
// dir (Dirs.K0s: it is not secret), the kubeconfig under secrets.
const (
	k0sSecretsSubdir = "k0s"
	k0sctlFile       = "k0sctl.yaml"
	kubeconfigFile   = "kubeconfig"
)

func k0sPlugin() Plugin {
	return Plugin{
		Name:        K0sName,
		Description: "k0s on the VMs with k0sctl (as a library) over SSH through the tunnel; the admin kubeconfig into secrets/",
		DependsOn:   []string{WireGuardName, TerraformName, VPNName},
		Factory: func(bc BuildContext) ([]workflow.Phase, error) {
			return []workflow.Phase{NewK0s(bc)}, nil
		},
	}
}

// K0s is the k0s node: it builds the k0sctl cluster configuration from the
// config and the upstream outputs, writes it, applies it with k0sctl and
// saves the admin kubeconfig.
//
// Inputs: the wireguard node's peers (each VM's WireGuard IP and role),
// the terraform node's cluster_id, ssh_user and ssh_key_path, and the vpn
// node (its tunnel must be up). Hosts are addressed by their WireGuard IP:
// k0sctl connects through the tunnel, as the bash tool did.
//
// Run writes <state>/k0s/k0sctl.yaml (0600; it names the SSH key's path,
// never the key) and runs k0sctl's apply (providers/k0sctl): connect,
// facts, validation, binary download or upload (software.k0s.binary_path:
// air-gapped), configuration, install of the controllers then the workers,
// and the admin kubeconfig, saved to <secrets>/k0s/kubeconfig (0600). The
// whole attempt is bounded by timeouts.k0s_install. k0sctl's apply is
// idempotent: on a host where k0s already runs at the configured version
// it installs nothing, so a resumed run that repeats it is safe.
// Outputs: kubeconfig, k0sctl_config, api_endpoint, k0s_version.
//
// Preconditions: the VPN is reachable (VPNReachable) and every VM's sshd
// answers with an SSH banner on its WireGuard address. Verify asks the API
// server for its version with the kubeconfig. Destroy runs k0sctl's reset
// from the k0sctl.yaml it wrote (the VMs must be reachable; when they are
// gone with the infrastructure there is nothing to reset and the missing
// file makes it a no-op).
type K0s struct {
	cfg  *config.Config
	dirs Dirs

	// Replaceable in tests; the defaults are k0sctl.Apply, k0sctl.Reset,
	// k0sctl.ServerVersion, VPNReachable and sshBanner.
	apply   func(ctx context.Context, c *v1beta1.Cluster, opts k0sctl.Options) ([]byte, error)
	reset   func(ctx context.Context, c *v1beta1.Cluster, opts k0sctl.Options) error
	version func(ctx context.Context, kubeconfig string, timeout time.Duration) (string, error)
	vpn     workflow.Check
	banner  func(ctx context.Context, addr string) (string, error)
}

var (
	_ workflow.Phase          = (*K0s)(nil)
	_ workflow.Describer      = (*K0s)(nil)
	_ workflow.Preconditioner = (*K0s)(nil)
	_ workflow.Verifier       = (*K0s)(nil)
	_ workflow.Policer        = (*K0s)(nil)
	_ workflow.Destroyer      = (*K0s)(nil)
)

// NewK0s returns the k0s phase for bc.
func NewK0s(bc BuildContext) *K0s {
	return &K0s{
		cfg:     bc.Config,
		dirs:    bc.Dirs,
		apply:   k0sctl.Apply,
		reset:   k0sctl.Reset,
		version: k0sctl.ServerVersion,
		vpn:     VPNReachable(),
		banner:  sshBanner,
	}
}

// Name implements workflow.Phase.
func (p *K0s) Name() string { return K0sName }

// DependsOn implements workflow.Phase.
func (p *K0s) DependsOn() []string { return []string{WireGuardName, TerraformName, VPNName} }

// Policy implements workflow.Policer: an attempt is bounded by
// timeouts.k0s_install. A failed apply is not retried by the scheduler:
// k0sctl retries its own waits, and a resume re-runs it.
func (p *K0s) Policy() workflow.Policy {
	return workflow.Policy{Timeout: p.cfg.Timeouts.K0sInstall.D()}
}

// ConfigPath is the k0sctl.yaml the phase writes, absolute.
func (p *K0s) ConfigPath() string {
	return absPath(filepath.Join(p.dirs.K0s, k0sctlFile))
}

func (p *K0s) kubeconfigPath(env *workflow.Env) string {
	dir := p.dirs.Secrets
	if dir == "" && env != nil {
		dir = env.SecretsDir
	}
	return absPath(filepath.Join(dir, k0sSecretsSubdir, kubeconfigFile))
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// Describe implements workflow.Describer.
func (p *K0s) Describe(env *workflow.Env) []string {
	ctl, wrk := p.cfg.Cluster.Controllers.Count, p.cfg.Cluster.Workers.Count
	bin := "the hosts download k0s " + p.cfg.Software.K0s.Version
	if b := p.cfg.K0sBinaryPath(); b != "" {
		bin = "upload the local k0s binary " + b + " (air-gapped)"
	}
	return []string{
		fmt.Sprintf("write %s: %s, %s by WireGuard IP, k0s %s", p.ConfigPath(), plural(ctl, "controller"), plural(wrk, "worker"), p.cfg.Software.K0s.Version),
		fmt.Sprintf("k0sctl apply over SSH as %s through the tunnel; %s", p.cfg.SSH.Username, bin),
		fmt.Sprintf("save the admin kubeconfig to %s (0600), within %s (timeouts.k0s_install)", p.kubeconfigPath(env), p.cfg.Timeouts.K0sInstall),
	}
}

// Preconditions implements workflow.Preconditioner.
func (p *K0s) Preconditions() []workflow.Check {
	return []workflow.Check{
		p.vpn,
		{
			Name: "ssh answers on every host",
			Fix:  "k0rdent run --from vpn (and check sshd on the VMs named)",
			Check: func(ctx context.Context, env *workflow.Env) error {
				hosts, err := k0sHosts(env)
				if err != nil {
					return err
				}
				port := p.cfg.VPN.SSHPort
				var errs []error
				for _, h := range hosts {
					addr := net.JoinHostPort(h.Address, strconv.Itoa(port))
					dctx, cancel := context.WithTimeout(ctx, p.cfg.Timeouts.SSHConnect.D())
					_, err := p.banner(dctx, addr)
					cancel()
					if err != nil {
						errs = append(errs, fmt.Errorf("%s (%s): %w (try: ssh -i <ssh_key_path> %s@%s)", h.Name, addr, err, p.cfg.SSH.Username, h.Address))
					}
				}
				return errors.Join(errs...)
			},
		},
	}
}

// sshBanner connects to addr and reads the server's identification line.
func sshBanner(ctx context.Context, addr string) (string, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("no SSH banner: %w", err)
	}
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "SSH-") {
		return "", fmt.Errorf("not an SSH server: it said %q", line)
	}
	return line, nil
}

// k0sHosts are the VMs from the wireguard node's peers: name, role and
// WireGuard IP, controllers first.
func k0sHosts(env *workflow.Env) ([]k0sctl.Host, error) {
	raw, ok := env.Input(WireGuardName, WireGuardOutputPeers)
	if !ok {
		return nil, fmt.Errorf("wireguard output %q missing (k0rdent run --from wireguard)", WireGuardOutputPeers)
	}
	var peers []vpnPeer
	if err := json.Unmarshal([]byte(raw), &peers); err != nil {
		return nil, fmt.Errorf("wireguard output %q: %w", WireGuardOutputPeers, err)
	}
	var hosts []k0sctl.Host
	for _, pe := range peers {
		if pe.Role == wireguard.RoleHub {
			continue
		}
		hosts = append(hosts, k0sctl.Host{Name: pe.Name, Role: pe.Role, Address: pe.Address})
	}
	if len(hosts) == 0 {
		return nil, fmt.Errorf("wireguard output %q has no VM", WireGuardOutputPeers)
	}
	return hosts, nil
}

// spec builds the k0sctl spec from the config and the inputs.
func (p *K0s) spec(env *workflow.Env) (k0sctl.Spec, error) {
	hosts, err := k0sHosts(env)
	if err != nil {
		return k0sctl.Spec{}, err
	}
	var missing []string
	in := func(key string) string {
		v, ok := env.Input(TerraformName, key)
		if !ok || v == "" {
			missing = append(missing, key)
		}
		return v
	}
	clusterID, user, key := in(TerraformOutputClusterID), in(TerraformOutputSSHUser), in(TerraformOutputSSHKeyPath)
	if len(missing) > 0 {
		return k0sctl.Spec{}, fmt.Errorf("terraform outputs missing: %s (k0rdent run --from terraform)", strings.Join(missing, ", "))
	}
	n := p.cfg.Software.K0s.Network
	return k0sctl.Spec{
		ClusterName:   clusterID,
		SSHUser:       user,
		SSHKeyPath:    secretPath(env, key),
		SSHPort:       p.cfg.VPN.SSHPort,
		K0sVersion:    p.cfg.Software.K0s.Version,
		K0sBinaryPath: p.cfg.K0sBinaryPath(),
		Network: k0sctl.Network{
			Provider:                      n.Provider,
			CalicoIPAutodetection:         n.CalicoIPAutodetection,
			PodCIDR:                       n.PodCIDR,
			ServiceCIDR:                   n.ServiceCIDR,
			DisableNodeLocalLoadBalancing: n.DisableNodeLocalLoadBalancing,
		},
		Hosts: hosts,
	}, nil
}

// Run implements workflow.Phase.
func (p *K0s) Run(ctx context.Context, env *workflow.Env) error {
	spec, err := p.spec(env)
	if err != nil {
		return err
	}
	if b := spec.K0sBinaryPath; b != "" {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("software.k0s.binary_path: %w (put the k0s %s binary there, or remove the key to have the hosts download it)", err, spec.K0sVersion)
		}
	}
	c, err := k0sctl.Build(spec)
	if err != nil {
		return err
	}
	cfgPath := p.ConfigPath()
	if err := k0sctl.WriteConfig(cfgPath, c); err != nil {
		return err
	}
	endpoint := c.Spec.KubeAPIURL()
	env.Log.Info("k0sctl configuration written", "path", cfgPath, "hosts", len(c.Spec.Hosts), "k0s", spec.K0sVersion, "api", endpoint, "upload_binary", spec.K0sBinaryPath != "")

	opts := k0sctl.Options{Log: env.Output, RetryTimeout: p.cfg.Timeouts.K0sInstall.D() / 4}
	kc, err := p.apply(ctx, c, opts)
	if k0sctl.IsInterruptedInstall(err) && ctx.Err() == nil {
		// An earlier attempt was stopped (killed, cancelled) between
		// `k0s install` and starting the service. k0sctl's remedy is
		// --force, which reinstalls the service; k0sctl changes c, so it
		// is built anew.
		env.Log.Warn("k0s is installed but not running on a host: an earlier attempt was interrupted; applying again with k0sctl's --force", "error", err)
		if c, err = k0sctl.Build(spec); err != nil {
			return err
		}
		opts.Force = true
		kc, err = p.apply(ctx, c, opts)
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w (k0sctl: %v)", ctx.Err(), err)
		}
		return fmt.Errorf("%w (k0sctl log in this node's log; configuration %s)", err, cfgPath)
	}
	kcPath := p.kubeconfigPath(env)
	if err := k0sctl.SaveKubeconfig(kcPath, kc); err != nil {
		return err
	}
	env.Log.Info("admin kubeconfig saved", "path", kcPath)
	env.SetOutput(K0sOutputKubeconfig, kcPath)
	env.SetOutput(K0sOutputK0sctlConfig, cfgPath)
	env.SetOutput(K0sOutputAPIEndpoint, endpoint)
	env.SetOutput(K0sOutputVersion, spec.K0sVersion)
	return nil
}

// Verify implements workflow.Verifier: the API server answers its version
// to the saved kubeconfig.
func (p *K0s) Verify(ctx context.Context, env *workflow.Env) error {
	path := secretPath(env, env.Recorded[K0sOutputKubeconfig])
	if path == "" {
		path = p.kubeconfigPath(env)
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("admin kubeconfig: %w", err)
	}
	v, err := p.version(ctx, path, 10*time.Second)
	if err != nil {
		return err
	}
	env.Log.Info("api server answers", "version", v, "kubeconfig", path)
	return nil
}

// Destroy implements workflow.Destroyer: k0sctl reset with the k0sctl.yaml
// the last run wrote. Without that file nothing was installed by this
// state directory, and there is nothing to do.
func (p *K0s) Destroy(ctx context.Context, env *workflow.Env) error {
	path := p.ConfigPath()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		env.Log.Info("no k0sctl configuration: nothing to reset", "path", path)
		return nil
	}
	c, err := k0sctl.ReadConfig(path)
	if err != nil {
		return err
	}
	if err := p.reset(ctx, c, k0sctl.Options{Log: env.Output}); err != nil {
		return fmt.Errorf("%w (the VMs must be reachable: k0rdent run --only vpn first)", err)
	}
	os.Remove(p.kubeconfigPath(env))
	return nil
}
