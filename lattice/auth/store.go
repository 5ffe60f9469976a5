package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/wisp-dev/wisp/internal/filelock"
	"github.com/wisp-dev/wisp/lattice"
)

// EnvDir overrides the directory of the default Store.
const EnvDir = "WISP_AUTH_DIR"

// DefaultDir is $WISP_AUTH_DIR, else "wisp/auth" under the user's
// configuration directory (~/.config/wisp/auth on Linux).
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, nil
	}
	cfg, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no auth directory: set %s: %w", EnvDir, err)
	}
	return filepath.Join(cfg, "wisp", "auth"), nil
}

// Names of the users a Store makes for its own machine: the admin of the
// CLI's contexts, the host user of `wisp up`, the provider user of `wisp
// provider run` and the leaf user of an edge server whose hub shares the
// store. Their creds stay in the store; the creds of every other user are
// handed out once.
const (
	AdminUser    = "admin"
	HostUser     = "local-host"
	ProviderUser = "local-provider"
	LeafUser     = "local-leaf"
)

// localUsers are the users a store makes for its own machine with each
// lattice's account.
var localUsers = map[string]Role{AdminUser: RoleAdmin, HostUser: RoleHost, ProviderUser: RoleProvider, LeafUser: RoleLeaf}

// Store keeps the keys and JWTs of one operator as files in a private
// directory (0700, seeds 0600): the operator, its system account, one
// account per lattice, and the users made for each. It is the wisp
// equivalent of an nsc store: whoever holds it can mint credentials.
//
// Layout:
//
//	operator.nk, operator.jwt
//	system/account.nk, system/account.jwt, system/sys.creds
//	lattices/<lattice>/account.nk, account.jwt, users.json, creds/<name>.creds
//
// Changes are serialised with a file lock, so several `wisp up` processes
// on one machine can share a store.
type Store struct {
	dir string
}

// User is a user of a lattice as the store records it. Its seed is not
// kept, except for the store's own AdminUser and HostUser.
type User struct {
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Key       string    `json:"key"`
	Calls     []string  `json:"calls,omitempty"`
	Contracts []string  `json:"contracts,omitempty"`
	Subscribe []string  `json:"subscribe,omitempty"`
	Created   time.Time `json:"created"`
	Revoked   time.Time `json:"revoked,omitzero"`
}

// Open opens the store in dir, creating the operator and its system
// account on first use.
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth store %s: %w", dir, err)
	}
	err := s.locked(func() error {
		if _, err := os.Stat(s.path("operator.jwt")); err != nil {
			if err := s.init(); err != nil {
				return err
			}
		}
		return s.upgrade()
	})
	if err != nil {
		return nil, fmt.Errorf("auth store %s: %w", dir, err)
	}
	return s, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(p ...string) string { return filepath.Join(append([]string{s.dir}, p...)...) }

// init creates the operator, the system account and its user.
func (s *Store) init() error {
	op, err := nkeys.CreateOperator()
	if err != nil {
		return err
	}
	opPub, _ := op.PublicKey()
	sys, err := nkeys.CreateAccount()
	if err != nil {
		return err
	}
	sysPub, _ := sys.PublicKey()
	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "wisp"
	oc.SystemAccount = sysPub
	opJWT, err := oc.Encode(op)
	if err != nil {
		return fmt.Errorf("operator jwt: %w", err)
	}
	ac := jwt.NewAccountClaims(sysPub)
	ac.Name = "SYS"
	sysJWT, err := ac.Encode(op)
	if err != nil {
		return fmt.Errorf("system account jwt: %w", err)
	}
	creds, _, err := newUserCreds(sys, "sys", jwt.Permissions{})
	if err != nil {
		return err
	}
	// The operator goes last: its JWT marks a complete store.
	for _, f := range []struct {
		name string
		data []byte
		kp   nkeys.KeyPair
	}{
		{"system/account.nk", nil, sys},
		{"system/account.jwt", []byte(sysJWT), nil},
		{"system/sys.creds", creds, nil},
		{"operator.nk", nil, op},
		{"operator.jwt", []byte(opJWT), nil},
	} {
		data := f.data
		if f.kp != nil {
			if data, err = f.kp.Seed(); err != nil {
				return err
			}
		}
		if err := writePrivate(s.path(f.name), data); err != nil {
			return err
		}
	}
	return nil
}

// OperatorJWT is the operator's JWT, which servers trust.
func (s *Store) OperatorJWT() (string, error) {
	b, err := os.ReadFile(s.path("operator.jwt"))
	return string(b), err
}

// SystemCreds is the .creds file of the system account's user, which
// pushes account updates (revocations, new lattices) to running servers.
func (s *Store) SystemCreds() string { return s.path("system", "sys.creds") }

