package terraform

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-version"
	install "github.com/hashicorp/hc-install"
	"github.com/hashicorp/hc-install/fs"
	"github.com/hashicorp/hc-install/product"
	"github.com/hashicorp/hc-install/releases"
	"github.com/hashicorp/hc-install/src"
)

// DefaultVersion is the terraform version Find downloads when none is
// configured: the one the module and the tests are known to work with.
const DefaultVersion = "1.11.4"

// FindOptions say where Find looks for terraform.
type FindOptions struct {
	// Binary is the configured executable (config terraform.binary). When
	// set it is the only candidate.
	Binary string
	// Download allows installing terraform from releases.hashicorp.com
	// with hc-install when it is found nowhere else.
	Download bool
	// Version is the version to download; empty: DefaultVersion.
	Version string
	// InstallDir is where a downloaded terraform goes, and is looked in
	// before downloading. Empty: no download.
	InstallDir string
	// DownloadTimeout bounds the download; 0: 3 minutes.
	DownloadTimeout time.Duration
	// ReleasesURL replaces https://releases.hashicorp.com (a mirror, or a
	// test server).
	ReleasesURL string
}

// Find returns the terraform executable: the configured Binary; else
// terraform on PATH; else one installed earlier in InstallDir; else, when
// Download is allowed, a fresh download there. Without network the
// download fails, and the error says which config key to set.
func Find(ctx context.Context, o FindOptions) (string, error) {
	if o.Binary != "" {
		p, err := exec.LookPath(o.Binary)
		if err != nil {
			return "", fmt.Errorf("terraform.binary %s: %w (set terraform.binary in k0rdent.yaml to a terraform executable)", o.Binary, err)
		}
		return filepath.Abs(p)
	}
	if p, err := exec.LookPath("terraform"); err == nil {
		return filepath.Abs(p)
	}
	var extra []string
	if o.InstallDir != "" {
		extra = []string{o.InstallDir}
	}
	sources := []src.Source{&fs.AnyVersion{Product: &product.Terraform, ExtraPaths: extra}}
	var why string
	switch {
	case !o.Download:
		why = "download not allowed"
	case o.InstallDir == "":
		why = "no directory to install it in"
	default:
		v, err := version.NewVersion(cmpOr(o.Version, DefaultVersion))
		if err != nil {
			return "", fmt.Errorf("terraform.version %q: %w (write a version like %s)", o.Version, err, DefaultVersion)
		}
		if err := os.MkdirAll(o.InstallDir, 0o755); err != nil {
			return "", fmt.Errorf("create %s for terraform: %w", o.InstallDir, err)
		}
		timeout := o.DownloadTimeout
		if timeout <= 0 {
			timeout = 3 * time.Minute
		}
		sources = append(sources, &releases.ExactVersion{Product: product.Terraform, Version: v, InstallDir: o.InstallDir,
			Timeout: timeout, ApiBaseURL: o.ReleasesURL})
	}
	p, err := install.NewInstaller().Ensure(ctx, sources)
	if err != nil {
		if why == "" {
			why = "download failed: " + err.Error()
		}
		return "", fmt.Errorf("no terraform binary: not on PATH, none in %s, %s (install terraform %s on PATH, or set terraform.binary in k0rdent.yaml to a terraform executable)",
			cmpOr(o.InstallDir, "the install directory"), why, cmpOr(o.Version, DefaultVersion))
	}
	return p, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
