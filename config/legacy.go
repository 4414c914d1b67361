package config

// legacyKeys explains the keys of the bash tool's k0rdent.yaml that this
// schema renamed or dropped, so that a copied legacy file gets a fix instead
// of a guess. Keys the two schemas share need no entry.
var legacyKeys = map[string]string{
	"metadata.version":                   "the bash tool's header (remove it; the schema version is the top-level version: 1)",
	"metadata.schema":                    "the bash tool's header (remove it)",
	"ssh.key_comment":                    "the bash tool never used it (remove it)",
	"timeouts.ssh_command":               "the bash tool never used it (remove it)",
	"timeouts.k0s_install_wait":          "renamed (write timeouts.k0s_install with a unit, e.g. 20m)",
	"timeouts.k0rdent_install_wait":      "renamed (write timeouts.k0rdent_install with a unit, e.g. 25m)",
	"timeouts.wireguard_connect_wait":    "renamed (write timeouts.vpn_connect with a unit, e.g. 2m)",
	"timeouts.vm_creation_minutes":       "renamed (write timeouts.vm_creation with a unit, e.g. 10m)",
	"timeouts.vm_wait_check_interval":    "renamed (write timeouts.vm_check_interval with a unit, e.g. 30s)",
	"timeouts.cloud_init_timeout":        "the bash tool never used it (remove it)",
	"timeouts.cloud_init_check_interval": "the bash tool never used it (remove it)",
	"kof.mothership.retry_delay_seconds": "renamed (write kof.mothership.retry_delay with a unit, e.g. 30s)",
	"kof.mothership.collectors":          "the bash tool never used it (remove it)",
	"kof.regional.namespace":             "fixed by k0rdent (remove it)",
	"kof.regional.cluster_label":         "fixed by k0rdent (remove it)",
}
