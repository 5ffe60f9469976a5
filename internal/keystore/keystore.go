// Package keystore keeps the nkey seeds wisp signs actors with, as files in
// a private directory, in the same layout as wash: one seed per file named
// <name>_<kind>.nk (for example alice_account.nk, echo_module.nk), the
// directory mode 0700 and the files 0600. Keys are created on first use.
//
// Seeds never appear in this package's errors.
package keystore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/wisp-dev/wisp/host/claims"
)

// EnvDir is the environment variable that overrides the default key directory.
const EnvDir = "WISP_KEYS_DIR"

// Ext is the file name extension of seed files.
const Ext = ".nk"

// Modes of the key directory and of seed files.
const (
	DirMode  fs.FileMode = 0o700
	FileMode fs.FileMode = 0o600
)

// ErrInsecurePermissions reports a seed file that group or others may access.
var ErrInsecurePermissions = errors.New("seed file is accessible by group or others")

// DefaultDir returns the key directory used when Store.Dir is empty: $WISP_KEYS_DIR
// if set, otherwise "wisp/keys" under the user's configuration directory
// (os.UserConfigDir, e.g. ~/.config/wisp/keys on Linux).
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("keystore: no key directory: set %s: %w", EnvDir, err)
	}
	return filepath.Join(cfg, "wisp", "keys"), nil
}

// Store is a directory of seed files. The zero value uses DefaultDir.
type Store struct {
	// Dir is the key directory; empty means DefaultDir().
	Dir string
}

// Location returns the directory the store uses.
func (s Store) Location() (string, error) {
	if s.Dir != "" {
		return s.Dir, nil
	}
	return DefaultDir()
}

// FileName returns the file name wash and wisp use for a key: <name>_<kind>.nk.
func FileName(name string, kind claims.KeyKind) string {
	return name + "_" + kind.String() + Ext
}

// AccountName returns the name under which the default account key is kept:
// $USER, or "user" when it is not set, as wash does.
func AccountName() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "user"
}

// ModuleName returns the name under which a module's key is kept: the
// module's file name without its extension, as wash does ("echo" for
// "build/echo.wasm").
func ModuleName(modulePath string) string {
	base := filepath.Base(modulePath)
	if ext := filepath.Ext(base); ext != base {
		base = strings.TrimSuffix(base, ext)
	}
	return base
}

