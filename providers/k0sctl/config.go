package k0sctl

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"github.com/k0sproject/dig"
	"github.com/k0sproject/k0sctl/pkg/apis/k0sctl.k0sproject.io/v1beta1"
	"github.com/k0sproject/k0sctl/pkg/apis/k0sctl.k0sproject.io/v1beta1/cluster"
	"github.com/k0sproject/rig/v2"
	"github.com/k0sproject/rig/v2/protocol/ssh"
	"github.com/k0sproject/version"
	"gopkg.in/yaml.v2"
)

// Roles of the deployment's hosts (config.Host.Role).
const (
	RoleController = "controller"
	RoleWorker     = "worker"
)

// k0sctl roles.
const (
	roleController       = "controller"
	roleControllerWorker = "controller+worker"
	roleWorker           = "worker"
)

// Host is one VM as the k0s phase knows it: its name, its role in the
// deployment spec (RoleController or RoleWorker) and the address k0sctl
// connects to (its WireGuard IP).
type Host struct {
	Name    string
	Role    string
	Address string
}

// Network is the k0s network configuration. The zero value means the bash
// tool's settings (legacy-bash-tool.md §7.1): Calico with the
// can-reach=8.8.8.8 autodetection and FELIX_IGNORELOOSERPF, node-local load
// balancing with EnvoyProxy.
type Network struct {
	// Provider is calico (default), kuberouter or custom.
	Provider string
	// CalicoIPAutodetection is calico.ipAutodetectionMethod; default
	// "can-reach=8.8.8.8". Ignored unless Provider is calico.
	CalicoIPAutodetection string
	// PodCIDR and ServiceCIDR are spec.network.podCIDR and serviceCIDR;
	// empty leaves k0s's defaults.
	PodCIDR     string
	ServiceCIDR string
	// DisableNodeLocalLoadBalancing turns node-local load balancing off.
	DisableNodeLocalLoadBalancing bool
}

// Network defaults.
const (
	DefaultProvider              = "calico"
	DefaultCalicoIPAutodetection = "can-reach=8.8.8.8"
)

// Spec is what the k0sctl cluster configuration is built from: the
// deployment spec and the upstream nodes' outputs.
type Spec struct {
	// ClusterName is metadata.name (the cluster id).
	ClusterName string
	// SSHUser and SSHKeyPath are how k0sctl logs in to every host; the
	// configuration holds the key's path, never the key.
	SSHUser    string
	SSHKeyPath string
	// SSHPort is the hosts' SSH port; 0 means 22.
	SSHPort int
	// K0sVersion is the k0s release, vX.Y.Z+k0s.N.
	K0sVersion string
	// K0sBinaryPath, when set, is a local k0s binary that k0sctl uploads to
	// every host instead of each host downloading K0sVersion (air-gapped).
	K0sBinaryPath string
	// Network is the k0s network configuration.
	Network Network
	// Hosts are the VMs, controllers first (config.Config.Hosts order).
	Hosts []Host
}

