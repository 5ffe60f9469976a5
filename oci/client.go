package oci

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Client pushes actor artifacts to registries and pulls them through its
// cache. It is safe for concurrent use.
type Client struct {
	cache       *Cache
	cacheErr    error
	maxLayer    int64
	allowLatest bool
	insecure    bool
	insecureOK  []string
	creds       auth.CredentialFunc
	authCache   auth.Cache
	progress    func(Progress)
	http        *http.Client
	attempts    int
	backoff     time.Duration

	mu    sync.Mutex
	plain map[string]bool // registry → speaks plain HTTP
}

// Option configures a Client.
type Option func(*options)

type options struct {
	cacheDir    string
	maxLayer    int64
	allowLatest bool
	insecure    bool
	insecureOK  []string
	user, pass  string
	dockerCfg   string
	progress    func(Progress)
	attempts    int
	backoff     time.Duration
}

// WithCacheDir sets the folder of the local OCI image layout (default:
// wisp/oci under the user cache dir).
func WithCacheDir(dir string) Option { return func(o *options) { o.cacheDir = dir } }

// WithMaxLayerSize bounds the module layer a pull accepts (default
// DefaultMaxLayerSize).
func WithMaxLayerSize(n int64) Option { return func(o *options) { o.maxLayer = n } }

// WithAllowLatest permits the tag latest and references without a tag.
func WithAllowLatest(ok bool) Option { return func(o *options) { o.allowLatest = ok } }

// WithInsecure lets every registry use plain HTTP. Without it only
// registries on this machine and those given to WithAllowedInsecure may.
func WithInsecure(ok bool) Option { return func(o *options) { o.insecure = ok } }

// WithAllowedInsecure lists registries (host[:port]) that may use plain
// HTTP or a certificate that does not verify.
func WithAllowedInsecure(hosts ...string) Option {
	return func(o *options) { o.insecureOK = append(o.insecureOK, hosts...) }
}

// WithBasicAuth sets the user and password for every registry, in place of
// the Docker credential config.
func WithBasicAuth(user, password string) Option {
	return func(o *options) { o.user, o.pass = user, password }
}

// WithDockerConfig reads credentials from the Docker config file at path
// (default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json),
// including its credential helpers.
func WithDockerConfig(path string) Option { return func(o *options) { o.dockerCfg = path } }

// WithProgress receives progress reports of blob transfers.
func WithProgress(fn func(Progress)) Option { return func(o *options) { o.progress = fn } }

// WithRetry sets how often a request to an unreachable or failing registry
// is tried (default 4) and the first wait between tries, which doubles
// each time (default 200ms).
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(o *options) { o.attempts, o.backoff = attempts, backoff }
}

// New returns a Client. The cache folder is created on first use.
func New(opts ...Option) (*Client, error) {
	o := options{maxLayer: DefaultMaxLayerSize, attempts: 4, backoff: 200 * time.Millisecond}
	for _, opt := range opts {
		opt(&o)
	}
	if o.attempts < 1 {
		o.attempts = 1
	}
	c := &Client{
		maxLayer:    o.maxLayer,
		allowLatest: o.allowLatest,
		insecure:    o.insecure,
		insecureOK:  o.insecureOK,
		authCache:   auth.NewCache(),
		progress:    o.progress,
		attempts:    o.attempts,
		backoff:     o.backoff,
		plain:       map[string]bool{},
	}
	if o.cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			c.cacheErr = fmt.Errorf("user cache dir: %w", err)
		}
		o.cacheDir = filepath.Join(base, "wisp", "oci")
	}
	c.cache = &Cache{dir: o.cacheDir}
	switch {
	case o.user != "" || o.pass != "":
		cred := auth.Credential{Username: o.user, Password: o.pass}
		c.creds = func(context.Context, string) (auth.Credential, error) { return cred, nil }
	default:
		var (
			store credentials.Store
			err   error
		)
		if o.dockerCfg != "" {
			store, err = credentials.NewStore(o.dockerCfg, credentials.StoreOptions{})
		} else {
			store, err = credentials.NewStoreFromDocker(credentials.StoreOptions{})
		}
		if err != nil {
			return nil, fmt.Errorf("docker credential config: %w", err)
		}
		c.creds = credentials.Credential(store)
	}
	c.http = &http.Client{Transport: c.transport(o)}
	return c, nil
}

// Cache returns the client's local artifact cache.
func (c *Client) Cache() *Cache { return c.cache }

// transport retries failed requests with backoff and skips certificate
// checks only for registries allowed to be insecure.
func (c *Client) transport(o options) http.RoundTripper {
	secure := http.DefaultTransport.(*http.Transport).Clone()
	lax := secure.Clone()
	lax.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // only for registries the user allowed to be insecure
	pick := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		if c.insecureAllowed(r.URL.Host) {
			return lax.RoundTrip(r)
		}
		return secure.RoundTrip(r)
	})
	rt := retry.NewTransport(pick)
	rt.Policy = func() retry.Policy {
		return &retry.GenericPolicy{
			Retryable: retryable,
			Backoff:   retry.ExponentialBackoff(o.backoff, 2, 0.1),
			MinWait:   o.backoff,
			MaxWait:   5 * time.Second,
			MaxRetry:  o.attempts - 1,
		}
	}
	return rt
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// retryable retries what may pass: a registry that is down or restarting
// (connection refused or reset, timeouts), 408, 429 and 5xx.
func retryable(resp *http.Response, err error) (bool, error) {
	if err != nil {
		if isNetworkError(err) {
			return true, nil
		}
		return false, err
	}
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		return true, nil
	case resp.StatusCode >= 500:
		return true, nil
	}
	return false, nil
}