func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.HasPrefix(name, ".") ||
		strings.ContainsAny(name, `/\`+"\x00") {
		return fmt.Errorf("keystore: invalid key name %q", name)
	}
	return nil
}

// Path returns the path of the seed file for a key.
func (s Store) Path(name string, kind claims.KeyKind) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	dir, err := s.Location()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, FileName(name, kind)), nil
}

// Load reads the key name of the given kind. A missing key gives an error
// wrapping fs.ErrNotExist; a seed file with group or other permissions
// gives ErrInsecurePermissions.
func (s Store) Load(name string, kind claims.KeyKind) (*claims.KeyPair, error) {
	path, err := s.Path(name, kind)
	if err != nil {
		return nil, err
	}
	kp, err := ReadSeedFile(path)
	if err != nil {
		return nil, err
	}
	if kp.Kind() != kind {
		err := fmt.Errorf("keystore: %s: %w: holds a key of kind %s, want %s", path, claims.ErrWrongKeyKind, kp.Kind(), kind)
		kp.Wipe()
		return nil, err
	}
	return kp, nil
}

// LoadOrCreate reads the key name of the given kind, creating and saving a
// new one if there is none. created says whether the key is new.
func (s Store) LoadOrCreate(name string, kind claims.KeyKind) (kp *claims.KeyPair, created bool, err error) {
	kp, err = s.Load(name, kind)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return kp, false, err
	}
	kp, err = claims.GenerateKeyPair(kind)
	if err != nil {
		return nil, false, fmt.Errorf("keystore: %w", err)
	}
	err = s.Save(name, kp)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first: use theirs.
		kp.Wipe()
		kp, err = s.Load(name, kind)
		return kp, false, err
	}
	if err != nil {
		kp.Wipe()
		return nil, false, err
	}
	return kp, true, nil
}

// Account returns the default account key (see AccountName), creating it on first use.
func (s Store) Account() (kp *claims.KeyPair, created bool, err error) {
	return s.LoadOrCreate(AccountName(), claims.KindAccount)
}

// Module returns the key for the module at modulePath (see ModuleName),
// creating it on first use.
func (s Store) Module(modulePath string) (kp *claims.KeyPair, created bool, err error) {
	return s.LoadOrCreate(ModuleName(modulePath), claims.KindModule)
}

// Save writes a new key as name. It never replaces an existing key: if one
// exists the error wraps fs.ErrExist. The directory is created with mode
// 0700 (an existing one is restricted to 0700, as wash does) and the file
// with mode 0600.
func (s Store) Save(name string, kp *claims.KeyPair) error {
	path, err := s.Path(name, kp.Kind())
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("keystore: creating key directory: %w", err)
	}
	if err := os.Chmod(dir, DirMode); err != nil {
		return fmt.Errorf("keystore: restricting key directory: %w", err)
	}
	// Write a private temporary file, then link it into place, so that the
	// key appears complete or not at all and an existing key is never replaced.
	tmp, err := os.CreateTemp(dir, ".tmp-*"+Ext)
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	defer os.Remove(tmp.Name())
	seed := kp.Seed()
	defer clear(seed)
	if err := writeAndClose(tmp, seed); err != nil {
		return fmt.Errorf("keystore: writing %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("keystore: %s: %w", path, fs.ErrExist)
		}
		// No hard links on this file system: create exclusively instead.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
		if err != nil {
			return fmt.Errorf("keystore: %w", err)
		}
		if err := writeAndClose(f, seed); err != nil {
			os.Remove(path)
			return fmt.Errorf("keystore: writing %s: %w", path, err)
		}
	}
	return nil
}

func writeAndClose(f *os.File, data []byte) error {
	if err := f.Chmod(FileMode); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadSeedFile reads a seed file of any kind. It refuses a file that is
// not a regular file or that group or others may access (on systems with
// Unix permissions), saying how to fix it.
func ReadSeedFile(path string) (*claims.KeyPair, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keystore: %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("keystore: refusing to read %s: %w (mode %04o, want 0600); fix with: chmod 600 %s",
			path, ErrInsecurePermissions, perm, path)
	}
	// A seed is 58 bytes; anything much larger is not a seed file.
	data, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("keystore: reading %s: %w", path, err)
	}
	defer clear(data)
	kp, err := claims.ParseSeed(data)
	if err != nil {
		return nil, fmt.Errorf("keystore: %s does not hold a valid seed: %w", path, err)
	}
	return kp, nil
}

// ResolveKey loads a key of the given kind given as a flag value, the way
// wash's --issuer and --subject flags work: the path of a seed file (read
// with ReadSeedFile's checks), or else the seed itself. Errors never repeat
// a value that may be a seed. Seeds on a command line are visible to other
// local users; prefer files.
func ResolveKey(pathOrSeed string, kind claims.KeyKind) (*claims.KeyPair, error) {
	if fi, err := os.Stat(pathOrSeed); err == nil && !fi.IsDir() {
		kp, err := ReadSeedFile(pathOrSeed)
		if err != nil {
			return nil, err
		}
		if kp.Kind() != kind {
			kind0 := kp.Kind()
			kp.Wipe()
			return nil, fmt.Errorf("keystore: %s: %w: holds a key of kind %s, want %s", pathOrSeed, claims.ErrWrongKeyKind, kind0, kind)
		}
		return kp, nil
	}
	if strings.HasPrefix(strings.TrimSpace(pathOrSeed), "S") && !strings.ContainsAny(pathOrSeed, `/\.`) {
		kp, err := claims.ParseSeedOf(kind, []byte(pathOrSeed))
		if err != nil {
			return nil, fmt.Errorf("keystore: the given value is neither a seed file nor a valid seed: %w", err)
		}
		return kp, nil
	}
	return nil, fmt.Errorf("keystore: seed file %q: %w", pathOrSeed, fs.ErrNotExist)
}

// Entry describes one key file in a store.
type Entry struct {
	// Name is the key's name, the file name without _<kind>.nk.
	Name string `json:"name"`
	// Kind is the key's kind as given by its file name.
	Kind claims.KeyKind `json:"-"`
	// KindName is Kind.String(), for display.
	KindName string `json:"kind"`
	// PublicKey is the key's public key; empty if the file could not be read.
	PublicKey string `json:"public_key,omitempty"`
	// Path is the seed file.
	Path string `json:"path"`
	// Err says why the file could not be read; nil if it could.
	Err error `json:"-"`
}

// List returns the keys in the store, sorted by file name. Files that do
// not follow the <name>_<kind>.nk pattern are skipped; files that cannot be
// read are listed with Err set. A missing directory is an empty store.
func (s Store) List() ([]Entry, error) {
	dir, err := s.Location()
	if err != nil {
		return nil, err
	}
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	var out []Entry
	for _, de := range des {
		stem, ok := strings.CutSuffix(de.Name(), Ext)
		i := strings.LastIndexByte(stem, '_')
		if !ok || i <= 0 || strings.HasPrefix(stem, ".") {
			continue
		}
		kind, err := claims.ParseKeyKind(stem[i+1:])
		if err != nil || kind.String() != stem[i+1:] {
			continue
		}
		e := Entry{Name: stem[:i], Kind: kind, KindName: kind.String(), Path: filepath.Join(dir, de.Name())}
		if kp, err := ReadSeedFile(e.Path); err != nil {
			e.Err = err
		} else {
			if kp.Kind() != kind {
				e.Err = fmt.Errorf("keystore: %s: %w: holds a key of kind %s", e.Path, claims.ErrWrongKeyKind, kp.Kind())
			} else {
				e.PublicKey = kp.PublicKey()
			}
			kp.Wipe()
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
