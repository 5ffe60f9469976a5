package keystore

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/wisp-dev/wisp/host/claims"
)

func skipOnWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestCreateOnFirstUse(t *testing.T) {
	skipOnWindows(t)
	dir := filepath.Join(t.TempDir(), "nested", "keys")
	s := Store{Dir: dir}
	t.Setenv("USER", "alice")

	acct, created, err := s.Account()
	if err != nil || !created {
		t.Fatalf("Account() = %v, created %v, %v", acct, created, err)
	}
	if acct.Kind() != claims.KindAccount {
		t.Fatalf("kind %s", acct.Kind())
	}
	path := filepath.Join(dir, "alice_account.nk")
	if got := mode(t, dir); got != DirMode {
		t.Errorf("dir mode %04o, want 0700", got)
	}
	if got := mode(t, path); got != FileMode {
		t.Errorf("file mode %04o, want 0600", got)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, acct.Seed()) {
		t.Error("file does not hold exactly the seed (wash writes it without a newline)")
	}

	again, created, err := s.Account()
	if err != nil || created || again.PublicKey() != acct.PublicKey() {
		t.Fatalf("second Account() = %v, created %v, %v; want the same key", again, created, err)
	}

	mod, created, err := s.Module("build/echo.wasm")
	if err != nil || !created || mod.Kind() != claims.KindModule {
		t.Fatalf("Module() = %v, %v, %v", mod, created, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "echo_module.nk")); err != nil {
		t.Fatal(err)
	}
	entries, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Name != "alice" || entries[0].Kind != claims.KindAccount ||
		entries[0].PublicKey != acct.PublicKey() || entries[1].Name != "echo" || entries[1].KindName != "module" {
		t.Fatalf("List() = %+v", entries)
	}
}

func TestConcurrentCreateAgrees(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	keys := make([]string, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kp, _, err := s.LoadOrCreate("shared", claims.KindModule)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = kp.PublicKey()
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k != keys[0] {
			t.Fatalf("concurrent creation gave different keys: %v", keys)
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(s.Dir, ".tmp-*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestRefusesLoosePermissions(t *testing.T) {
	skipOnWindows(t)
	s := Store{Dir: t.TempDir()}
	kp, _, err := s.LoadOrCreate("bob", claims.KindAccount)
	if err != nil {
		t.Fatal(err)
	}
	seed := string(kp.Seed())
	path, _ := s.Path("bob", claims.KindAccount)
	for _, m := range []fs.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, m); err != nil {
			t.Fatal(err)
		}
		_, err := s.Load("bob", claims.KindAccount)
		if !errors.Is(err, ErrInsecurePermissions) {
			t.Fatalf("mode %04o: got %v, want ErrInsecurePermissions", m, err)
		}
		msg := err.Error()
		for _, want := range []string{path, "chmod 600", "group or others"} {
			if !strings.Contains(msg, want) {
				t.Errorf("mode %04o: error %q lacks %q", m, msg, want)
			}
		}
		if strings.Contains(msg, seed) || strings.Contains(msg, seed[2:20]) {
			t.Fatalf("error contains the seed: %q", msg)
		}
	}
	for _, m := range []fs.FileMode{0o400, 0o600} {
		os.Chmod(path, m)
		if _, err := s.Load("bob", claims.KindAccount); err != nil {
			t.Errorf("mode %04o: %v", m, err)
		}
	}
}

func TestSaveTightensDirAndNeverOverwrites(t *testing.T) {
	skipOnWindows(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := Store{Dir: dir}
	kp, _ := claims.GenerateKeyPair(claims.KindModule)
	if err := s.Save("m", kp); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, dir); got != DirMode {
		t.Errorf("dir mode %04o after save, want 0700", got)
	}
	other, _ := claims.GenerateKeyPair(claims.KindModule)
	if err := s.Save("m", other); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwriting save: %v, want fs.ErrExist", err)
	}
	got, err := s.Load("m", claims.KindModule)
	if err != nil || got.PublicKey() != kp.PublicKey() {
		t.Fatalf("key changed: %v, %v", got, err)
	}
}

