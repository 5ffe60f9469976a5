package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wisp-dev/wisp/host/claims"
	"github.com/wisp-dev/wisp/internal/keystore"
)

// claimsLong explains claims; `wisp claims --help` shows it.
const claimsLong = `Sign actor modules and check their signatures. An actor's claims are a JWT in
a custom section of its Wasm module, in wasmCloud's wascap format (modules
signed by wash work too): the actor's name and module key (M...), the
capability contracts it may use, the module's hash, and the account key (A...)
that signed it. 'wisp build' signs what it builds; see docs/signing.md.

  wisp claims sign echo.wasm --cap wasmcloud:keyvalue    # -> echo_s.wasm
  wisp claims inspect echo_s.wasm                        # exit 0 if valid, 7 if not`

func newClaimsSignCmd() *cobra.Command {
	f := &signFlags{}
	var name, alias, output string
	cmd := &cobra.Command{
		Use:   "sign FILE",
		Short: "Sign a Wasm module with claims: its identity and capabilities",
		Long: `Sign the actor module FILE: embed a JWT (wasmCloud's wascap format) that
names the actor, gives it a module key (M...), lists the capability contracts
it may use, and is signed by an account key (A...). Existing claims are
replaced. The signed module is written to -o, by default <file>_s.wasm next to
FILE, and its path is printed.

Keys come from the key store (see 'wisp keys --help'): the account key
<$USER>_account.nk and the module key <file>_module.nk, each created on first
use. --issuer-seed-file and --subject-seed-file use other keys; --issuer and
--subject take a seed file or the seed itself, as wash does (a seed on the
command line is visible to other local users: prefer files).

--expires and --not-before take a duration from now (30d, 12h, 90m, 1d12h)
or an RFC 3339 time (2030-01-02T15:04:05Z).

  wisp claims sign ./actors/echo/build/echo.wasm --cap wasmcloud:keyvalue
  wisp claims sign echo.wasm --name echo --alias echo --cap wasmcloud:messaging \
      --issuer-seed-file acct.nk --subject-seed-file echo_module.nk \
      --rev 1 --ver 0.1.0 --expires 30d -o echo_s.wasm
  wisp claims inspect echo_s.wasm`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			in := a[0]
			now := time.Now()
			opts, err := f.options(cmd, now)
			if err != nil {
				return err
			}
			opts.Name, opts.CallAlias = name, alias
			if strings.TrimSpace(opts.Name) == "" {
				if cmd.Flags().Changed("name") {
					return usageError{errors.New("--name: must not be empty")}
				}
				opts.Name = keystore.ModuleName(in)
			}
			data, err := readModule(in)
			if err != nil {
				return err
			}
			old, err := claims.Extract(data)
			if err == nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "replacing the claims of %s (%q, module %s, issued by %s)\n",
					in, old.Claims.Name(), old.Claims.Subject, old.Claims.Issuer)
			}
			out := output
			if out == "" {
				out = filepath.Join(filepath.Dir(in), keystore.ModuleName(in)+"_s.wasm")
			}
			// The module key is the key store's key named for the
			// output (x_s.wasm and x.wasm share "x"), so a copy signed
			// under another name and alias is another actor, as wash
			// does; signing the same output again keeps its identity.
			keyName := strings.TrimSuffix(keystore.ModuleName(out), "_s")
			issuer, subject, err := f.keys(filepath.Join(filepath.Dir(out), keyName+".wasm"), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "module key %s (key %q of the key store, or --subject-seed-file)\n", subject.PublicKey(), keyName)
			defer issuer.Wipe()
			defer subject.Wipe()
			if old != nil && old.Claims.Subject != subject.PublicKey() {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: the module key changes from %s to %s: the actor gets a new identity (to keep it, sign with --subject-seed-file and the old module key's seed)\n",
					old.Claims.Subject, subject.PublicKey())
			}
			signed, err := claims.Sign(data, opts, issuer, subject)
			if err != nil {
				return fmt.Errorf("signing %s: %w", in, err)
			}
			if err := writeModule(out, signed, in); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out)
			fmt.Fprintf(cmd.ErrOrStderr(), "signed %s as %q: module %s, issuer %s, capabilities: %s\n",
				out, opts.Name, subject.PublicKey(), issuer.PublicKey(), capList(opts.Caps))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "the actor's descriptive name (default: the file name without .wasm)")
	fl.StringVarP(&alias, "alias", "a", "", "call alias, normalised as wascap does (lower case, '-', '.' and ' ' become '_')")
	fl.StringVar(&alias, "call-alias", "", "same as --alias (wash's name)")
	_ = fl.MarkHidden("call-alias")
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, "free-form tag (repeatable)")
	fl.StringVar(&f.expires, "expires", "", "expiry: a duration from now (30d, 12h) or an RFC 3339 time (default: never)")
	fl.StringVar(&f.notBefore, "not-before", "", "valid from: a duration from now (1h) or an RFC 3339 time (default: now)")
	fl.StringVarP(&output, "output", "o", "", "signed module path (default: <file>_s.wasm next to FILE)")
	f.register(cmd)
	return cmd
}

