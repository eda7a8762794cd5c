package auth

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Keys from a JWK Set (Config.JWKSURL).
//
// The set is fetched with github.com/MicahParks/keyfunc/v3 (storage, periodic
// refresh and refresh on an unknown kid by github.com/MicahParks/jwkset):
//
//   - at start-up, once, bounded by the fetch timeout. If that fails, NewVerifier
//     still succeeds: the failure is reported to Config.OnJWKSStatus and the fetch
//     is retried in the background (250ms doubling to 30s) until it succeeds or
//     the Verifier is closed. Until then every token is refused with
//     "signing keys unavailable".
//   - every refresh interval; a failed refresh keeps the keys already known, a
//     successful one replaces them all (a key removed from the set is revoked).
//   - when a token names a kid the cache does not hold, at most once per
//     unknown-kid interval; a token whose kid is still unknown afterwards (or
//     while the limit holds) is refused with "unknown signing key (kid)".
//
// Only RS256, ES256 and EdDSA tokens are accepted. The key is looked up by the
// token's kid (a token without one is refused: no trying every key); it must be
// a public key whose type fits the token's alg (RSA of at least 2048 bits,
// P-256, Ed25519), whose "alg", when stated, is the token's alg, and whose "use"
// or "key_ops", when stated, allow verifying signatures. Symmetric ("oct") keys
// and private key material published in the set are never used.

const (
	// DefaultJWKSRefreshInterval is how often the set is fetched again.
	DefaultJWKSRefreshInterval = 15 * time.Minute
	// DefaultJWKSUnknownKIDInterval is the least time between two fetches caused
	// by tokens naming an unknown kid.
	DefaultJWKSUnknownKIDInterval = 30 * time.Second
	// DefaultJWKSFetchTimeout bounds one fetch of the set.
	DefaultJWKSFetchTimeout = 10 * time.Second
	// MaxJWKSBytes is the largest JWK Set document read.
	MaxJWKSBytes = 1 << 20

	jwksRetryFirst   = 250 * time.Millisecond
	jwksRetryMax     = 30 * time.Second
	jwksMaxRedirects = 5
)

// jwksAlgorithms are the algorithms a token verified against a JWK Set may use.
var jwksAlgorithms = []string{
	jwt.SigningMethodRS256.Alg(),
	jwt.SigningMethodES256.Alg(),
	jwt.SigningMethodEdDSA.Alg(),
}

var (
	errNoKID           = errors.New("token has no kid header")
	errUnknownKID      = errors.New("kid not in the JWK Set")
	errKeysUnavailable = errors.New("JWK Set not fetched yet")
	errKeyAlgorithm    = errors.New("token alg does not fit the JWK")
	errKeyUnusable     = errors.New("JWK may not verify token signatures")
	errJWKSTooLarge    = fmt.Errorf("JWK Set larger than %d bytes", MaxJWKSBytes)
)

// jwksSource holds the keys of one JWK Set URL.
type jwksSource struct {
	url          string
	override     keyfunc.Override
	fetchTimeout time.Duration
	status       func(keysAvailable bool, err error)

	keys atomic.Pointer[jwksKeys] // nil until the first successful fetch

	ctx       context.Context // ends at close; parent of the refresh goroutine's
	cancel    context.CancelFunc
	done      chan struct{} // closed when no start-up retry runs any more
	closeOnce sync.Once
}

type jwksKeys struct {
	storage jwkset.Storage
	cancel  context.CancelFunc // ends this storage's refresh goroutine
}

func newJWKSSource(cfg Config) (*jwksSource, error) {
	if _, err := checkJWKSURL(cfg.JWKSURL); err != nil {
		return nil, err
	}
	refresh, err := durationOr("JWKS refresh interval", cfg.JWKSRefreshInterval, DefaultJWKSRefreshInterval)
	if err != nil {
		return nil, err
	}
	unknownKID, err := durationOr("JWKS unknown-kid interval", cfg.JWKSUnknownKIDInterval, DefaultJWKSUnknownKIDInterval)
	if err != nil {
		return nil, err
	}
	timeout, err := durationOr("JWKS fetch timeout", cfg.JWKSFetchTimeout, DefaultJWKSFetchTimeout)
	if err != nil {
		return nil, err
	}
	s := &jwksSource{
		url:          cfg.JWKSURL,
		fetchTimeout: timeout,
		status:       cfg.OnJWKSStatus,
		done:         make(chan struct{}),
	}
	noErrorOnFirstFailure := false
	s.override = keyfunc.Override{
		Client:                    jwksHTTPClient(timeout),
		HTTPTimeout:               timeout,
		NoErrorReturnFirstHTTPReq: &noErrorOnFirstFailure,
		// Bounds both the wait for the unknown-kid limiter and the fetch that
		// follows; a wait longer than this fails at once.
		RateLimitWaitMax: timeout,
		RefreshErrorHandlerFunc: func(string) func(context.Context, error) {
			return func(_ context.Context, err error) { s.report(fmt.Errorf("refresh JWK Set: %w", err)) }
		},
		RefreshInterval:   refresh,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(unknownKID), 1),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.connect(); err != nil {
		s.report(fmt.Errorf("fetch JWK Set at start-up (retrying in the background): %w", err))
		go s.retry()
	} else {
		close(s.done)
	}
	return s, nil
}

