package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/app"
	"github.com/wisp-dev/wisp/lattice/manifest"
	"github.com/wisp-dev/wisp/lattice/reconciler"
	"github.com/wisp-dev/wisp/provider"
)

const appLong = `An application is a manifest in wadm's OAM form (YAML or JSON) that declares
actors and capability providers, how many of each run and where, and how they
are linked. wisp keeps it true: the lattice's active reconciler (one host's;
another takes over within seconds if that host dies) starts, scales, stops
and links what the manifest asks for, and moves a lost host's share to the
others within seconds. What it starts is annotated as its own; actors and
providers started by hand are left alone.

  apiVersion: core.oam.dev/v1beta1
  kind: Application
  metadata:
    name: echo
    annotations: {version: v1}
  spec:
    components:
      - name: echo                        # the actor's call alias
        type: actor
        properties:
          image: file://./echo.wasm       # or an OCI reference
        traits:
          - type: spreadscaler
            properties:
              replicas: 5
              spread:
                - {name: east, requirements: {zone: east}, weight: 80}
                - {name: west, requirements: {zone: west}, weight: 20}

Manifests are stored, every version kept, in the lattice's JetStream (bucket
WISP_APPS_<lattice>). A relative file:// image is made absolute when deployed.

  wisp app deploy app.yaml          # store the manifest and deploy it
  wisp app status echo              # deployed, reconciling, or failed: why
  wisp app history echo
  wisp app deploy echo --version v1 # roll back to a stored version
  wisp app list                     # or ls; -o wide|json|yaml
  wisp app undeploy echo            # stop what it runs; keep its versions
  wisp app delete echo              # and forget it (alias rm)`

func newAppCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "Deploy declarative applications and watch the reconciler keep them true", Long: appLong}
	for _, c := range []*cobra.Command{newAppDeployCmd(g), newAppPutCmd(g), newAppListCmd(g), newAppStatusCmd(g),
		newAppHistoryCmd(g), newAppGetCmd(g), newAppUndeployCmd(g), newAppDeleteCmd(g)} {
		cmd.AddCommand(g.withNATS(c))
	}
	rollout := newAppRolloutCmd(g)
	for _, c := range rollout.Commands() {
		g.withNATS(c)
	}
	cmd.AddCommand(rollout)
	cmd.AddCommand(newAppValidateCmd()) // works on this machine only
	return cmd
}

// withApps connects, opens the lattice's application store and runs fn
// with it.
func (g *globals) withApps(ctx context.Context, fn func(*app.Store) error) error {
	c, err := g.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	js, err := c.JetStream()
	if err != nil {
		return err
	}
	s, err := app.Open(ctx, js, g.lattice)
	if err != nil {
		return fmt.Errorf("%w (applications live in the lattice's JetStream: is it enabled, and --js-domain right?)", err)
	}
	return fn(s)
}

// readManifest reads, parses and validates a manifest file, and makes a
// relative file:// image absolute (relative to the manifest's directory).
func readManifest(path string) (*manifest.Application, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("read manifest: %w", err)}
	}
	a, err := manifest.Parse(path, data)
	if err != nil {
		return nil, invalidError{err}
	}
	if err := a.Validate(provider.Builtin); err != nil {
		return nil, invalidError{err}
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	text := string(data)
	for _, c := range a.Spec.Components {
		rel, ok := strings.CutPrefix(c.Properties.Image, "file://")
		if !ok || filepath.IsAbs(rel) {
			continue
		}
		abs := "file://" + filepath.Join(dir, rel)
		if _, err := os.Stat(filepath.Join(dir, rel)); err != nil {
			return nil, invalidError{fmt.Errorf("%s: component %q: image %s: %w", path, c.Name, c.Properties.Image, err)}
		}
		text = strings.ReplaceAll(text, c.Properties.Image, abs)
	}
	if text != string(data) {
		if a, err = manifest.Parse(path, []byte(text)); err != nil {
			return nil, invalidError{err}
		}
	}
	return a, nil
}

