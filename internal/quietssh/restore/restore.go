package restore

import (
	_ "github.com/k0sproject/rig/v2/sshconfig" // initialised before this package

	"github.com/k0rdent/k0rdent-deploy/internal/quietssh"
)

func init() { quietssh.Restore() }