func newClaimsInspectCmd() *cobra.Command {
	var output string
	var allowed []string
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Show a module's claims and whether they are valid",
		Long: `Show the claims embedded in the Wasm module FILE (name, module key, issuer,
capabilities, hash, revision and version, times) and check them: signature,
module hash, expiry and not-before, and with --allowed-issuers the issuer.

The exit code says whether the module is acceptable, so scripts can gate on
it: 0 when the claims are valid, 7 when they are invalid or the module is not
signed (1 when FILE cannot be read or is not a Wasm module). With -o json the
claims are printed as a JSON object with "valid" and "reason" fields; an
unsigned module prints nothing on stdout and the reason on stderr.

  wisp claims inspect echo_s.wasm
  wisp claims inspect echo_s.wasm -o json | jq -r .module
  wisp claims inspect app.wasm --allowed-issuers ADZ...,AB4... && deploy app.wasm`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			for _, k := range allowed {
				if _, err := claims.DecodePublicKey(claims.KindAccount, k); err != nil {
					return usageError{fmt.Errorf("--allowed-issuers: want account public keys (A...): %w", err)}
				}
			}
			path := a[0]
			data, err := readModule(path)
			if err != nil {
				if _, statErr := os.Stat(path); statErr == nil {
					return invalidError{err} // a file, but not a module: not valid claims
				}
				return err
			}
			r, err := claims.Inspect(data, claims.VerifyOptions{AllowedIssuers: allowed})
			switch {
			case errors.Is(err, claims.ErrNoClaims):
				return invalidError{fmt.Errorf("%s is not signed: it has no claims section; sign it with: wisp claims sign %s", path, path)}
			case errors.Is(err, claims.ErrMalformedToken):
				return invalidError{fmt.Errorf("%s: claims are unreadable: %w", path, err)}
			case err != nil:
				return fmt.Errorf("inspecting %s: %w", path, err)
			}
			if output != outTable {
				if err := printStructured(cmd.OutOrStdout(), output, r); err != nil {
					return err
				}
			} else if err := printReport(cmd.OutOrStdout(), path, r, time.Now()); err != nil {
				return err
			}
			if !r.Valid {
				return invalidError{fmt.Errorf("%s: claims are INVALID: %s", path, shortReason(r))}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&output, "output", "o", outTable, "output format: table, json or yaml")
	fl.StringSliceVar(&allowed, "allowed-issuers", nil, "accept only claims issued by these account keys (comma-separated A... keys)")
	return cmd
}