func newAppDeployCmd(g *globals) *cobra.Command {
	var version, output string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "deploy FILE | NAME",
		Short: "Store a manifest and deploy it, or deploy a stored version",
		Long: `Deploy FILE: store the manifest as a new version of its application (its
metadata.annotations.version, or the next rN) and make it the deployed one.
Deploy NAME: deploy a stored version (--version, default the newest), to roll
forward or back. With --wait, wait until the status is deployed (exit 0),
failed (exit 6) or the time is up (exit 5).

  wisp app deploy examples/iot-pipeline/app.yaml --wait 60s
  wisp app deploy echo --version v1`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			ctx := cmd.Context()
			arg := a[0]
			var m *manifest.Application
			if _, err := os.Stat(arg); err == nil || strings.ContainsAny(arg, "/.") {
				if version != "" {
					return usageError{errors.New("--version deploys a stored version by NAME; a file deploys its own version")}
				}
				var err error
				if m, err = readManifest(arg); err != nil {
					return err
				}
			}
			return g.withApps(ctx, func(store *app.Store) error {
				name := arg
				if m != nil {
					name = m.Metadata.Name
					var err error
					if version, err = store.Put(ctx, m); err != nil {
						return err
					}
				}
				rec, err := store.Deploy(ctx, name, version)
				if err != nil {
					return err
				}
				if output == outTable {
					fmt.Fprintf(out, "app %s version %s is the deployed version; the reconciler places it now\n", rec.Name, rec.Deployed)
					if wait == 0 {
						fmt.Fprintf(out, "follow it with: wisp app status %s (or deploy with --wait 60s)\n", rec.Name)
					}
				}
				st, err := waitStatus(ctx, store, rec.Name, rec.Deployed, wait)
				if output != outTable {
					if st == nil {
						st = &app.Status{Name: rec.Name, Version: rec.Deployed, Phase: app.PhaseReconciling}
					}
					if perr := printStructured(out, output, st); perr != nil {
						return perr
					}
				} else if st != nil {
					fmt.Fprintf(out, "status: %s\n", st.Summary())
				}
				return err
			})
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "stored version to deploy (with NAME)")
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait this long for the application to be deployed (0: do not wait)")
	cmd.Flags().StringVarP(&output, "output", "o", outTable, "output format: table, json or yaml (the status)")
	return cmd
}

// waitStatus waits up to d for the status of version of app name to
// settle: deployed (nil error) or failed (a *lattice.RemoteError).
func waitStatus(ctx context.Context, s *app.Store, name, version string, d time.Duration) (*app.Status, error) {
	if d <= 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var last *app.Status
	for {
		if st, err := s.Status(ctx, name); err == nil && st.Version == version {
			last = st
			switch st.Phase {
			case app.PhaseDeployed:
				return st, nil
			case app.PhaseFailed:
				return st, &lattice.RemoteError{Message: fmt.Sprintf("app %s: %s", name, st.Summary())}
			}
		}
		select {
		case <-ctx.Done():
			what := "no reconciler has reported on it (is a host running without --no-reconciler?)"
			if last != nil {
				what = "status " + last.Summary()
			}
			return last, fmt.Errorf("app %s not deployed after %s: %s: %w", name, d, what, context.DeadlineExceeded)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func newAppPutCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "put FILE",
		Short: "Store a manifest as a new version without deploying it",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			m, err := readManifest(a[0])
			if err != nil {
				return err
			}
			return g.withApps(cmd.Context(), func(store *app.Store) error {
				v, err := store.Put(cmd.Context(), m)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "app %s version %s stored\n", m.Metadata.Name, v)
				return nil
			})
		},
	}
}

func newAppValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a manifest without storing it (exit 7 when invalid)",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			m, err := readManifest(a[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: app %s is valid (%d components)\n", a[0], m.Metadata.Name, len(m.Spec.Components))
			return nil
		},
	}
}

