package lattice

import (
	"fmt"
	"os"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
)

// Credentials authenticate to a secured NATS server. They are passed
// through to nats.go as they are; the zero value adds nothing.
type Credentials struct {
	// CredsFile is a .creds file (user JWT and nkey seed).
	CredsFile string
	// NkeySeedFile holds a user nkey seed (SU…).
	NkeySeedFile string
	// User and Password are plain user/password authentication.
	User     string
	Password string
	// TLSCAFile is a PEM bundle trusted to verify the server's
	// certificate (for tls:// URLs or servers requiring TLS).
	TLSCAFile string
}

// NATSOptions turns the credentials into nats.go options. Files are
// checked for existence now, so a typo fails before any connection.
func (c Credentials) NATSOptions() ([]nats.Option, error) {
	var opts []nats.Option
	for flag, f := range map[string]string{"--nats-creds": c.CredsFile, "--nats-nkey": c.NkeySeedFile, "--nats-tls-ca": c.TLSCAFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
	}
	if c.CredsFile != "" {
		name, err := credsUserName(c.CredsFile)
		if err != nil {
			return nil, fmt.Errorf("--nats-creds: %w", err)
		}
		opts = append(opts, nats.UserCredentials(c.CredsFile), nats.CustomInboxPrefix(InboxPrefix(name)))
	}
	if c.NkeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(c.NkeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey: %w", err)
		}
		opts = append(opts, o)
	}
	if c.User != "" || c.Password != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if c.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(c.TLSCAFile))
	}
	return opts, nil
}

// credsUserName reads the user's name from a .creds file: on a secured
// lattice the user may read replies only under InboxPrefix(name).
func credsUserName(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	uc, err := jwt.DecodeUserClaims(tok)
	if err != nil {
		return "", fmt.Errorf("%s: not a user's .creds file: %w", path, err)
	}
	if uc.Name == "" || ValidateName("user name", uc.Name) != nil {
		return "", fmt.Errorf("%s: the user's name %q cannot be an inbox prefix", path, uc.Name)
	}
	return uc.Name, nil
}

// WithCredentials authenticates the connection Connect opens.
func WithCredentials(cr Credentials) Option { return func(c *Client) { c.creds = cr } }
