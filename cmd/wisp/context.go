package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/lattice"
	"github.com/wisp-dev/wisp/lattice/auth"
)

// configDir is $WISP_CONFIG_DIR, else "wisp" under the user's
// configuration directory: contexts and the auth store live there.
func configDir() (string, error) {
	if d := os.Getenv("WISP_CONFIG_DIR"); d != "" {
		return d, nil
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory: set WISP_CONFIG_DIR: %w", err)
	}
	return filepath.Join(base, "wisp"), nil
}

// authDir is the auth store's directory: $WISP_AUTH_DIR, else auth/ in
// configDir.
func authDir() (string, error) {
	if d := os.Getenv(auth.EnvDir); d != "" {
		return d, nil
	}
	d, err := configDir()
	return filepath.Join(d, "auth"), err
}

// openAuth opens the auth store, creating it on first use.
func openAuth() (*auth.Store, error) {
	d, err := authDir()
	if err != nil {
		return nil, err
	}
	return auth.Open(d)
}

// existingAuth opens the auth store if one exists on this machine.
func existingAuth() (*auth.Store, bool) {
	d, err := authDir()
	if err != nil {
		return nil, false
	}
	if _, err := os.Stat(filepath.Join(d, "operator.jwt")); err != nil {
		return nil, false
	}
	st, err := auth.Open(d)
	return st, err == nil
}

// needAuth opens the auth store a lattice's servers trust, and refuses
// to make a new one: credentials minted by a store no server knows are
// refused by every server (an operator is made by 'wisp up' or 'wisp
// nats-config').
func needAuth() (*auth.Store, error) {
	if st, ok := existingAuth(); ok {
		return st, nil
	}
	d, _ := authDir()
	return nil, fmt.Errorf("no auth store at %s: credentials are made where the lattice's first 'wisp up' (or 'wisp nats-config') made it; run there, or point %s at a copy of it", d, auth.EnvDir)
}

// natsContext is where and as whom the CLI connects: what `wisp up`
// writes for its own server and `wisp ctx add` for any other.
type natsContext struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	Creds    string `json:"creds,omitempty"`
	TLSCA    string `json:"tls_ca,omitempty"`
	Lattice  string `json:"lattice,omitempty"`
	JSDomain string `json:"js_domain,omitempty"`
}

func contextDir() (string, error) {
	d, err := configDir()
	return filepath.Join(d, "contexts"), err
}

func loadContext(name string) (natsContext, error) {
	var c natsContext
	d, err := contextDir()
	if err != nil {
		return c, err
	}
	b, err := os.ReadFile(filepath.Join(d, name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("no context %q (see 'wisp ctx list'): %w", name, errNoContext)
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("context %s: %w", name, err)
	}
	return c, nil
}

var errNoContext = errors.New("no such context")

func saveContext(c natsContext) error {
	if err := lattice.ValidateName("context name", c.Name); err != nil {
		return err
	}
	d, err := contextDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	return os.WriteFile(filepath.Join(d, c.Name+".json"), b, 0o600)
}

// currentContext is the name of the context in use, "" if none is.
func currentContext() string {
	if n := os.Getenv("WISP_CONTEXT"); n != "" {
		return n
	}
	d, err := configDir()
	if err != nil {
		return ""
	}
	b, _ := os.ReadFile(filepath.Join(d, "context"))
	return strings.TrimSpace(string(b))
}

func useContext(name string) error {
	if _, err := loadContext(name); err != nil {
		return err
	}
	d, err := configDir()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d, "context"), []byte(name+"\n"), 0o600)
}

func listContexts() ([]natsContext, error) {
	d, err := contextDir()
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(d)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []natsContext
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			c, err := loadContext(n)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// resolve fills the connection settings flags and environment left unset
// from the context (--context, WISP_CONTEXT, else the current one), the
// way kubectl's flags override its kubeconfig: a flag wins, then the
// context. Without credentials of its own, a verb run where the lattice's
// auth store is uses the store's admin user.
func (g *globals) resolve(cmd *cobra.Command) error {
	set := func(flag, env string) bool { return cmd.Flags().Changed(flag) || (env != "" && os.Getenv(env) != "") }
	name := g.context
	if name == "" {
		name = currentContext()
	}
	var c natsContext
	if name != "" {
		var err error
		if c, err = loadContext(name); err != nil && (g.context != "" || !errors.Is(err, errNoContext)) {
			return usageError{err}
		}
	}
	if !set("nats-url", "WISP_NATS_URL") && c.URL != "" {
		g.natsURL = c.URL
	}
	if !set("lattice", "WISP_LATTICE") && c.Lattice != "" {
		g.lattice = c.Lattice
	}
	if !set("js-domain", "WISP_JS_DOMAIN") && c.JSDomain != "" {
		g.jsDomain = c.JSDomain
	}
	if !set("nats-tls-ca", "WISP_NATS_TLS_CA") && c.TLSCA != "" {
		g.creds.TLSCAFile = c.TLSCA
	}
	cr := g.credentials()
	if cr.CredsFile != "" || cr.NkeySeedFile != "" || cr.User != "" {
		g.explicitCreds = true
		return nil
	}
	if c.Creds != "" && (c.Lattice == "" || c.Lattice == g.lattice) {
		g.creds.CredsFile = c.Creds
		return nil
	}
	if st, ok := existingAuth(); ok {
		if _, err := os.Stat(st.LocalCreds(g.lattice, auth.AdminUser)); err == nil {
			g.creds.CredsFile = st.LocalCreds(g.lattice, auth.AdminUser)
		}
	}
	return nil
}
