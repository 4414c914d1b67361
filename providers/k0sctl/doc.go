// Package k0sctl builds the k0sctl cluster configuration of a deployment
// and applies it with k0sctl, used as a library.
//
// # The configuration
//
// Build turns a Spec (the deployment spec and the upstream nodes' outputs:
// the hosts' WireGuard IPs, the SSH user and key path, the k0s version and
// network settings) into k0sctl's own v1beta1.Cluster, with k0sctl's
// defaults, and validates it with k0sctl's Validate. It follows the bash
// tool (legacy-bash-tool.md §7.1):
//
//   - one host per VM, addressed by its WireGuard IP, with ssh.user,
//     ssh.keyPath (the key's path: the file never holds key material) and
//     no host key checking (fresh VMs behind the tunnel);
//   - roles: one controller is controller+worker; with several, the first
//     is a controller and the rest controller+worker; workers are worker;
//   - hostname: the VM's name (k0s-controller-1, ...);
//   - spec.k0s.version, dynamicConfig false, and spec.k0s.config.spec.network:
//     provider calico, calico.ipAutodetectionMethod can-reach=8.8.8.8,
//     calico.envVars.FELIX_IGNORELOOSERPF "true", nodeLocalLoadBalancing
//     enabled with EnvoyProxy (Network overrides these; PodCIDR and
//     ServiceCIDR are added when set);
//   - air-gapped (Spec.K0sBinaryPath set): every host gets uploadBinary:
//     true and k0sBinaryPath, so k0sctl uploads that local binary instead
//     of the hosts downloading the release.
//
// Marshal and WriteConfig render it with gopkg.in/yaml.v2, because k0sctl's
// types carry yaml.v2 marshal hooks; WriteConfig writes 0600 atomically.
// The golden files in testdata pin the output (go test ./providers/k0sctl
// -update rewrites them).
//
// # Applying: a library behind one lock, not a subprocess
//
// Apply and Reset run k0sctl's apply and reset actions (action.NewApply,
// action.Reset) in this process. We use the library rather than the k0sctl
// binary because there is no binary to run: k0sctl is in no package
// repository here, `go install` of it fails against the filtered module
// proxy, and asking operators to install a matching k0sctl beside k0rdent
// brings back the version skew the bash tool suffered from. The library
// also gives typed errors and the kubeconfig without a temporary file.
//
// The cost is k0sctl's package-level state: phase.NoWait, phase.Force,
// phase.Colorize, retry.DefaultTimeout and logrus's standard logger. So
// every action runs under one process-wide mutex, with those globals set
// for the action (the logger writes to the node's log, without colours)
// and restored afterwards. Two k0s applies in one process therefore run
// one after the other; the deployment graph has one k0s node, so nothing
// waits in practice. The mutex is the only package-level variable here.
//
// k0sctl as a library writes no log file of its own (the k0sctl command
// sets up ~/.cache/k0sctl/k0sctl.log in its main package, which we do not
// run); it downloads nothing when K0sBinaryPath is set, and otherwise the
// hosts download k0s themselves.
//
// # The kubeconfig
//
// Apply returns the admin kubeconfig k0sctl fetched from the first
// controller (`k0s kubeconfig admin`, with the server rewritten to the
// cluster's API address, the first controller's WireGuard IP). It holds
// client credentials: SaveKubeconfig writes it 0600 after checking it has
// a current context. ServerVersion asks the API server named by a
// kubeconfig for its version (client-go discovery, GET /version), which is
// what the k0s phase's Verify does.
package k0sctl