// printReport writes the claims report as labelled lines.
func printReport(out io.Writer, path string, r *claims.Report, now time.Time) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%s:\t%s\n", label, fmt.Sprintf(format, args...))
	}
	row("File", "%s", path)
	row("Name", "%s", r.Name)
	if r.CallAlias != "" {
		row("Call alias", "%s", r.CallAlias)
	}
	row("Module", "%s", r.Module)
	row("Issuer", "%s", r.Issuer)
	row("Capabilities", "%s", capList(r.Caps))
	if len(r.Tags) > 0 {
		row("Tags", "%s", strings.Join(r.Tags, ", "))
	}
	switch {
	case !r.HashChecked:
		row("Hash", "%s (not checked: wascap revision %d predates hash checks)", r.Hash, r.WascapRevision)
	case r.Hash != r.ModuleHash:
		row("Hash", "%s (the module now hashes to %s)", r.Hash, r.ModuleHash)
	default:
		row("Hash", "%s", r.Hash)
	}
	if r.Rev != nil {
		row("Revision", "%d", *r.Rev)
	}
	if r.Ver != "" {
		row("Version", "%s", r.Ver)
	}
	row("Issued", "%s", when(r.IssuedAt, now))
	if r.NotBefore != nil {
		row("Not before", "%s", when(*r.NotBefore, now))
	}
	if r.Expires != nil {
		row("Expires", "%s", when(*r.Expires, now))
	} else {
		row("Expires", "never")
	}
	row("Token", "%s in section %q, wascap revision %d", r.ID, r.Section, r.WascapRevision)
	if r.Valid {
		row("Status", "VALID")
	} else {
		row("Status", "INVALID")
		row("Reason", "%s", shortReason(r))
	}
	return w.Flush()
}

// shortReason is the report's reason without the "claims: module M... (name)"
// prefix the report shows on lines of its own.
func shortReason(r *claims.Report) string {
	s, _ := strings.CutPrefix(r.Reason, fmt.Sprintf("claims: module %s (%q): ", r.Module, r.Name))
	return s
}

// when formats a time with how long ago or ahead it is.
func when(t, now time.Time) string {
	d := t.Sub(now.Truncate(time.Second))
	switch {
	case d > 0:
		return fmt.Sprintf("%s (in %s)", t.UTC().Format(time.RFC3339), roughly(d))
	case d < 0:
		return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339), roughly(-d))
	}
	return t.UTC().Format(time.RFC3339) + " (now)"
}

// roughly formats a duration to two units at most: 29d23h, 30d, 5h2m, 3m10s, 4s.
func roughly(d time.Duration) string {
	d = d.Round(time.Second)
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	h, d := d/time.Hour, d%time.Hour
	m, s := d/time.Minute, (d%time.Minute)/time.Second
	two := func(a time.Duration, ua string, b time.Duration, ub string) string {
		if b == 0 {
			return fmt.Sprintf("%d%s", a, ua)
		}
		return fmt.Sprintf("%d%s%d%s", a, ua, b, ub)
	}
	switch {
	case days > 0:
		return two(days, "d", h, "h")
	case h > 0:
		return two(h, "h", m, "m")
	case m > 0:
		return two(m, "m", s, "s")
	}
	return fmt.Sprintf("%ds", s)
}

// capList formats capability contracts for people.
func capList(caps []string) string {
	if len(caps) == 0 {
		return "none"
	}
	out := make([]string, len(caps))
	for i, c := range caps {
		if n := claims.CapabilityName(c); n != c {
			out[i] = fmt.Sprintf("%s (%s)", c, n)
		} else {
			out[i] = c
		}
	}
	return strings.Join(out, ", ")
}

// signFlags are the flags `claims sign` and `build` share: what to grant and
// which keys to sign with.
type signFlags struct {
	caps       []string
	tags       []string
	rev        int32
	ver        string
	expires    string
	notBefore  string
	issuerFile string
	issuer     string
	subjFile   string
	subject    string
}

