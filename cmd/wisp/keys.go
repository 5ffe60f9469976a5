package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/host/claims"
	"github.com/wisp-dev/wisp/internal/keystore"
)

// keysLong explains the key store; `wisp keys --help` shows it.
const keysLong = `Manage the ed25519 key pairs (nkeys) that sign actors. An account key (A...)
issues claims; each actor has a module key (M...); capability providers have
service keys (V...), hosts server keys (N...).

Keys live in the key store: $WISP_KEYS_DIR, or else wisp/keys under the user
configuration directory (~/.config/wisp/keys on Linux), one seed per file named
<name>_<kind>.nk, mode 0600 in a 0700 directory, the layout wash uses. 'wisp
build' and 'wisp claims sign' create the keys they need there on first use. To
sign with the keys wash made:

  WISP_KEYS_DIR=~/.wash/keys wisp claims sign echo.wasm`

func newKeysGenCmd() *cobra.Command {
	var output, save string
	cmd := &cobra.Command{
		Use:   "gen KIND",
		Short: "Generate a key pair and print its public key and seed",
		Long: `Generate a new key pair of KIND: account, module, service, server, cluster,
operator or user (or the kind's letter: A, M, V, N, C, O, U). Its public key
and seed are printed on stdout; the seed is the secret, so keep it in a file
only you can read. With --save NAME the key goes into the key store as
<NAME>_<kind>.nk instead and only its public key and path are printed.

  wisp keys gen account
  wisp keys gen module -o json | jq -r .seed > echo.nk && chmod 600 echo.nk
  wisp keys gen account --save ci      # ~/.config/wisp/keys/ci_account.nk`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if output != outTable && output != outJSON {
				return usageError{errors.New("--output: want table or json (the seed is never written as YAML)")}
			}
			kind, err := claims.ParseKeyKind(a[0])
			if err != nil {
				return usageError{err}
			}
			kp, err := claims.GenerateKeyPair(kind)
			if err != nil {
				return err
			}
			defer kp.Wipe()
			if save != "" {
				return saveKey(cmd, save, kp, output)
			}
			seed := kp.Seed()
			defer clear(seed)
			// Written by hand rather than with encoding/json, so the only
			// copy of the seed is the buffer cleared below.
			var b bytes.Buffer
			b.Grow(256)
			if output == outJSON {
				fmt.Fprintf(&b, "{\n  \"kind\": %q,\n  \"public_key\": %q,\n  \"seed\": \"", kind.String(), kp.PublicKey())
				b.Write(seed)
				b.WriteString("\"\n}\n")
			} else {
				fmt.Fprintf(&b, "Public Key: %s\nSeed:       ", kp.PublicKey())
				b.Write(seed)
				b.WriteString("\n")
			}
			_, err = cmd.OutOrStdout().Write(b.Bytes())
			clear(b.Bytes())
			if err != nil {
				return fmt.Errorf("writing the key: %w", err)
			}
			if output != outJSON {
				fmt.Fprintln(cmd.ErrOrStderr(), "The seed is the secret: keep it in a file only you can read (or use --save NAME).")
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outTable, "output format: table or json")
	cmd.Flags().StringVar(&save, "save", "", "save the key in the key store as NAME instead of printing its seed")
	return cmd
}

// saveKey stores a new key as name and prints its public key and path.
func saveKey(cmd *cobra.Command, name string, kp *claims.KeyPair, output string) error {
	var st keystore.Store
	path, err := st.Path(name, kp.Kind())
	if err != nil {
		return usageError{fmt.Errorf("--save: %w", err)}
	}
	if err := st.Save(name, kp); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("saving the %s key: %s already exists; choose another --save name", kp.Kind(), path)
		}
		return fmt.Errorf("saving the %s key: %w", kp.Kind(), err)
	}
	if output == outJSON {
		return printJSON(cmd.OutOrStdout(), struct {
			Kind      string `json:"kind"`
			PublicKey string `json:"public_key"`
			Path      string `json:"path"`
		}{kp.Kind().String(), kp.PublicKey(), path})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Public Key: %s\nPath:       %s\n", kp.PublicKey(), path)
	return nil
}

// keyRow is one key of the key store, as `wisp keys list` lists it.
type keyRow struct {
	keystore.Entry
	Error string `json:"error,omitempty"`
}

var keyColumns = []column[keyRow]{
	{header: "NAME", cell: func(e keyRow) string { return e.Name }},
	{header: "KIND", cell: func(e keyRow) string { return e.KindName }},
	{header: "PUBLIC KEY", cell: func(e keyRow) string {
		if e.Error != "" {
			return "(unreadable)"
		}
		return e.PublicKey
	}},
	{header: "PATH", cell: func(e keyRow) string { return e.Path }},
}

func newKeysListCmd() *cobra.Command {
	var l listing
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the keys in the key store (never their seeds)",
		Long: `List the keys in the key store: name, kind, public key and seed file. Seeds
are never printed. Files that cannot be read (for example with permissions
other than 0600) are listed with the reason.

  wisp keys list
  WISP_KEYS_DIR=~/.wash/keys wisp keys list -o json`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := l.check(); err != nil {
				return err
			}
			var st keystore.Store
			dir, err := st.Location()
			if err != nil {
				return err
			}
			entries, err := st.List()
			if err != nil {
				return fmt.Errorf("listing keys in %s: %w", dir, err)
			}
			list := []keyRow{}
			for _, e := range entries {
				x := keyRow{Entry: e}
				if e.Err != nil {
					x.Error = e.Err.Error()
				}
				list = append(list, x)
			}
			if len(list) == 0 && !l.structured() {
				fmt.Fprintf(cmd.ErrOrStderr(), "no keys in %s: 'wisp build' and 'wisp claims sign' create them on first use, 'wisp keys gen KIND --save NAME' on demand\n", dir)
				return nil
			}
			if err := printList(cmd, &l, list, keyColumns); err != nil {
				return err
			}
			for _, e := range list {
				if e.Error != "" && !l.structured() {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", e.Path, e.Error)
				}
			}
			return nil
		},
	}
	l.register(cmd)
	return cmd
}
