package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/k0rdent/k0rdent-deploy/config"
	"github.com/k0rdent/k0rdent-deploy/deploy"
	"github.com/k0rdent/k0rdent-deploy/phases"
	"github.com/k0rdent/k0rdent-deploy/state"
)

// stateURL is the remote state of this invocation: --state-url (or
// K0RDENT_STATE_URL), else the config file's state section; "" for the
// local state directory. A URL and an explicit --state-dir together are a
// usage error.
func stateURL(c *ucli.Context, g globalOptions) (string, error) {
	raw := lookupGlobal(c, flagStateURL)
	how := "--state-url"
	if raw == "" {
		st, err := config.LoadState(g.ConfigPath)
		if err != nil {
			return "", withCode(ExitUsage, err)
		}
		raw, how = st.URL(), g.ConfigPath+": state"
	}
	if raw == "" {
		return "", nil
	}
	if _, err := state.ParseStateURL(raw); err != nil {
		return "", usageErrorf("%s: %v", how, err)
	}
	if g.StateDir != "" {
		return "", usageErrorf("--state-dir %s and %s %s both say where the state is: give one", g.StateDir, how, raw)
	}
	return raw, nil
}

// remoteState reports whether a StateDir is a state URL.
func remoteState(dir string) bool { return strings.HasPrefix(dir, state.StateURLScheme+"://") }

// blobConfig is the backend config of a state URL, with what the
// environment adds: AZURE_STORAGE_CONNECTION_STRING (an emulator such as
// Azurite; otherwise the Azure SDK's default credential chain) and
// K0RDENT_STATE_LEASE (the lock's lease period, 15s to 60s; default 60s).
func blobConfig(raw string) (state.BlobConfig, error) {
	cfg, err := state.ParseStateURL(raw)
	if err != nil {
		return cfg, err
	}
	cfg.ConnectionString = os.Getenv("AZURE_STORAGE_CONNECTION_STRING")
	if v := os.Getenv("K0RDENT_STATE_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return cfg, fmt.Errorf("K0RDENT_STATE_LEASE %q: %v (write e.g. 30s)", v, err)
		}
		cfg.LeasePeriod = d
	}
	return cfg, cfg.Validate()
}

// openBackend opens the backend a --state-dir or state URL names.
func openBackend(dir string) (state.Backend, error) {
	if !remoteState(dir) {
		return state.NewStore(dir).Backend(), nil
	}
	cfg, err := blobConfig(dir)
	if err != nil {
		return nil, withCode(ExitUsage, err)
	}
	return state.OpenBlobBackend(cfg)
}

// transferOptions are the names state.Transfer cannot list.
func transferOptions(cmd string) state.TransferOptions {
	return state.TransferOptions{
		RunFiles: []string{deploy.RunConfigName},
		WorkDirs: []string{phases.TerraformWorkDir, phases.K0sWorkDir},
		Command:  cmd,
	}
}

func (a *app) stateCommand() *ucli.Command {
	transfer := func(name, dirFlag, usage, desc string, push bool) *ucli.Command {
		return &ucli.Command{
			Name:      name,
			Usage:     usage,
			ArgsUsage: " ",
			Description: desc + "\n\n" + examples(
				a.Name+" state push --to azblob://mystorage/k0rdent/prod",
				a.Name+" state pull --from azblob://mystorage/k0rdent/prod --state-dir ./state"),
			Flags: withGlobals(&ucli.StringFlag{Name: dirFlag, Required: true, Usage: "the remote state `URL` azblob://ACCOUNT/CONTAINER[/PREFIX]"}),
			Action: func(c *ucli.Context) error {
				g, err := readGlobals(c)
				if err != nil {
					return err
				}
				if remoteState(g.StateDir) {
					return usageErrorf("state %s moves a local state directory: give --state-dir (not --state-url)", name)
				}
				remote, err := openBackend(c.String(dirFlag))
				if err != nil || !remoteState(c.String(dirFlag)) {
					if err == nil {
						err = fmt.Errorf("want azblob://ACCOUNT/CONTAINER[/PREFIX]")
					}
					return usageErrorf("--%s %s: %v", dirFlag, c.String(dirFlag), err)
				}
				local := state.NewStore(g.StateDir).Backend()
				defer remote.Close()
				defer local.Close()
				src, dst := state.Backend(local), remote
				if !push {
					src, dst = remote, local
				}
				rep, err := state.Transfer(context.Background(), src, dst, transferOptions(strings.Join(os.Args, " ")))
				var le *state.LockedError
				switch {
				case errors.As(err, &le):
					return withCode(ExitLocked, err)
				case errors.Is(err, state.ErrOtherDeployment):
					return withCode(ExitUsage, err)
				case err != nil:
					return err
				}
				fmt.Fprintf(a.Stdout, "%s -> %s\n", src.Location(), dst.Location())
				return rep.WriteText(a.Stdout)
			},
		}
	}
	return &ucli.Command{
		Name:  "state",
		Usage: "move the state between this machine and a shared Azure Blob Storage container",
		Description: "A team shares one deployment by keeping its state in a blob container (see the\n" +
			"README, Working as a team): push a local state directory there once, then every\n" +
			"operator runs with --state-url; pull copies it back to a local directory.\n\n" +
			examples(
				a.Name+" state push --to azblob://mystorage/k0rdent/prod",
				a.Name+" state pull --from azblob://mystorage/k0rdent/prod --state-dir ./state"),
		Subcommands: []*ucli.Command{
			transfer("push", "to", "copy the local state directory into a blob container",
				"Copies every run journal, the runtime snapshot, secrets, run files, node logs and\n"+
					"work dirs of --state-dir into the container, holding both locks. Refuses a\n"+
					"target that holds another deployment. Idempotent: run it again to complete an\n"+
					"interrupted push. Every journal is read back and checked (checksums, sequence)\n"+
					"before the runtime snapshot is written; the local directory is never changed.\n"+
					"Then run with --state-url (or the config's state section) instead of --state-dir.", true),
			transfer("pull", "from", "copy a blob container's state into a local state directory",
				"The reverse of push: the remote state is copied into --state-dir (empty, or an\n"+
					"earlier pull of the same deployment), checked the same way; the container is\n"+
					"never changed.", false),
		},
	}
}