// register adds the shared flags to cmd.
func (f *signFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVarP(&f.caps, "cap", "c", nil, "capability contract the actor may use, e.g. wasmcloud:keyvalue (repeatable, or comma-separated)")
	fl.Int32Var(&f.rev, "rev", 0, "revision number (default: none)")
	fl.StringVar(&f.ver, "ver", "", "human-friendly version, e.g. 0.1.0 (default: none)")
	fl.StringVar(&f.issuerFile, "issuer-seed-file", "", "seed file of the account key (SA...) that signs (default: the key store's account key)")
	fl.StringVar(&f.subjFile, "subject-seed-file", "", "seed file of the module key (SM...) (default: the key store's key for the module)")
	fl.StringVar(&f.issuer, "issuer", "", "account key: a seed file or the seed itself (like wash; prefer --issuer-seed-file)")
	fl.StringVar(&f.subject, "subject", "", "module key: a seed file or the seed itself (like wash; prefer --subject-seed-file)")
}

// changed lists the shared flags set on the command line.
func (f *signFlags) changed(cmd *cobra.Command) []string {
	var out []string
	for _, n := range []string{"cap", "rev", "ver", "issuer-seed-file", "subject-seed-file", "issuer", "subject", "tag", "expires", "not-before"} {
		if fl := cmd.Flags().Lookup(n); fl != nil && fl.Changed {
			out = append(out, "--"+n)
		}
	}
	return out
}

// options checks the flags and returns the claims to sign, without name
// and alias. Times are relative to now.
func (f *signFlags) options(cmd *cobra.Command, now time.Time) (claims.SignOptions, error) {
	var opts claims.SignOptions
	caps, err := checkCaps(f.caps)
	if err != nil {
		return opts, err
	}
	opts.Caps, opts.Tags, opts.Ver = caps, f.tags, f.ver
	if cmd.Flags().Changed("rev") {
		r := f.rev
		opts.Rev = &r
	}
	if f.expires != "" {
		if opts.Expires, err = parseWhen("expires", f.expires, now); err != nil {
			return opts, err
		}
		if !opts.Expires.After(now) {
			return opts, usageError{fmt.Errorf("--expires %s is in the past: the claims would never be valid", f.expires)}
		}
	}
	if f.notBefore != "" {
		if opts.NotBefore, err = parseWhen("not-before", f.notBefore, now); err != nil {
			return opts, err
		}
	}
	if !opts.Expires.IsZero() && !opts.NotBefore.IsZero() && !opts.Expires.After(opts.NotBefore) {
		return opts, usageError{errors.New("--expires is not after --not-before: the claims would never be valid")}
	}
	for _, p := range [][2]string{{"issuer-seed-file", "issuer"}, {"subject-seed-file", "subject"}} {
		if cmd.Flags().Changed(p[0]) && cmd.Flags().Changed(p[1]) {
			return opts, usageError{fmt.Errorf("give --%s or --%s, not both", p[0], p[1])}
		}
	}
	return opts, nil
}

// keys returns the issuer (account) and subject (module) keys: the ones the
// flags give, else the key store's account key and its key for the module
// at modulePath, created on first use (which is reported on stderr).
func (f *signFlags) keys(modulePath string, stderr io.Writer) (issuer, subject *claims.KeyPair, err error) {
	issuer, err = f.key(claims.KindAccount, "issuer", f.issuerFile, f.issuer, modulePath, stderr)
	if err != nil {
		return nil, nil, err
	}
	subject, err = f.key(claims.KindModule, "subject", f.subjFile, f.subject, modulePath, stderr)
	if err != nil {
		issuer.Wipe()
		return nil, nil, err
	}
	return issuer, subject, nil
}

