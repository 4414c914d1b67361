package testbed

// KCMTemplates returns the Azure standalone ClusterTemplates KCM version kcm
// ships (k0rdent/kcm, templates/provider/kcm-templates/files/templates/ at
// tag v<kcm>), or nil for a version whose list was not taken from upstream.
// The KCM stand-in creates these ClusterTemplates; config's default
// templates are checked against them.
//
// Only v1.4.0 is listed: it ships exactly one Azure standalone template
// (../shared/fixtures/real-crds/README.md). Other templates of that release
// (AWS, GCP, the hosted control planes) are left out: nothing here uses
// them.
func KCMTemplates(kcm string) []string {
	switch kcm {
	case "1.4.0":
		return []string{"azure-standalone-cp-1-0-15"}
	}
	return nil
}
