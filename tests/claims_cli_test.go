package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wisp-dev/wisp/host/claims"
	"github.com/wisp-dev/wisp/internal/keystore"
	"github.com/wisp-dev/wisp/internal/testwait"
)

// The CLI half of signed actors: `wisp keys`, `wisp claims` and the signing
// `wisp build`, run as real processes. run gives every command the test's
// own key store (keysDir), never the user's.

const loopHashPrefix = "5C66140D"

func conformance(name string) string {
	return filepath.Join("testdata", "conformance", "wascap", name)
}

// copyFile copies src into dir and returns the copy's path.
func copyFile(t *testing.T, src, dir string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, filepath.Base(src))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// inspect runs `wisp claims inspect -o json` and decodes the report.
func inspect(t *testing.T, path string, extra ...string) (claims.Report, string, int) {
	t.Helper()
	out, errOut, code := run(t, "", append([]string{"claims", "inspect", path, "-o", "json"}, extra...)...)
	var r claims.Report
	if out != "" {
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("inspect %s: %v\n%s", path, err, out)
		}
	}
	return r, errOut, code
}

type genKey struct {
	Kind      string `json:"kind"`
	PublicKey string `json:"public_key"`
	Seed      string `json:"seed"`
}

// genSeedFile generates a key with `wisp keys gen KIND -o json` and writes
// its seed to a 0600 file.
func genSeedFile(t *testing.T, kind, dir string) (genKey, string) {
	t.Helper()
	var k genKey
	if err := json.Unmarshal([]byte(mustRun(t, "", "keys", "gen", kind, "-o", "json")), &k); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, kind+".nk")
	if err := os.WriteFile(path, []byte(k.Seed), 0o600); err != nil {
		t.Fatal(err)
	}
	return k, path
}

// flipCodeByte returns a copy of a module with one byte of its code
// section changed.
func flipCodeByte(t *testing.T, mod []byte) []byte {
	t.Helper()
	b := slices.Clone(mod)
	for off := 8; off < len(b); {
		id := b[off]
		var size, shift, n int
		for {
			c := b[off+1+n]
			size |= int(c&0x7f) << shift
			shift += 7
			n++
			if c&0x80 == 0 {
				break
			}
		}
		start := off + 1 + n
		if id == 10 {
			b[start+size/2] ^= 0x01
			return b
		}
		off = start + size
	}
	t.Fatal("no code section")
	return nil
}

func TestCLIKeysGen(t *testing.T) {
	for _, tc := range []struct {
		kind   string
		letter string
	}{{"account", "A"}, {"module", "M"}, {"server", "N"}, {"service", "V"}, {"cluster", "C"}, {"operator", "O"}, {"user", "U"}} {
		kind, err := claims.ParseKeyKind(tc.kind)
		if err != nil {
			t.Fatal(err)
		}
		out := mustRun(t, "", "keys", "gen", tc.kind)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("keys gen %s printed %q, want two lines", tc.kind, out)
		}
		pub, ok1 := strings.CutPrefix(lines[0], "Public Key: ")
		seed, ok2 := strings.CutPrefix(lines[1], "Seed:")
		seed = strings.TrimSpace(seed)
		if !ok1 || !ok2 || !strings.HasPrefix(pub, tc.letter) || !strings.HasPrefix(seed, "S"+tc.letter) {
			t.Fatalf("keys gen %s printed %q", tc.kind, out)
		}
		if kp, err := claims.ParseSeedOf(kind, []byte(seed)); err != nil || kp.PublicKey() != pub {
			t.Fatalf("keys gen %s: seed does not match the public key (%v)", tc.kind, err)
		}

		var k genKey
		if err := json.Unmarshal([]byte(mustRun(t, "", "keys", "gen", tc.kind, "-o", "json")), &k); err != nil {
			t.Fatal(err)
		}
		if k.Kind != tc.kind || !strings.HasPrefix(k.PublicKey, tc.letter) {
			t.Fatalf("keys gen %s -o json: %+v", tc.kind, k)
		}
		if kp, err := claims.ParseSeedOf(kind, []byte(k.Seed)); err != nil || kp.PublicKey() != k.PublicKey {
			t.Fatalf("keys gen %s -o json: seed does not match the public key (%v)", tc.kind, err)
		}
	}
	if _, err := os.Stat(keysDir(t)); !os.IsNotExist(err) {
		t.Errorf("keys gen without --save touched the key store: %v", err)
	}
	if _, errOut, code := run(t, "", "keys", "gen", "bogus"); code != 2 || !strings.Contains(errOut, "unknown key kind") {
		t.Fatalf("keys gen bogus: exit %d, %q", code, errOut)
	}
	if _, _, code := run(t, "", "keys", "gen"); code != 2 {
		t.Fatalf("keys gen without KIND: exit %d", code)
	}
}