func (f *signFlags) key(kind claims.KeyKind, role, file, value, modulePath string, stderr io.Writer) (*claims.KeyPair, error) {
	flag := "--" + role + "-seed-file"
	if value != "" {
		file, flag = value, "--"+role
	}
	if file != "" {
		// ResolveKey never repeats a value that may be a seed.
		kp, err := keystore.ResolveKey(file, kind)
		if errors.Is(err, claims.ErrWrongKeyKind) {
			return nil, fmt.Errorf("%s: %w (the issuer is an account key, SA..., the subject a module key, SM...)", flag, err)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		return kp, nil
	}
	var st keystore.Store
	var name string
	var kp *claims.KeyPair
	var created bool
	var err error
	if kind == claims.KindAccount {
		name = keystore.AccountName()
		kp, created, err = st.Account()
	} else {
		name = keystore.ModuleName(modulePath)
		kp, created, err = st.Module(modulePath)
	}
	if err != nil {
		return nil, fmt.Errorf("%s key %q from the key store (or give %s): %w", kind, name, flag, err)
	}
	if created {
		path, _ := st.Path(name, kind)
		fmt.Fprintf(stderr, "created %s key %s in %s\n", kind, kp.PublicKey(), path)
	}
	return kp, nil
}

// contractID is the form of capability contract IDs: namespace:name, with
// more segments allowed (wasmcloud:builtin:logging).
var contractID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*(:[A-Za-z0-9][A-Za-z0-9_.-]*)+$`)

// checkCaps checks --cap values and drops duplicates.
func checkCaps(caps []string) ([]string, error) {
	out := []string{}
	for _, c := range caps {
		c = strings.TrimSpace(c)
		if !contractID.MatchString(c) {
			hint := "e.g. " + claims.CapKeyValue
			if full, ok := capShortNames[strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(c))]; ok {
				hint = "did you mean " + full + "?"
			}
			return nil, usageError{fmt.Errorf("--cap %q: want a capability contract id namespace:name; %s", c, hint)}
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// capShortNames maps the short names people type (and wash's flag names) to
// well-known contract IDs, to suggest the right --cap.
var capShortNames = map[string]string{
	"keyvalue": claims.CapKeyValue, "kv": claims.CapKeyValue,
	"messaging": claims.CapMessaging, "msg": claims.CapMessaging,
	"httpserver": claims.CapHTTPServer, "httpclient": claims.CapHTTPClient,
	"blobstore": claims.CapBlobstore, "eventstreams": claims.CapEventStreams, "events": claims.CapEventStreams,
	"numbergen": claims.CapNumberGen, "extras": claims.CapNumberGen, "logging": claims.CapLogging,
}

// parseWhen reads the value of --expires or --not-before: a duration from
// now (see parseDuration) or an RFC 3339 time.
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("--%s %q: %v; want a duration such as 30d, 12h, 90m or 1d12h, or a time such as 2030-01-02T15:04:05Z", flag, s, err)}
	}
	return now.Add(d), nil
}

// maxDays keeps a number of days within time.Duration.
const maxDays = 100_000

// parseDuration parses a positive duration: time.ParseDuration's syntax
// ("12h", "90m", "1h30m") with an optional leading number of days ("30d",
// "1d12h").
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, rest, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil || n > maxDays {
			return 0, fmt.Errorf("%q is not a number of days up to %d", days, maxDays)
		}
		d, s = time.Duration(n)*24*time.Hour, rest
	}
	if s != "" {
		x, err := time.ParseDuration(s)
		if err != nil {
			return 0, err
		}
		if x < 0 {
			return 0, errors.New("the duration is negative")
		}
		if d+x < d {
			return 0, errors.New("the duration is too long")
		}
		d += x
	}
	if d <= 0 {
		return 0, errors.New("the duration must be positive")
	}
	return d, nil
}

// readModule reads a file that must be a core Wasm module.
func readModule(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading module: %w", err)
	}
	if _, err := claims.ModuleHash(data); err != nil {
		if errors.Is(err, claims.ErrComponent) {
			return nil, fmt.Errorf("%s is a WebAssembly component: wisp actors are core modules", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// writeModule writes data to path atomically (a temporary file renamed into
// place), with the permissions of the file like (0644 if it has none).
func writeModule(path string, data []byte, like string) error {
	perm := os.FileMode(0o644)
	if fi, err := os.Stat(like); err == nil {
		perm = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".wisp-*.wasm")
	if err != nil {
		return fmt.Errorf("write module: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write module %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write module %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write module %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write module: %w", err)
	}
	return nil
}