func durationOr(what string, d, def time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("auth: %s must not be negative", what)
	case d == 0:
		return def, nil
	}
	return d, nil
}

// checkJWKSURL accepts an absolute https URL, or http on a loopback host, with no
// credentials in it (the URL appears in logs).
func checkJWKSURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("auth: JWKS URL is not a valid URL")
	}
	switch {
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.New("auth: JWKS URL must be absolute, like https://idp.example/.well-known/jwks.json")
	case u.User != nil:
		return nil, errors.New("auth: JWKS URL must not carry credentials")
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	case u.Scheme == "http":
		return nil, errors.New("auth: JWKS URL must use https (plain http is accepted only for a loopback host)")
	default:
		return nil, fmt.Errorf("auth: JWKS URL scheme %q not supported (want https)", u.Scheme)
	}
	return u, nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// jwksHTTPClient fetches sets: bounded in time and size, following redirects
// only to URLs checkJWKSURL accepts (no downgrade from https).
func jwksHTTPClient(timeout time.Duration) *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{
		Timeout:   timeout,
		Transport: limitedTransport{base: base, max: MaxJWKSBytes},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= jwksMaxRedirects {
				return errors.New("too many redirects")
			}
			if _, err := checkJWKSURL(req.URL.String()); err != nil {
				return fmt.Errorf("redirect refused: %w", err)
			}
			return nil
		},
	}
}

// limitedTransport fails reading a response body longer than max bytes.
type limitedTransport struct {
	base http.RoundTripper
	max  int64
}

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, errJWKSTooLarge
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: t.max}
	return resp, nil
}

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, err := b.ReadCloser.Read(one[:]); n == 0 {
			return 0, err
		}
		return 0, errJWKSTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// connect fetches the set once and, on success, starts its periodic refresh.
func (s *jwksSource) connect() error {
	ctx, cancel := context.WithCancel(s.ctx)
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{s.url}, s.override)
	if err != nil {
		cancel() // ends the refresh goroutine the failed attempt started
		return err
	}
	s.keys.Store(&jwksKeys{storage: kf.Storage(), cancel: cancel})
	return nil
}

// retry fetches the set until it succeeds or the source is closed.
func (s *jwksSource) retry() {
	defer close(s.done)
	delay := jwksRetryFirst
	for {
		timer := time.NewTimer(delay)
		select {
		case <-s.ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		err := s.connect()
		if s.ctx.Err() != nil {
			return
		}
		if err == nil {
			s.report(nil)
			return
		}
		s.report(fmt.Errorf("fetch JWK Set (retrying in the background): %w", err))
		delay = min(2*delay, jwksRetryMax)
	}
}

func (s *jwksSource) report(err error) {
	if s.status != nil {
		s.status(s.keys.Load() != nil, err)
	}
}

// close stops refreshing and waits for the start-up retries to end.
func (s *jwksSource) close() {
	s.closeOnce.Do(s.cancel)
	<-s.done
}

// key is the jwt.Keyfunc of a JWKS Verifier: the verification key of t's kid.
func (s *jwksSource) key(ctx context.Context, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if !slices.Contains(jwksAlgorithms, alg) {
		return nil, errAlgorithm
	}
	rawKID := t.Header["kid"]
	if rawKID == nil || rawKID == "" {
		return nil, errNoKID
	}
	kid, ok := rawKID.(string)
	if !ok {
		return nil, errUnknownKID
	}
	keys := s.keys.Load()
	if keys == nil {
		return nil, errKeysUnavailable
	}
	// An unknown kid may cause a fetch: bound it by the request, the fetch
	// timeout and the source's life (after close, no more fetching).
	ctx, cancel := context.WithTimeout(ctx, s.fetchTimeout)
	defer cancel()
	if s.ctx.Err() != nil {
		cancel()
	} else {
		defer context.AfterFunc(s.ctx, cancel)()
	}
	jwk, err := keys.storage.KeyRead(ctx, kid)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnknownKID, err)
	}
	m := jwk.Marshal()
	if m.USE != "" && m.USE != jwkset.UseSig {
		return nil, fmt.Errorf("%w: use is %q", errKeyUnusable, m.USE)
	}
	if len(m.KEYOPS) > 0 && !slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify) {
		return nil, fmt.Errorf("%w: key_ops lacks verify", errKeyUnusable)
	}
	if m.ALG != "" && m.ALG.String() != alg {
		return nil, fmt.Errorf("%w: JWK alg %q, token alg %q", errKeyAlgorithm, m.ALG, alg)
	}
	key := jwk.Key()
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey, *ecdh.PrivateKey, []byte:
		return nil, fmt.Errorf("%w: the set publishes private or symmetric key material (%T)", errKeyUnusable, key)
	}
	keyAlg, err := publicKeyAlgorithm(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errKeyUnusable, err)
	}
	if keyAlg != alg {
		return nil, fmt.Errorf("%w: %s key, token alg %q", errKeyAlgorithm, keyAlg, alg)
	}
	return key, nil
}