func TestCLIKeysSaveAndList(t *testing.T) {
	dir := keysDir(t)
	out := mustRun(t, "", "keys", "gen", "account", "--save", "ci")
	path := filepath.Join(dir, "ci_account.nk")
	seed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, string(seed)) || strings.Contains(out, "Seed") {
		t.Fatalf("keys gen --save printed the seed:\n%s", out)
	}
	kp, err := claims.ParseSeedOf(claims.KindAccount, seed)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, kp.PublicKey()) || !strings.Contains(out, path) {
		t.Fatalf("keys gen --save printed %q, want the public key and %s", out, path)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved key: %v, %v", fi.Mode(), err)
	}
	if _, errOut, code := run(t, "", "keys", "gen", "account", "--save", "ci"); code == 0 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("saving over an existing key: exit %d, %q", code, errOut)
	}
	mustRun(t, "", "keys", "gen", "server", "--save", "host1")

	out = mustRun(t, "", "keys", "list", "-o", "json")
	if strings.Contains(out, string(seed)) {
		t.Fatal("keys list printed a seed")
	}
	var list []struct {
		Name, Kind, Path string
		PublicKey        string `json:"public_key"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "ci" || list[0].Kind != "account" || list[0].PublicKey != kp.PublicKey() ||
		list[0].Path != path || list[1].Name != "host1" || list[1].Kind != "server" || !strings.HasPrefix(list[1].PublicKey, "N") {
		t.Fatalf("keys list -o json: %+v", list)
	}
	out = mustRun(t, "", "keys", "list")
	if !strings.Contains(out, "PUBLIC KEY") || !strings.Contains(out, kp.PublicKey()) || strings.Contains(out, string(seed)) {
		t.Fatalf("keys list:\n%s", out)
	}
}

func TestCLIClaimsSignAndInspect(t *testing.T) {
	tmp := t.TempDir()
	loop := copyFile(t, conformance("loop.wasm"), tmp)

	// No keys given: the key store's, created on first use.
	out, errOut, code := run(t, "", "claims", "sign", loop, "--name", "Loop", "--alias", "Loop Actor",
		"--cap", "wasmcloud:keyvalue", "--cap", "wasmcloud:messaging", "--rev", "1", "--ver", "0.1.0", "--tag", "demo")
	want := filepath.Join(tmp, "loop_s.wasm")
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("claims sign: exit %d, stdout %q, want %s\n%s", code, out, want, errOut)
	}
	acctPath := filepath.Join(keysDir(t), keystore.FileName(keystore.AccountName(), claims.KindAccount))
	modPath := filepath.Join(keysDir(t), "loop_module.nk")
	if !strings.Contains(errOut, "created account key") || !strings.Contains(errOut, acctPath) ||
		!strings.Contains(errOut, "created module key") || !strings.Contains(errOut, modPath) {
		t.Fatalf("claims sign did not say which keys it created:\n%s", errOut)
	}
	acct, err := keystore.ReadSeedFile(acctPath)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := keystore.ReadSeedFile(modPath)
	if err != nil {
		t.Fatal(err)
	}

	r, errOut, code := inspect(t, want)
	if code != 0 || !r.Valid || r.Reason != "" {
		t.Fatalf("inspect: exit %d, %+v\n%s", code, r, errOut)
	}
	if !strings.HasPrefix(r.Hash, loopHashPrefix) || r.ModuleHash != r.Hash || !r.HashChecked {
		t.Errorf("hash %s, module hash %s, checked %v; want %s...", r.Hash, r.ModuleHash, r.HashChecked, loopHashPrefix)
	}
	if r.Name != "Loop" || r.CallAlias != "loop_actor" || r.Issuer != acct.PublicKey() || r.Module != mod.PublicKey() ||
		!slices.Equal(r.Caps, []string{claims.CapKeyValue, claims.CapMessaging}) || !slices.Equal(r.Tags, []string{"demo"}) ||
		r.Rev == nil || *r.Rev != 1 || r.Ver != "0.1.0" || r.Expires != nil || r.NotBefore != nil {
		t.Errorf("report %+v", r)
	}
	out = mustRun(t, "", "claims", "inspect", want)
	for _, s := range []string{"Status:", "VALID", loopHashPrefix, mod.PublicKey(), acct.PublicKey(), "K/V Store"} {
		if !strings.Contains(out, s) {
			t.Errorf("inspect table lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "INVALID") {
		t.Errorf("inspect table of a valid module:\n%s", out)
	}

	// Re-signing with other keys replaces the claims. The default name is
	// the file name.
	k1, issuerFile := genSeedFile(t, "account", tmp)
	k2, subjectFile := genSeedFile(t, "module", tmp)
	resigned := filepath.Join(tmp, "again.wasm")
	_, errOut, code = run(t, "", "claims", "sign", want, "--issuer-seed-file", issuerFile,
		"--subject-seed-file", subjectFile, "--cap", "wasmcloud:httpserver", "-o", resigned)
	if code != 0 || !strings.Contains(errOut, "replacing the claims") || !strings.Contains(errOut, "module key changes from "+mod.PublicKey()) {
		t.Fatalf("re-sign: exit %d\n%s", code, errOut)
	}
	r, _, code = inspect(t, resigned)
	if code != 0 || !r.Valid || r.Issuer != k1.PublicKey || r.Module != k2.PublicKey || r.Name != "loop_s" ||
		!slices.Equal(r.Caps, []string{claims.CapHTTPServer}) || !strings.HasPrefix(r.Hash, loopHashPrefix) {
		t.Fatalf("re-signed: exit %d, %+v", code, r)
	}
	if n := strings.Count(r.JWT, "."); n != 2 {
		t.Fatalf("jwt %q", r.JWT)
	}

	// --issuer takes the seed itself, like wash.
	aliased := filepath.Join(tmp, "aliased.wasm")
	mustRun(t, "", "claims", "sign", loop, "--issuer", k1.Seed, "--subject", subjectFile, "-o", aliased)
	if r, _, code := inspect(t, aliased); code != 0 || r.Issuer != k1.PublicKey || r.Module != k2.PublicKey {
		t.Fatalf("--issuer SEED: exit %d, %+v", code, r)
	}
	// Each key only once.
	if _, _, code := run(t, "", "claims", "sign", loop, "--issuer", k1.Seed, "--issuer-seed-file", issuerFile); code != 2 {
		t.Fatalf("--issuer with --issuer-seed-file: exit %d", code)
	}
}

func TestCLIClaimsInspectWascapModules(t *testing.T) {
	r, errOut, code := inspect(t, conformance("signed_loop.wasm"))
	if code != 0 || !r.Valid || r.Name != "Secure Actor" || !strings.HasPrefix(r.Hash, loopHashPrefix) {
		t.Fatalf("signed_loop.wasm: exit %d, %+v\n%s", code, r, errOut)
	}
	r, errOut, code = inspect(t, conformance("echo_messaging_v0.9.0.wasm"))
	if code != 0 || !r.Valid || r.Name != "Echo Messaging" || r.Section != claims.SectionWasmcloudJWT ||
		!slices.Contains(r.Caps, claims.CapMessaging) || !slices.Contains(r.Caps, claims.CapLogging) {
		t.Fatalf("echo_messaging_v0.9.0.wasm: exit %d, %+v\n%s", code, r, errOut)
	}
	out := mustRun(t, "", "claims", "inspect", conformance("echo_messaging_v0.9.0.wasm"))
	if !strings.Contains(out, "wasmcloud:messaging (Messaging)") || !strings.Contains(out, "VALID") {
		t.Fatalf("inspect table:\n%s", out)
	}

	// --allowed-issuers: its own issuer passes, another account does not.
	if _, _, code := inspect(t, conformance("echo_messaging_v0.9.0.wasm"), "--allowed-issuers", r.Issuer); code != 0 {
		t.Fatalf("allowed issuer: exit %d", code)
	}
	other, err := claims.GenerateKeyPair(claims.KindAccount)
	if err != nil {
		t.Fatal(err)
	}
	r, errOut, code = inspect(t, conformance("echo_messaging_v0.9.0.wasm"), "--allowed-issuers", other.PublicKey())
	if code != 7 || r.Valid || !strings.Contains(r.Reason, "not allowed") || !strings.Contains(errOut, "not allowed") {
		t.Fatalf("other issuer: exit %d, %+v\n%s", code, r, errOut)
	}
	if _, _, code := run(t, "", "claims", "inspect", conformance("loop.wasm"), "--allowed-issuers", "MXXX"); code != 2 {
		t.Fatalf("bad --allowed-issuers: exit %d", code)
	}
}

func TestCLIClaimsInspectUnsigned(t *testing.T) {
	out, errOut, code := run(t, "", "claims", "inspect", conformance("loop.wasm"))
	if code != 7 || out != "" || !strings.Contains(errOut, "is not signed") || !strings.Contains(errOut, "wisp claims sign") {
		t.Fatalf("unsigned module: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code := run(t, "", "claims", "inspect", conformance("loop.wasm"), "-o", "json"); code != 7 || !strings.Contains(errOut, "is not signed") {
		t.Fatalf("unsigned module, json: exit %d, %q", code, errOut)
	}
	notWasm := filepath.Join(t.TempDir(), "notes.wasm")
	os.WriteFile(notWasm, []byte("hello, world"), 0o644)
	// A file that is not a module has no valid claims either: 7, as for
	// an unsigned one, so scripts gate on one code.
	if _, errOut, code := run(t, "", "claims", "inspect", notWasm); code != 7 || !strings.Contains(errOut, "not a valid WebAssembly module") {
		t.Fatalf("not wasm: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, "", "claims", "inspect", filepath.Join(t.TempDir(), "missing.wasm")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("missing file: exit %d, %q", code, errOut)
	}
}

func TestCLIClaimsTampered(t *testing.T) {
	tmp := t.TempDir()
	signed := filepath.Join(tmp, "signed.wasm")
	mustRun(t, "", "claims", "sign", conformance("loop.wasm"), "-o", signed)
	b, err := os.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(tmp, "tampered.wasm")
	if err := os.WriteFile(tampered, flipCodeByte(t, b), 0o644); err != nil {
		t.Fatal(err)
	}
	r, errOut, code := inspect(t, tampered)
	if code != 7 || r.Valid || !strings.Contains(r.Reason, "hash") || r.ModuleHash == r.Hash ||
		!strings.HasPrefix(r.Hash, loopHashPrefix) || !strings.Contains(errOut, "hash") {
		t.Fatalf("tampered: exit %d, %+v\n%s", code, r, errOut)
	}
	out, _, code := run(t, "", "claims", "inspect", tampered)
	if code != 7 || !strings.Contains(out, "INVALID") || !strings.Contains(out, r.ModuleHash) {
		t.Fatalf("tampered, table: exit %d\n%s", code, out)
	}
}

func TestCLIClaimsTimes(t *testing.T) {
	tmp := t.TempDir()
	expiring := filepath.Join(tmp, "expiring.wasm")
	mustRun(t, "", "claims", "sign", conformance("loop.wasm"), "--expires", "1s", "-o", expiring)
	later := filepath.Join(tmp, "later.wasm")
	mustRun(t, "", "claims", "sign", conformance("loop.wasm"), "--not-before", "1h", "--expires", "30d", "-o", later)

	r, _, code := inspect(t, later)
	if code != 7 || r.Valid || !strings.Contains(r.Reason, "not yet valid") || r.NotBefore == nil || r.Expires == nil {
		t.Fatalf("not before 1h: exit %d, %+v", code, r)
	}
	if d := r.Expires.Sub(*r.NotBefore); d < 30*24*time.Hour-time.Hour-time.Minute || d > 30*24*time.Hour {
		t.Errorf("expires %s, not before %s", r.Expires, r.NotBefore)
	}

	// Claims are valid through the second of exp: wait for it to pass.
	testwait.Eventually(t, 10*time.Second, func() error {
		r, _, code = inspect(t, expiring)
		switch code {
		case 7:
			return nil
		case 0:
			return fmt.Errorf("expires 1s: still valid: %+v", r)
		}
		t.Fatalf("expires 1s: exit %d, %+v", code, r)
		return nil
	})
	if r.Valid || !strings.Contains(r.Reason, "expired") {
		t.Fatalf("expired: %+v", r)
	}

	for _, bad := range []string{"30", "-1h", "soon", "0s", "1x"} {
		if _, errOut, code := run(t, "", "claims", "sign", conformance("loop.wasm"), "--expires", bad, "-o", filepath.Join(tmp, "x.wasm")); code != 2 || !strings.Contains(errOut, "30d") {
			t.Errorf("--expires %s: exit %d, %q", bad, code, errOut)
		}
	}
	if _, _, code := run(t, "", "claims", "sign", conformance("loop.wasm"), "--expires", "1h", "--not-before", "2h", "-o", filepath.Join(tmp, "x.wasm")); code != 2 {
		t.Errorf("expires before not-before: exit %d", code)
	}
}

func TestCLIClaimsSignRefusals(t *testing.T) {
	tmp := t.TempDir()
	loop := copyFile(t, conformance("loop.wasm"), tmp)
	mk, modFile := genSeedFile(t, "module", tmp)
	ak, acctFile := genSeedFile(t, "account", tmp)
	out := filepath.Join(tmp, "out.wasm")
	noSeed := func(s string) {
		t.Helper()
		if strings.Contains(s, mk.Seed) || strings.Contains(s, ak.Seed) {
			t.Fatalf("a seed was printed: %q", s)
		}
	}

	// Keys of the wrong kind, as a file and as a seed.
	for _, tc := range [][]string{
		{"--issuer-seed-file", modFile},
		{"--issuer", mk.Seed},
		{"--subject-seed-file", acctFile},
		{"--subject", ak.Seed},
	} {
		stdout, errOut, code := run(t, "", append([]string{"claims", "sign", loop, "-o", out}, tc...)...)
		if code != 1 || !strings.Contains(errOut, "wrong kind of key") || !strings.Contains(errOut, tc[0]) {
			t.Errorf("%s of the wrong kind: exit %d, %q", tc[0], code, errOut)
		}
		noSeed(stdout + errOut)
	}
	// A seed file others can read.
	os.Chmod(acctFile, 0o644)
	_, errOut, code := run(t, "", "claims", "sign", loop, "--issuer-seed-file", acctFile, "-o", out)
	if code != 1 || !strings.Contains(errOut, "chmod 600") {
		t.Errorf("world-readable seed file: exit %d, %q", code, errOut)
	}
	noSeed(errOut)
	// Not Wasm.
	notWasm := filepath.Join(tmp, "readme.wasm")
	os.WriteFile(notWasm, []byte("# not a module\n"), 0o644)
	if _, errOut, code := run(t, "", "claims", "sign", notWasm, "-o", out); code != 1 || !strings.Contains(errOut, "not a valid WebAssembly module") {
		t.Errorf("not wasm: exit %d, %q", code, errOut)
	}
	// Capabilities must be contract IDs.
	if _, errOut, code := run(t, "", "claims", "sign", loop, "--cap", "keyvalue", "-o", out); code != 2 || !strings.Contains(errOut, "did you mean wasmcloud:keyvalue") {
		t.Errorf("--cap keyvalue: exit %d, %q", code, errOut)
	}
	for _, c := range []string{"wasmcloud:", ":x", "a b:c", "wasmcloud:key value"} {
		if _, errOut, code := run(t, "", "claims", "sign", loop, "--cap", c, "-o", out); code != 2 || !strings.Contains(errOut, "namespace:name") {
			t.Errorf("--cap %q: exit %d, %q", c, code, errOut)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a refused signing wrote %s", out)
	}
	if _, _, code := run(t, "", "claims", "sign"); code != 2 {
		t.Errorf("no FILE: exit %d", code)
	}
}

func TestCLIClaimsParentsNeedSubcommand(t *testing.T) {
	for _, p := range []string{"keys", "claims"} {
		if _, errOut, code := run(t, "", p); code != 2 || !strings.Contains(errOut, "needs a subcommand") {
			t.Errorf("wisp %s: exit %d, %q", p, code, errOut)
		}
	}
}

func TestCLIBuildSigns(t *testing.T) {
	tmp := t.TempDir()
	module := filepath.Join(tmp, "echo.wasm")
	out, errOut, code := run(t, "", "build", "./actors/echo", "-o", module)
	if code != 0 || strings.TrimSpace(out) != module {
		t.Fatalf("build: exit %d, stdout %q\n%s", code, out, errOut)
	}
	dir := keysDir(t)
	acctPath := filepath.Join(dir, keystore.FileName(keystore.AccountName(), claims.KindAccount))
	modPath := filepath.Join(dir, "echo_module.nk")
	for _, p := range []string{acctPath, modPath} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key %s: %v, %v", p, fi, err)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("key directory: %v, %v", fi, err)
	}
	mod, err := keystore.ReadSeedFile(modPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, mod.PublicKey()) {
		t.Errorf("build did not print the module key:\n%s", errOut)
	}
	r, _, code := inspect(t, module)
	if code != 0 || !r.Valid || r.Name != "echo" || r.CallAlias != "echo" || r.Module != mod.PublicKey() || len(r.Caps) != 0 {
		t.Fatalf("built module: exit %d, %+v", code, r)
	}

	// Again with flags: the same keys, nothing created.
	out, errOut, code = run(t, "", "build", "./actors/echo", "-o", module, "--cap", "wasmcloud:messaging", "--rev", "2", "--ver", "0.2.0")
	if code != 0 || strings.TrimSpace(out) != module || strings.Contains(errOut, "created") {
		t.Fatalf("second build: exit %d, %q\n%s", code, out, errOut)
	}
	r, _, code = inspect(t, module)
	if code != 0 || r.Module != mod.PublicKey() || !slices.Equal(r.Caps, []string{claims.CapMessaging}) ||
		r.Rev == nil || *r.Rev != 2 || r.Ver != "0.2.0" {
		t.Fatalf("second build: exit %d, %+v", code, r)
	}

	plain := filepath.Join(tmp, "plain.wasm")
	if got := strings.TrimSpace(mustRun(t, "", "build", "./actors/echo", "-o", plain, "--no-sign")); got != plain {
		t.Fatalf("build --no-sign printed %q", got)
	}
	if _, errOut, code := run(t, "", "claims", "inspect", plain); code != 7 || !strings.Contains(errOut, "not signed") {
		t.Fatalf("--no-sign module: exit %d, %q", code, errOut)
	}
	if _, errOut, code := run(t, "", "build", "./actors/echo", "-o", plain, "--no-sign", "--cap", "wasmcloud:messaging"); code != 2 || !strings.Contains(errOut, "--no-sign") {
		t.Fatalf("--no-sign --cap: exit %d, %q", code, errOut)
	}
}