func isNetworkError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	var ue *url.Error
	var (
		unknownCA *x509.UnknownAuthorityError
		badHost   x509.HostnameError
		badCert   x509.CertificateInvalidError
		notTLS    tls.RecordHeaderError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &badHost) || errors.As(err, &badCert) ||
		errors.As(err, &notTLS) || errors.Is(err, http.ErrSchemeMismatch) {
		return false // retrying will not change the certificate
	}
	return errors.As(err, &oe) || (errors.As(err, &ne) && ne.Timeout()) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		// The transport's own failures (a connection closed before the
		// response, say); HTTP status errors are not url.Errors.
		(errors.As(err, &ue) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded))
}

// insecureAllowed reports whether registry host may use plain HTTP or an
// unverified certificate.
func (c *Client) insecureAllowed(host string) bool {
	return c.insecure || IsLocalRegistry(host) || slices.Contains(c.insecureOK, host)
}

// repository returns a client for r's repository, speaking plain HTTP when
// the registry does and is allowed to.
func (c *Client) repository(ctx context.Context, r Reference) (*remote.Repository, error) {
	repo, err := remote.NewRepository(r.Name())
	if err != nil {
		return nil, err
	}
	repo.Client = &auth.Client{Client: c.http, Credential: c.creds, Cache: c.authCache}
	plain, err := c.plainHTTP(ctx, r.Registry)
	if err != nil {
		return nil, err
	}
	repo.PlainHTTP = plain
	return repo, nil
}

// plainHTTP finds out, once per registry, whether it speaks HTTPS. Like
// Docker, a registry allowed to be insecure is tried over HTTPS first and
// over plain HTTP when that fails.
func (c *Client) plainHTTP(ctx context.Context, host string) (bool, error) {
	if !c.insecureAllowed(host) {
		return false, nil
	}
	c.mu.Lock()
	plain, known := c.plain[host]
	c.mu.Unlock()
	if known {
		return plain, nil
	}
	var err error
	for _, scheme := range []string{"https", "http"} {
		var req *http.Request
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+host+"/v2/", nil)
		if err != nil {
			return false, err
		}
		var resp *http.Response
		resp, err = c.http.Do(req)
		if err != nil {
			var oe *net.OpError
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			if errors.As(err, &oe) && oe.Op == "dial" {
				break // nothing listens: plain HTTP would not answer either
			}
			continue
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK, http.StatusUnauthorized, http.StatusForbidden:
		default:
			// A TLS server answers plain HTTP with 400; other servers
			// are not registries.
			err = fmt.Errorf("%s://%s/v2/ answered %s, not as a registry does", scheme, host, resp.Status)
			continue
		}
		plain = scheme == "http"
		c.mu.Lock()
		c.plain[host] = plain
		c.mu.Unlock()
		return plain, nil
	}
	return false, classify(err)
}

// classify wraps err with the sentinel error that says what went wrong.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var er *errcode.ErrorResponse
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrUnauthorized), errors.Is(err, ErrUnreachable),
		errors.Is(err, ErrDigest), errors.Is(err, ErrTooLarge), errors.Is(err, ErrNotActor), errors.Is(err, ErrInsecure),
		errors.Is(err, ErrInterrupted):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &er) && (er.StatusCode == http.StatusUnauthorized || er.StatusCode == http.StatusForbidden),
		errors.Is(err, auth.ErrBasicCredentialNotFound):
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case errors.As(err, &er) && er.StatusCode == http.StatusNotFound, errors.Is(err, errdef.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, content.ErrMismatchedDigest), errors.Is(err, content.ErrTrailingData):
		return fmt.Errorf("%w: %w", ErrDigest, err)
	case errors.Is(err, errdef.ErrSizeExceedsLimit):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.Is(err, http.ErrSchemeMismatch):
		return fmt.Errorf("%w: it answers HTTPS requests with HTTP; pass --insecure or list it in --allowed-insecure: %w", ErrInsecure, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %w", ErrInterrupted, err)
	case isNetworkError(err):
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return err
}

// Progress reports how far a blob transfer is.
type Progress struct {
	// Op is "push" or "pull".
	Op string
	// Digest and MediaType name the blob.
	Digest    string
	MediaType string
	// Done of Total bytes have moved. Done == Total at the end.
	Done, Total int64
	// Skipped says the blob was already there: nothing moved.
	Skipped bool
}

// progressReader reports reads of a blob at most every 100ms and once at
// the end.
type progressReader struct {
	r    io.Reader
	p    Progress
	fn   func(Progress)
	last time.Time
	end  bool
}

func (c *Client) track(r io.Reader, op string, d descriptor) io.Reader {
	if c.progress == nil {
		return r
	}
	p := Progress{Op: op, Digest: d.Digest.String(), MediaType: d.MediaType, Total: d.Size}
	c.progress(p)
	return &progressReader{r: r, p: p, fn: c.progress, last: time.Now()}
}

func (pr *progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.p.Done += int64(n)
	if pr.end || n == 0 {
		return n, err
	}
	pr.end = pr.p.Done == pr.p.Total
	if now := time.Now(); pr.end || now.Sub(pr.last) >= 100*time.Millisecond {
		pr.last = now
		pr.fn(pr.p)
	}
	return n, err
}