func TestBadSeedFiles(t *testing.T) {
	skipOnWindows(t)
	s := Store{Dir: t.TempDir()}
	acct, _ := claims.GenerateKeyPair(claims.KindAccount)
	seed := acct.Seed()

	// An account seed stored under a module name.
	path, _ := s.Path("x", claims.KindModule)
	os.WriteFile(path, seed, 0o600)
	if _, err := s.Load("x", claims.KindModule); !errors.Is(err, claims.ErrWrongKeyKind) {
		t.Errorf("wrong kind: %v", err)
	}

	// A corrupted seed: the error names the file but not its contents.
	bad := bytes.Clone(seed)
	bad[20] ^= 1
	os.WriteFile(path, bad, 0o600)
	_, err := s.Load("x", claims.KindModule)
	if !errors.Is(err, claims.ErrInvalidKey) || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt seed: %v", err)
	}
	if strings.Contains(err.Error(), string(bad[2:20])) {
		t.Errorf("error contains the seed: %v", err)
	}

	// A trailing newline, as an editor would add, is fine.
	os.WriteFile(path, append(bytes.Clone(seed), '\n'), 0o600)
	if _, err := ReadSeedFile(path); err != nil {
		t.Errorf("seed with newline: %v", err)
	}

	if _, err := s.Load("missing", claims.KindAccount); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key: %v, want fs.ErrNotExist", err)
	}
	if _, err := ReadSeedFile(s.Dir); err == nil {
		t.Error("reading a directory as a seed file succeeded")
	}
	for _, name := range []string{"", "..", "a/b", `a\b`, ".hidden"} {
		if _, err := s.Path(name, claims.KindAccount); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}

	// List shows unreadable files with their error and skips foreign files.
	mod, _ := claims.GenerateKeyPair(claims.KindModule)
	os.WriteFile(path, mod.Seed(), 0o600)
	os.WriteFile(filepath.Join(s.Dir, "notes.txt"), []byte("hi"), 0o600)
	os.WriteFile(filepath.Join(s.Dir, "odd_thing.nk"), []byte("hi"), 0o600)
	entries, err := s.List()
	if err != nil || len(entries) != 1 || entries[0].Err != nil {
		t.Fatalf("List() = %+v, %v", entries, err)
	}
	os.Chmod(path, 0o644)
	entries, _ = s.List()
	if len(entries) != 1 || !errors.Is(entries[0].Err, ErrInsecurePermissions) {
		t.Fatalf("List() with loose file = %+v", entries)
	}
}

func TestDirectorySelection(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("HOME", cfg)
	t.Setenv(EnvDir, "")
	d, err := Store{}.Location()
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" && d != filepath.Join(cfg, "wisp", "keys") {
		t.Errorf("default dir %s, want %s", d, filepath.Join(cfg, "wisp", "keys"))
	}
	t.Setenv(EnvDir, "/from/env")
	if d, _ := (Store{}).Location(); d != "/from/env" {
		t.Errorf("with %s set: %s", EnvDir, d)
	}
	if d, _ := (Store{Dir: "/from/field"}).Location(); d != "/from/field" {
		t.Errorf("field does not win over env: %s", d)
	}
}

func TestNames(t *testing.T) {
	if got := FileName("echo", claims.KindModule); got != "echo_module.nk" {
		t.Errorf("FileName = %s", got)
	}
	for in, want := range map[string]string{
		"echo.wasm": "echo", "build/echo_s.wasm": "echo_s", "/x/a.b.wasm": "a.b", "noext": "noext", ".wasm": ".wasm",
	} {
		if got := ModuleName(in); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
	t.Setenv("USER", "")
	if AccountName() != "user" {
		t.Errorf("AccountName without USER = %q", AccountName())
	}
}

func TestResolveKey(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	mod, _, err := s.LoadOrCreate("echo", claims.KindModule)
	if err != nil {
		t.Fatal(err)
	}
	path, _ := s.Path("echo", claims.KindModule)
	seed := string(mod.Seed())

	for _, in := range []string{path, seed} {
		kp, err := ResolveKey(in, claims.KindModule)
		if err != nil || kp.PublicKey() != mod.PublicKey() {
			t.Errorf("ResolveKey(%.10s...) = %v, %v", in, kp, err)
		}
	}
	if _, err := ResolveKey(path, claims.KindAccount); !errors.Is(err, claims.ErrWrongKeyKind) {
		t.Errorf("wrong kind from file: %v", err)
	}
	if _, err := ResolveKey(seed, claims.KindAccount); !errors.Is(err, claims.ErrWrongKeyKind) {
		t.Errorf("wrong kind from seed: %v", err)
	}
	typo := seed[:57]
	_, err = ResolveKey(typo, claims.KindModule)
	if err == nil || strings.Contains(err.Error(), typo[2:20]) {
		t.Errorf("mistyped seed: %v (must fail without echoing it)", err)
	}
	if _, err := ResolveKey(filepath.Join(s.Dir, "nope.nk"), claims.KindModule); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