// appRow is one application as `wisp app list` shows it.
type appRow struct {
	Name        string `json:"name"`
	Deployed    string `json:"deployed_version,omitempty"`
	Latest      string `json:"latest_version"`
	Versions    int    `json:"versions"`
	Status      string `json:"status"`
	Description string `json:"description,omitempty"`
}

func newAppListCmd(g *globals) *cobra.Command {
	var l listing
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the stored applications and their status",
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := l.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			return g.withApps(ctx, func(store *app.Store) error {
				recs, err := store.List(ctx)
				if err != nil {
					return err
				}
				rows := []appRow{}
				for _, r := range recs {
					row := appRow{Name: r.Name, Deployed: r.Deployed, Latest: r.Latest().Version, Versions: len(r.Versions),
						Description: r.Latest().Description, Status: app.PhaseUndeployed}
					if st, err := store.Status(ctx, r.Name); err == nil && (r.Deployed == "" || st.Version == r.Deployed) {
						row.Status = st.Summary()
					} else if r.Deployed != "" {
						row.Status = app.PhaseReconciling
					}
					rows = append(rows, row)
				}
				return printList(cmd, &l, rows, appColumns)
			})
		},
	}
	l.register(cmd)
	return cmd
}

var appColumns = []column[appRow]{
	{header: "NAME", cell: func(r appRow) string { return r.Name }},
	{header: "DEPLOYED", cell: func(r appRow) string { return dash(r.Deployed) }},
	{header: "LATEST", cell: func(r appRow) string { return r.Latest }},
	{header: "VERSIONS", wide: true, cell: func(r appRow) string { return fmt.Sprint(r.Versions) }},
	{header: "STATUS", cell: func(r appRow) string { return r.Status }},
	{header: "DESCRIPTION", cell: func(r appRow) string { return r.Description }},
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newAppStatusCmd(g *globals) *cobra.Command {
	var output string
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show what the reconciler found and did for an application",
		Long: `Show what the reconciler found and did for an application: its phase
(deployed, reconciling, failed: why), where each component runs and its links.
With --wait, first wait until the deployed version is deployed or has failed,
as 'kubectl rollout status' does: exit 0 when deployed, 6 when failed, 5 when
the time ran out.

  wisp app status shop
  wisp app status shop --wait 30s && curl http://127.0.0.1:8080/`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx := cmd.Context()
			return g.withApps(ctx, func(store *app.Store) (rerr error) {
				rec, err := store.Get(ctx, a[0])
				if err != nil {
					return err
				}
				var waitErr error
				if wait > 0 {
					if rec.Deployed == "" {
						return fmt.Errorf("app %s has no deployed version to wait for (wisp app deploy): %w", rec.Name, app.ErrNotFound)
					}
					_, waitErr = waitStatus(ctx, store, rec.Name, rec.Deployed, wait)
				}
				st, err := store.Status(ctx, a[0])
				if errors.Is(err, app.ErrNotFound) {
					st = &app.Status{Name: rec.Name, Version: rec.Deployed, Phase: app.PhaseReconciling, Message: "no reconciler has reported yet"}
					if rec.Deployed == "" {
						st.Phase, st.Message = app.PhaseUndeployed, ""
					}
				} else if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if output != outTable {
					if err := printStructured(out, output, st); err != nil {
						return err
					}
					return waitErr
				}
				defer func() {
					if waitErr != nil {
						rerr = waitErr
					}
				}()
				fmt.Fprintf(out, "app %s version %s: %s\n", st.Name, dash(st.Version), st.Summary())
				if h, err := reconciler.CurrentHolder(ctx, store); err == nil {
					fmt.Fprintf(out, "reconciler: %s\n", h.HostName)
				}
				if len(st.Components) > 0 {
					w := table(out)
					fmt.Fprintln(w, "\nCOMPONENT\tTYPE\tRUNNING/DESIRED\tHOSTS\tERROR")
					for _, cs := range st.Components {
						typ := cs.Type
						if cs.Provider != "" {
							typ += " (" + cs.Provider + ")"
						}
						fmt.Fprintf(w, "%s\t%s\t%d/%d\t%s\t%s\n", cs.Name, typ, cs.Running, cs.Desired, hostCounts(cs.Hosts), cs.Error)
					}
					if err := w.Flush(); err != nil {
						return err
					}
				}
				for _, cs := range st.Components {
					if cs.Rollout != "" {
						fmt.Fprintf(out, "rollout of %s: %s\n", cs.Name, cs.Rollout)
					}
				}
				for _, l := range st.Links {
					fmt.Fprintf(out, "link: %s → %s (%s, link name %s)\n", l.ActorName, l.ProviderID, l.ContractID, l.LinkName)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outTable, "output format: table, json or yaml")
	cmd.Flags().DurationVar(&wait, "wait", 0, "first wait this long for the deployed version to be deployed or fail (0: do not wait)")
	return cmd
}

func hostCounts(m map[string]int) string {
	var out []string
	for h, n := range m {
		out = append(out, fmt.Sprintf("%s=%d", h, n))
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// versionRow is one stored version, as `wisp app history` lists it.
type versionRow struct {
	Version     string    `json:"version"`
	StoredAt    time.Time `json:"stored_at"`
	Deployed    bool      `json:"deployed"`
	Description string    `json:"description,omitempty"`
}

var versionColumns = []column[versionRow]{
	{header: "VERSION", cell: func(r versionRow) string { return r.Version }},
	{header: "STORED", cell: func(r versionRow) string { return r.StoredAt.Local().Format(time.DateTime) }},
	{header: "DEPLOYED", cell: func(r versionRow) string {
		if r.Deployed {
			return "yes"
		}
		return ""
	}},
	{header: "DESCRIPTION", cell: func(r versionRow) string { return r.Description }},
}

func newAppHistoryCmd(g *globals) *cobra.Command {
	var l listing
	cmd := &cobra.Command{
		Use:   "history NAME",
		Short: "List the stored versions of an application",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := l.check(); err != nil {
				return err
			}
			ctx := cmd.Context()
			return g.withApps(ctx, func(store *app.Store) error {
				rec, err := store.Get(ctx, a[0])
				if err != nil {
					return err
				}
				rows := []versionRow{}
				for _, v := range rec.Versions {
					rows = append(rows, versionRow{Version: v.Version, StoredAt: v.StoredAt, Deployed: v.Version == rec.Deployed, Description: v.Description})
				}
				return printList(cmd, &l, rows, versionColumns)
			})
		},
	}
	l.register(cmd)
	return cmd
}

func newAppGetCmd(g *globals) *cobra.Command {
	var version string
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Print a stored manifest (the deployed version, else the newest)",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.withApps(cmd.Context(), func(store *app.Store) error {
				rec, err := store.Get(cmd.Context(), a[0])
				if err != nil {
					return err
				}
				v := version
				if v == "" {
					v = rec.Deployed
				}
				if v == "" {
					v = rec.Latest().Version
				}
				ver, ok := rec.Find(v)
				if !ok {
					return fmt.Errorf("app %s version %q: %w", a[0], v, app.ErrNotFound)
				}
				fmt.Fprint(cmd.OutOrStdout(), ver.Manifest)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "version to print")
	return cmd
}

func newAppUndeployCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "undeploy NAME",
		Short: "Stop everything an application runs; keep its versions",
		Args:  args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.withApps(cmd.Context(), func(store *app.Store) error {
				if _, err := store.Undeploy(cmd.Context(), a[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "app %s undeployed: the reconciler stops its actors and providers and deletes its links\n", a[0])
				return nil
			})
		},
	}
}

func newAppDeleteCmd(g *globals) *cobra.Command {
	var version string
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"del", "rm"},
		Short:   "Delete an application (undeploying it) or one stored version",
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			return g.withApps(cmd.Context(), func(store *app.Store) error {
				if err := store.Delete(cmd.Context(), a[0], version); err != nil {
					return err
				}
				if version != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "app %s version %s deleted\n", a[0], version)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "app %s deleted: the reconciler stops what it ran\n", a[0])
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "delete only this version (not the deployed one)")
	return cmd
}
