package config

import (
	"fmt"
	"strconv"
	"strings"
)

// KOF chart layouts: which charts the kof phase installs for kof.version.
const (
	// KOFLayoutSplit is KOF up to 1.4: kof-istio, kof-operators and
	// kof-mothership, all under oci://ghcr.io/k0rdent/kof/charts/.
	KOFLayoutSplit = "split"
	// KOFLayoutUmbrella is KOF 1.5: the Istio chart
	// oci://ghcr.io/k0rdent/istio/charts/k0rdent-istio, then the umbrella
	// chart oci://ghcr.io/k0rdent/kof/charts/kof, as the KOF docs install
	// them.
	KOFLayoutUmbrella = "umbrella"
)

// kofKnown is what KOFChartLayout accepts, for its error.
const kofKnown = "1.0 to 1.4: kof-istio, kof-operators, kof-mothership; 1.5: k0rdent-istio and the kof umbrella chart"

// KOFChartLayout returns the chart layout of KOF version X.Y.Z. The split
// layout (up to 1.4) and the 1.5 layout come from the KOF repositories and
// docs (../shared/fixtures/real-crds/README.md); later minor versions are
// refused until their layout is checked, because a wrong guess fails only
// on a real cluster.
func KOFChartLayout(version string) (string, error) {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) == 3 {
		major, err1 := strconv.Atoi(parts[0])
		minor, err2 := strconv.Atoi(parts[1])
		if err1 == nil && err2 == nil && major == 1 {
			switch {
			case minor <= 4:
				return KOFLayoutSplit, nil
			case minor == 5:
				return KOFLayoutUmbrella, nil
			}
		}
	}
	return "", fmt.Errorf("KOF %s is not a version k0rdent knows the charts of (known: %s)", version, kofKnown)
}