// Build returns the k0sctl cluster configuration for spec, built with
// k0sctl's own v1beta1 types, defaulted and validated with k0sctl's
// Validate.
//
// Roles follow the bash tool: one controller is controller+worker; with
// several, the first is a controller and the others controller+worker;
// workers are worker. SSH host keys are not checked (the hosts are fresh VMs
// reached through the WireGuard tunnel, as the bash tool did with
// StrictHostKeyChecking=no and UserKnownHostsFile=/dev/null).
func Build(spec Spec) (*v1beta1.Cluster, error) {
	var errs []error
	if spec.ClusterName == "" {
		errs = append(errs, errors.New("k0sctl: empty cluster name"))
	}
	if spec.SSHUser == "" {
		errs = append(errs, errors.New("k0sctl: empty SSH user (ssh.username)"))
	}
	if spec.SSHKeyPath == "" {
		errs = append(errs, errors.New("k0sctl: empty SSH key path (ssh.key_path)"))
	}
	v, err := version.NewVersion(spec.K0sVersion)
	if err != nil {
		errs = append(errs, fmt.Errorf("k0sctl: k0s version %q (software.k0s.version): %w", spec.K0sVersion, err))
	}
	var controllers, workers []Host
	for _, h := range spec.Hosts {
		switch h.Role {
		case RoleController:
			controllers = append(controllers, h)
		case RoleWorker:
			workers = append(workers, h)
		default:
			errs = append(errs, fmt.Errorf("k0sctl: host %s: unknown role %q (want %s or %s)", h.Name, h.Role, RoleController, RoleWorker))
		}
		if h.Address == "" {
			errs = append(errs, fmt.Errorf("k0sctl: host %s: no address", h.Name))
		} else if _, err := netip.ParseAddr(h.Address); err != nil {
			errs = append(errs, fmt.Errorf("k0sctl: host %s: address %q is not an IP address (its WireGuard IP)", h.Name, h.Address))
		}
	}
	if len(controllers) == 0 {
		errs = append(errs, errors.New("k0sctl: no controller host"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	port := spec.SSHPort
	if port == 0 {
		port = 22
	}

	host := func(h Host, role string) *cluster.Host {
		key := spec.SSHKeyPath
		ch := &cluster.Host{
			CompositeConfig: rig.CompositeConfig{SSH: &ssh.Config{
				Address: h.Address,
				User:    spec.SSHUser,
				Port:    port,
				KeyPath: &key,
				SSHConfigOptions: map[string]any{
					"StrictHostKeyChecking": false,
					"UserKnownHostsFile":    "/dev/null",
				},
			}},
			Role:             role,
			HostnameOverride: h.Name,
		}
		if spec.K0sBinaryPath != "" {
			ch.UploadBinary = true
			ch.K0sBinaryPath = spec.K0sBinaryPath
		}
		return ch
	}
	var hosts cluster.Hosts
	for i, h := range controllers {
		role := roleControllerWorker
		if len(controllers) > 1 && i == 0 {
			role = roleController
		}
		hosts = append(hosts, host(h, role))
	}
	for _, h := range workers {
		hosts = append(hosts, host(h, roleWorker))
	}

	c := &v1beta1.Cluster{
		APIVersion: v1beta1.APIVersion,
		Kind:       "Cluster",
		Metadata:   &v1beta1.ClusterMetadata{Name: spec.ClusterName},
		Spec: &cluster.Spec{
			Hosts: hosts,
			K0s: &cluster.K0s{
				Version:       v,
				DynamicConfig: false,
				Config:        k0sConfig(spec.ClusterName, spec.Network),
			},
		},
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("k0sctl: cluster configuration: %w", err)
	}
	return c, nil
}

// k0sConfig is spec.k0s.config: the k0s ClusterConfig with the network
// settings.
func k0sConfig(name string, n Network) dig.Mapping {
	provider := n.Provider
	if provider == "" {
		provider = DefaultProvider
	}
	network := dig.Mapping{
		"provider": provider,
		"nodeLocalLoadBalancing": dig.Mapping{
			"enabled": !n.DisableNodeLocalLoadBalancing,
			"type":    "EnvoyProxy",
		},
	}
	if provider == DefaultProvider {
		auto := n.CalicoIPAutodetection
		if auto == "" {
			auto = DefaultCalicoIPAutodetection
		}
		network["calico"] = dig.Mapping{
			"ipAutodetectionMethod": auto,
			"envVars":               dig.Mapping{"FELIX_IGNORELOOSERPF": "true"},
		}
	}
	if n.PodCIDR != "" {
		network["podCIDR"] = n.PodCIDR
	}
	if n.ServiceCIDR != "" {
		network["serviceCIDR"] = n.ServiceCIDR
	}
	return dig.Mapping{
		"apiVersion": "k0s.k0sproject.io/v1beta1",
		"kind":       "ClusterConfig",
		"metadata":   dig.Mapping{"name": name},
		"spec":       dig.Mapping{"network": network},
	}
}

// Marshal renders c as k0sctl.yaml. k0sctl's types carry yaml.v2 hooks, so
// yaml.v2 it is (yaml.v3 would lose the version and the flags).
func Marshal(c *v1beta1.Cluster) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Generated by k0rdent from k0rdent.yaml; rewritten on every k0s run.\n")
	out, err := yaml.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("k0sctl: marshal cluster configuration: %w", err)
	}
	b.Write(out)
	return b.Bytes(), nil
}

// Unmarshal reads a k0sctl.yaml back into k0sctl's types (with k0sctl's
// defaults) and validates it.
func Unmarshal(data []byte) (*v1beta1.Cluster, error) {
	c := &v1beta1.Cluster{}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return nil, fmt.Errorf("k0sctl: parse cluster configuration: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("k0sctl: cluster configuration: %w", err)
	}
	return c, nil
}

// WriteConfig writes c to path (0600) atomically: a temporary file beside
// it, fsync, rename, fsync of the directory. The file holds the SSH key's
// path, never the key.
func WriteConfig(path string, c *v1beta1.Cluster) error {
	data, err := Marshal(c)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data, 0o600)
}

// ReadConfig reads a k0sctl.yaml written by WriteConfig.
func ReadConfig(path string) (*v1beta1.Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("k0sctl: read %s: %w", path, err)
	}
	c, err := Unmarshal(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp"+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
