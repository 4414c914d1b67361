package quietssh

import "os"

// saved is the PATH hidden at init, and hidden whether it was. Written once
// by init, read once by Restore.
var (
	saved  string
	hidden bool
)

func init() {
	if !quiet(os.Args[1:]) {
		return
	}
	saved, hidden = os.Getenv("PATH"), true
	os.Setenv("PATH", "")
}

// Restore puts PATH back if init hid it. Package restore calls it.
func Restore() {
	if hidden {
		os.Setenv("PATH", saved)
		hidden = false
	}
}

// Hidden reports whether init hid PATH for this process (tests).
func Hidden() bool { return hidden }

// quiet reports whether the command line names a command that never uses
// SSH: version, runs, status without --check, phases, validate, init,
// migrate, completion or help. Global flags before the command are
// skipped.
func quiet(args []string) bool {
	withValue := map[string]bool{"--config": true, "-c": true, "--state-dir": true, "--log-level": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return false
		}
		if len(a) > 0 && a[0] == '-' {
			if withValue[a] {
				i++
			}
			continue
		}
		switch a {
		case "version", "runs", "phases", "validate", "init", "migrate", "completion", "help", "h":
			return true
		case "status":
			for _, b := range args[i+1:] {
				if b == "--check" || b == "--check=true" {
					return false
				}
			}
			return true
		}
		return false
	}
	return false // no command: nothing to gain, and a test binary's flags land here
}
