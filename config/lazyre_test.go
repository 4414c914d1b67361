package config

import "testing"

// TestLazyRegexps compiles every expression compiled on first use
// (lazyRegexp), so that a bad one fails here and not in a user's first
// validate; and checks one match each way.
func TestLazyRegexps(t *testing.T) {
	for name, re := range map[string]*lazyRegexp{
		"reAPIVersion":  reAPIVersion,
		"reDNSLabel":    reDNSLabel,
		"reDNSName":     reDNSName,
		"reDependency":  reDependency,
		"reEmail":       reEmail,
		"reEnvKey":      reEnvKey,
		"reIfname":      reIfname,
		"reK0sVersion":  reK0sVersion,
		"reKebab":       reKebab,
		"reLabelKey":    reLabelKey,
		"reLabelValue":  reLabelValue,
		"reLocation":    reLocation,
		"reName":        reName,
		"reObjectName":  reObjectName,
		"reSecretyName": reSecretyName,
		"reSemver":      reSemver,
		"reUUID":        reUUID,
		"reUsername":    reUsername,
		"reVMSize":      reVMSize,
		"yamlErrLine":   yamlErrLine,
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if v := recover(); v != nil {
					t.Fatalf("%s does not compile: %v", re.expr, v)
				}
			}()
			re.MatchString("")
		})
	}
	if !reName.MatchString("kcm-dev") || reName.MatchString("Kcm") {
		t.Errorf("reName: want kcm-dev to match and Kcm not")
	}
}
