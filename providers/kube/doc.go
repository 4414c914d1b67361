// Package kube is k0rdent's adapter to a Kubernetes cluster: Helm releases
// through the Helm v3 SDK, objects' Ready conditions through a dynamic
// client, and the API server's version. The k0rdent phase installs the KCM
// chart with it and waits for KCM's Management object; the k0s phase's
// Verify can ask for the server version.
//
// # Client
//
// New(kubeconfig, Options) reads an admin kubeconfig (the one the k0s phase
// saved under secrets/) and contacts nothing. The kubeconfig holds
// credentials: errors and log lines name its path and the server's URL,
// never its contents. Options.Log receives progress lines (each with a
// duration: "chart loaded took=…", "release deployed revision=2 took=…",
// "still waiting … waited=…") and Helm's debug output at debug level.
//
// Helm's view of the cluster (action.RESTClientGetter) is built from the
// kubeconfig here, with discovery cached in memory per action, so nothing
// is written to ~/.kube/cache. Releases are stored as Secrets in the
// release namespace, as the helm CLI does, so `helm list -n kcm-system`
// shows what k0rdent installed.
//
// # Upgrade or install
//
// UpgradeOrInstall is `helm upgrade --install --create-namespace
// --reset-values` with one addition. Install when Helm has no record of the
// release (or only an uninstalled one), otherwise upgrade: a second run is
// revision 2, not "cannot re-use a name that is still in use" (the bash
// tool's `helm install` failed that way on every rerun). A failed release is
// upgraded (Helm takes the failed revision as the current one). A release
// left pending-install or pending-upgrade by a process that died between
// Helm's records would block every later operation with "another operation
// is in progress"; since k0rdent holds its state lock while it runs, no
// other k0rdent operation can be in progress, so the pending revision is
// marked failed (its description says so, and Result.Recovered names it)
// and the upgrade proceeds. It uses Helm's --wait only when Release.Wait
// says so (KOF's Istio and operators charts): for KCM the cluster may have
// no nodes yet, and readiness is judged by the Management object.
//
// The chart comes from Release.Chart: an OCI reference (oci://…, pulled with
// Helm's registry client, credentials from Helm's registry config), the URL
// of a chart archive (http(s)://…/x.tgz), or a local chart directory or
// archive (an absolute path or one starting with ./ or ../) for air-gapped
// installs and tests. Pulled charts are kept in Options.ChartCache (default
// Helm's repository cache). A chart that cannot be pulled or loaded is a
// *ChartError naming the reference and version. Helm's downloader takes no
// context, so a pull runs in a goroutine that is abandoned when the context
// ends.
//
// # Ready conditions
//
// ObjectRef names an object by group, version, resource and name;
// Management is KCM's (managements.k0rdent.mirantis.com/v1beta1, "kcm",
// cluster-scoped; the k0rdent config can name another). Status looks once
// and tells "resource type not served" (CRD missing) from "not found" from
// "no Ready condition" from Ready=False with its reason. WaitReady polls
// (Interval, default 2s) until Ready=True, logging each change of what it
// sees and a "still waiting" line every Liveness (default 30s) while
// nothing changes. Failed requests are logged and retried. When Timeout
// runs out it returns a *NotReadyError (the object reports Ready other than
// True; the error lists the conditions that are not True) or a
// *TimeoutError (it never reported a Ready condition; the error says what
// was last seen). CheckReady is the one-look form for Verify: nil, a
// *NotFoundError or a *NotReadyError.
//
// # Tests
//
// The tests run against a real etcd and kube-apiserver started on loopback
// by internal/testbed (LaunchKube), built once by `make kube-bins`; they
// skip with the reason when the binaries are absent. The test chart
// (testdata/chart) holds a ConfigMap and KCM v1.4.0's real Management CRD; the tests
// play the KCM controller by creating the Management object and setting
// its Ready condition.
package kube