// Lattices lists the lattices that have an account in the store.
func (s *Store) Lattices() ([]string, error) {
	ents, err := os.ReadDir(s.path("lattices"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if _, err := os.Stat(s.path("lattices", e.Name(), "account.jwt")); err == nil {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Account is a lattice's account: its public key (A…) and JWT.
type Account struct {
	Lattice string
	Key     string
	JWT     string
}

// Account returns the account of lattice L, creating it (with JetStream
// enabled) and its admin and host users on first use. created says the
// account is new: running servers learn it by PushAccount.
func (s *Store) Account(L string) (acct Account, created bool, err error) {
	if err := lattice.ValidateName("lattice id", L); err != nil {
		return acct, false, err
	}
	err = s.locked(func() error {
		if a, err := s.readAccount(L); err == nil {
			acct = a
			return nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		created = true
		kp, err := nkeys.CreateAccount()
		if err != nil {
			return err
		}
		if err := writePrivate(s.path("lattices", L, "account.nk"), mustSeed(kp)); err != nil {
			return err
		}
		if _, err := s.signAccount(L, kp, nil); err != nil {
			return err
		}
		for name, role := range localUsers {
			creds, u, err := s.newUser(L, kp, name, role, Grant{})
			if err != nil {
				return err
			}
			if err := writePrivate(s.path("lattices", L, "creds", name+".creds"), creds); err != nil {
				return err
			}
			if err := s.putUser(L, u); err != nil {
				return err
			}
		}
		acct, err = s.readAccount(L)
		return err
	})
	if err != nil {
		return acct, false, fmt.Errorf("account of lattice %s: %w", L, err)
	}
	return acct, created, nil
}

func (s *Store) readAccount(L string) (Account, error) {
	b, err := os.ReadFile(s.path("lattices", L, "account.jwt"))
	if err != nil {
		return Account{}, err
	}
	ac, err := jwt.DecodeAccountClaims(string(b))
	if err != nil {
		return Account{}, fmt.Errorf("account.jwt: %w", err)
	}
	return Account{Lattice: L, Key: ac.Subject, JWT: string(b)}, nil
}

// signAccount writes the account JWT of L, signed by the operator, with
// JetStream on and the revocations given.
func (s *Store) signAccount(L string, kp nkeys.KeyPair, revoked map[string]time.Time) (string, error) {
	op, err := s.seed("operator.nk")
	if err != nil {
		return "", err
	}
	pub, _ := kp.PublicKey()
	ac := jwt.NewAccountClaims(pub)
	ac.Name = "wisp-" + L
	ac.Tags.Add("wisp-lattice:" + L)
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	for k, t := range revoked {
		ac.RevokeAt(k, t)
	}
	opTok, err := s.OperatorJWT()
	if err != nil {
		return "", err
	}
	oc, err := jwt.DecodeOperatorClaims(opTok)
	if err != nil {
		return "", fmt.Errorf("operator.jwt: %w", err)
	}
	latticeImports(ac, L, oc.SystemAccount)
	tok, err := ac.Encode(op)
	if err != nil {
		return "", fmt.Errorf("sign account: %w", err)
	}
	return tok, writePrivate(s.path("lattices", L, "account.jwt"), []byte(tok))
}

func (s *Store) seed(rel ...string) (nkeys.KeyPair, error) {
	b, err := os.ReadFile(s.path(rel...))
	if err != nil {
		return nil, err
	}
	return nkeys.FromSeed(b)
}

// CreateUser makes a user of lattice L with role and returns its .creds
// file (JWT and seed). The store records the user, not its seed.
func (s *Store) CreateUser(L, name string, role Role, g Grant) ([]byte, error) {
	if err := lattice.ValidateName("user name", name); err != nil {
		return nil, err
	}
	if _, ok := localUsers[name]; ok {
		return nil, fmt.Errorf("user name %q is the store's own: pick another", name)
	}
	if _, _, err := s.Account(L); err != nil {
		return nil, err
	}
	var creds []byte
	err := s.locked(func() error {
		users, err := s.readUsers(L)
		if err != nil {
			return err
		}
		if u, ok := users[name]; ok && u.Revoked.IsZero() {
			return fmt.Errorf("user %s exists in lattice %s (revoke it first, or pick another name)", name, L)
		}
		kp, err := s.seed("lattices", L, "account.nk")
		if err != nil {
			return err
		}
		c, u, err := s.newUser(L, kp, name, role, g)
		if err != nil {
			return err
		}
		creds = c
		return s.putUser(L, u)
	})
	if err != nil {
		return nil, fmt.Errorf("create user %s: %w", name, err)
	}
	return creds, nil
}

func (s *Store) newUser(L string, acct nkeys.KeyPair, name string, role Role, g Grant) ([]byte, User, error) {
	g.Lattice, g.Name = L, name
	perms, err := Permissions(role, g)
	if err != nil {
		return nil, User{}, err
	}
	creds, key, err := newUserCreds(acct, name, perms, "wisp-role:"+string(role))
	if err != nil {
		return nil, User{}, err
	}
	return creds, User{Name: name, Role: role, Key: key, Calls: g.Calls, Contracts: g.Contracts, Subscribe: g.Subscribe, Created: time.Now().UTC()}, nil
}

// newUserCreds makes a user key, signs its JWT with the account key and
// returns the .creds file and the user's public key.
func newUserCreds(acct nkeys.KeyPair, name string, perms jwt.Permissions, tags ...string) ([]byte, string, error) {
	ukp, err := nkeys.CreateUser()
	if err != nil {
		return nil, "", err
	}
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.Name = name
	uc.Permissions = perms
	uc.Tags.Add(tags...)
	tok, err := uc.Encode(acct)
	if err != nil {
		return nil, "", fmt.Errorf("sign user %s: %w", name, err)
	}
	seed, _ := ukp.Seed()
	creds, err := jwt.FormatUserConfig(tok, seed)
	return creds, upub, err
}

// LocalCreds is the path of the creds of one of the store's own users
// (AdminUser, HostUser, ProviderUser, LeafUser) of lattice L, which
// Account creates.
func (s *Store) LocalCreds(L, name string) string {
	return s.path("lattices", L, "creds", name+".creds")
}

// Users lists the users of lattice L by name.
func (s *Store) Users(L string) ([]User, error) {
	users, err := s.readUsers(L)
	if err != nil {
		return nil, err
	}
	out := make([]User, 0, len(users))
	for _, u := range users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Revoke revokes user name of lattice L and returns the account with the
// revocation, which PushAccount hands to running servers: they close the
// user's connections and refuse its credentials from then on.
func (s *Store) Revoke(L, name string) (Account, error) {
	var acct Account
	err := s.locked(func() error {
		users, err := s.readUsers(L)
		if err != nil {
			return err
		}
		u, ok := users[name]
		if !ok {
			return fmt.Errorf("no user %s in lattice %s: %w", name, L, ErrNoUser)
		}
		if u.Revoked.IsZero() {
			u.Revoked = time.Now().UTC()
			if err := s.putUserLocked(L, users, u); err != nil {
				return err
			}
		}
		revoked := map[string]time.Time{}
		for _, u := range users {
			if !u.Revoked.IsZero() {
				revoked[u.Key] = u.Revoked
			}
		}
		kp, err := s.seed("lattices", L, "account.nk")
		if err != nil {
			return err
		}
		if _, err := s.signAccount(L, kp, revoked); err != nil {
			return err
		}
		acct, err = s.readAccount(L)
		return err
	})
	if err != nil {
		return acct, fmt.Errorf("revoke %s: %w", name, err)
	}
	return acct, nil
}

// ErrNoUser reports a user name the store does not know.
var ErrNoUser = errors.New("no such user")

func (s *Store) readUsers(L string) (map[string]User, error) {
	users := map[string]User{}
	b, err := os.ReadFile(s.path("lattices", L, "users.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return users, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &users); err != nil {
		return nil, fmt.Errorf("users.json: %w", err)
	}
	return users, nil
}

// putUser records u; the caller holds the lock.
func (s *Store) putUser(L string, u User) error {
	users, err := s.readUsers(L)
	if err != nil {
		return err
	}
	return s.putUserLocked(L, users, u)
}

func (s *Store) putUserLocked(L string, users map[string]User, u User) error {
	users[u.Name] = u
	b, err := json.MarshalIndent(users, "", "  ")
	if err != nil {
		return err
	}
	return writePrivate(s.path("lattices", L, "users.json"), b)
}

// locked runs fn holding the store's file lock.
func (s *Store) locked(fn func() error) error {
	unlock, err := filelock.Lock(s.path(".lock"))
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

// writePrivate writes data to path (0600, directories 0700) through a
// temporary file, so readers never see half a file.
func writePrivate(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func mustSeed(kp nkeys.KeyPair) []byte {
	s, err := kp.Seed()
	if err != nil {
		panic(err) // a key pair made by nkeys.Create* always has its seed
	}
	return s
}

// RouteSecret is the password cluster routes authenticate with: made from
// the operator's seed, so every server sharing the store agrees on it and
// no one without the store can join the cluster.
func (s *Store) RouteSecret() (string, error) {
	seed, err := os.ReadFile(s.path("operator.nk"))
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, seed)
	m.Write([]byte("wisp cluster routes"))
	return hex.EncodeToString(m.Sum(nil)), nil
}
