// Command server runs the artifact trust and promotion GraphQL API.
//
//	go run ./server                       # serve (embedded engine unless MONGODB_URI is set)
//	go run ./server token --sub alice --role payments:project_admin
//	go run ./server repair [--project payments]   # rebuild read models (servers stopped)
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/artifact-trust/control-plane/auth"
	"github.com/artifact-trust/control-plane/delivery"
	"github.com/artifact-trust/control-plane/model"
	"github.com/artifact-trust/control-plane/service"
	"github.com/artifact-trust/control-plane/store"
	"github.com/artifact-trust/control-plane/webhook"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "token" {
		if err := tokenCommand(args[1:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "token:", err)
			os.Exit(2)
		}
		return
	}
	if len(args) > 0 && args[0] == "repair" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		log := logrus.New()
		log.SetOutput(os.Stderr)
		log.SetLevel(logrus.WarnLevel)
		if err := repairCommand(ctx, args[1:], os.Stdout, log); err != nil {
			fmt.Fprintln(os.Stderr, "repair:", err)
			os.Exit(2)
		}
		return
	}
	cfg, err := parseConfig(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		os.Exit(2)
	}
	if pct, ok := gcPercent(cfg, os.LookupEnv); ok {
		debug.SetGCPercent(pct)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := newLogger(cfg)
	if err := run(ctx, cfg, log, nil); err != nil {
		log.WithError(err).Error("server stopped")
		os.Exit(1)
	}
}

// embeddedGCPercent is the garbage collector's target (GOGC) of a server on the
// embedded engine when GOGC is not set. The engine runs in this process and
// decodes every document it reads or updates into short-lived values: at Go's
// default of 100 the collector took about a fifth of the CPU. The trust
// re-derivation of 10,000 artifacts (go run ./bench -rederive 10000
// -rederive-rate 50) took, by GOGC: 100 68.0 s (peak RSS 80 MiB), 300 57.8 s
// (112 MiB), 400 55.9 s (128 MiB), 500 52.7 s (149 MiB). GOGC and GOMEMLIMIT,
// when set, are the Go runtime's as ever.
const embeddedGCPercent = 400

// gcPercent returns the GOGC the server sets for itself: embeddedGCPercent on the
// embedded engine when the environment (lookup) sets no GOGC; false: leave it.
func gcPercent(cfg Config, lookup func(string) (string, bool)) (int, bool) {
	if _, set := lookup("GOGC"); set || cfg.MongoURI != "" {
		return 0, false
	}
	return embeddedGCPercent, true
}

func newLogger(cfg Config) *logrus.Logger {
	log := logrus.New()
	log.SetOutput(os.Stderr)
	if cfg.LogFormat == "text" {
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	} else {
		// DisableHTMLEscape keeps <, > and & readable (a command with <token> in it).
		log.SetFormatter(&logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano, DisableHTMLEscape: true})
	}
	if lvl, err := logrus.ParseLevel(cfg.LogLevel); err == nil { // parseConfig refused others
		log.SetLevel(lvl)
	}
	return log
}

// feedPollInterval is how often a replica reads a project's audit feed for the
// live subscriptions (events written through another replica; its own writes are
// read at once).
const feedPollInterval = 250 * time.Millisecond

// run serves until ctx ends, then shuts down gracefully: it stops accepting, lets
// in-flight requests finish, and closes the database. ready, when not nil, receives
// the listening address once the server accepts connections.
func run(ctx context.Context, cfg Config, log *logrus.Logger, ready chan<- string) error {
	started := time.Now()
	// The token configuration is checked before the database is touched.
	verifier, err := newVerifier(cfg, cfg.MongoURI == "", log)
	if err != nil {
		return err
	}
	defer verifier.Close() // stops refreshing a JWK Set, after the requests drained
	floor, err := loadFloor(cfg.PolicyFloorFile)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Config{MongoURI: cfg.MongoURI, Database: cfg.MongoDatabase, DataDir: cfg.DataDir, Clock: cfg.repairClock, SharedEngine: cfg.EmbeddedEngineShared, CacheBytes: int(cfg.EmbeddedCacheBytes)}, logrus.NewEntry(log))
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := st.Close(cctx); err != nil {
			log.WithError(err).Warn("closing the database")
		}
	}()

	m := newMetrics()
	// Live subscriptions and webhooks read the audit feed, which every replica's
	// writes reach, so they see every event whatever replica wrote it.
	broker := service.NewFeedBroker(st, feedPollInterval)
	m.watchSubscribers(broker.Total)
	m.watchOutbox(st.Repairs)
	guard := webhook.NewGuard(cfg.WebhookAllowedHosts)
	dispatcher := delivery.New(st, webhook.NewClient(guard), logrus.NewEntry(log), cfg.Delivery)
	dispatchCtx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	dispatchDone := make(chan struct{})
	go func() { defer close(dispatchDone); dispatcher.Run(dispatchCtx) }()
	defer func() { stopDispatch(); <-dispatchDone }() // before the database closes
	opts := []service.Option{
		service.WithObserver(m), service.WithBroker(broker), service.WithObserver(dispatcher),
		service.WithTokenLeeway(cfg.JWTLeeway),
		service.WithWebhooks(service.Webhooks{
			Store:    st,
			CheckURL: func(ctx context.Context, u string) error { return guard.CheckURL(ctx, u, nil) },
			Changed:  dispatcher.Changed,
			RetryFor: dispatcher.RetryFor(),
		}),
	}
	if !st.Embedded() {
		// Other replicas may change a policy while this one decides under it.
		opts = append(opts, service.WithPolicyRecheck(policyRaceReporter(log, m.reg)))
	}
	if !floor.Empty() {
		opts = append(opts, service.WithPolicyFloor(floor))
	}
	if cfg.now != nil {
		opts = append(opts, service.WithClock(cfg.now))
	}
	svc := service.New(st, opts...)
	reportFloor(ctx, svc, floor, cfg.PolicyFloorFile, log)
	// Trust re-derivations run in the background until the requests drained.
	reevalCtx, stopReevaluations := context.WithCancel(context.WithoutCancel(ctx))
	waitReevaluations := svc.RunReevaluations(reevalCtx)
	defer func() {
		stopReevaluations()
		waitReevaluations()
	}()
	handler := newHandler(cfg, svc, verifier, log, m)

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	// Requests live in baseCtx; it ends after Shutdown has drained ordinary
	// requests, which closes the remaining (hijacked) subscription connections.
	baseCtx, endConnections := context.WithCancel(context.WithoutCancel(ctx))
	defer endConnections()
	srv.BaseContext = func(net.Listener) context.Context { return baseCtx }
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	addr := ln.Addr().String()
	fields := logrus.Fields{"addr": addr, "graphql": "http://" + displayAddr(addr) + cfg.GraphQLPath, "embedded_engine": st.Embedded(), "startup_ms": time.Since(started).Milliseconds()}
	if cfg.Playground {
		fields["playground"] = "http://" + displayAddr(addr) + "/"
	}
	fields["board"] = "http://" + displayAddr(addr) + "/board"
	if uri := st.EngineURI(); uri != "" {
		fields["engine_uri"] = uri // loopback only: a second process may share the database
	}
	log.WithFields(fields).Info("server ready")
	if showBanner(log.Out, st.Embedded()) {
		writeBanner(log.Out, cfg, addr, st.Embedded())
	}
	if ready != nil {
		ready <- addr
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.WithError(err).Warn("shutdown did not finish cleanly")
	}
	endConnections()
	log.Info("server stopped")
	return nil
}

// displayAddr turns a wildcard listen address into one a browser can open.
func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// newVerifier builds the token verifier from the configuration. With no key on the
// embedded engine it makes (or reuses) a development secret under DATA_DIR.
//
// With JWT_JWKS_URL the server starts even when the set cannot be fetched: the
// failure is logged, the fetch retried in the background, and tokens are refused
// (UNAUTHENTICATED "signing keys unavailable") until keys arrive. The caller must
// Close the verifier.
func newVerifier(cfg Config, embedded bool, log *logrus.Logger) (*auth.Verifier, error) {
	ac := auth.Config{Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, Leeway: cfg.JWTLeeway}
	switch {
	case cfg.JWTJWKSURL != "" && (cfg.JWTHS256Secret != "" || cfg.JWTPublicKeyFile != ""):
		return nil, errors.New("JWT_JWKS_URL cannot be combined with JWT_HS256_SECRET or JWT_PUBLIC_KEY_FILE; set only one")
	case cfg.JWTHS256Secret != "" && cfg.JWTPublicKeyFile != "":
		return nil, errors.New("set only one of JWT_HS256_SECRET and JWT_PUBLIC_KEY_FILE")
	case cfg.JWTJWKSURL != "":
		ac.JWKSURL = cfg.JWTJWKSURL
		jlog := log.WithField("jwks_url", cfg.JWTJWKSURL)
		ac.OnJWKSStatus = func(keysAvailable bool, err error) {
			switch {
			case err == nil:
				jlog.Info("JWKS: signing keys loaded; tokens are verified again")
			case keysAvailable:
				jlog.WithError(err).Warn("JWKS: refresh failed; keeping the keys fetched before")
			default:
				jlog.WithError(err).Error("JWKS: no signing keys; every token is refused (UNAUTHENTICATED) until a fetch succeeds, retrying")
			}
		}
	case cfg.JWTHS256Secret != "":
		ac.HS256Secret = []byte(cfg.JWTHS256Secret)
		if !embedded {
			log.Warn("JWT_HS256_SECRET is meant for development and tests: anyone holding the secret can mint a token for any role; use JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL in production")
		}
	case cfg.JWTPublicKeyFile != "":
		pem, err := os.ReadFile(cfg.JWTPublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("JWT_PUBLIC_KEY_FILE: %w", err)
		}
		ac.PublicKeyPEM = pem
	case !embedded:
		return nil, errors.New("no token key configured: set JWT_PUBLIC_KEY_FILE or JWT_JWKS_URL (or JWT_HS256_SECRET) when MONGODB_URI is set")
	default:
		secret, err := auth.LoadOrCreateDevSecret(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("development secret: %w", err)
		}
		ac.HS256Secret = secret
		log.WithField("mint_token", tokenCommandLine(cfg.DataDir)).
			Warn("no JWT key configured: using a development HS256 secret stored in DATA_DIR; mint a token with the command in mint_token and send it as Authorization: Bearer <token>")
	}
	v, err := auth.NewVerifier(ac)
	if err != nil {
		return nil, fmt.Errorf("token verifier: %w", err)
	}
	return v, nil
}

// loadFloor reads and parses the policy floor file; none named: the empty floor.
func loadFloor(path string) (model.Floor, error) {
	if path == "" {
		return model.Floor{}, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return model.Floor{}, fmt.Errorf("POLICY_FLOOR_FILE: %w", err)
	}
	f, err := model.ParseFloor(data)
	if err != nil {
		return model.Floor{}, fmt.Errorf("POLICY_FLOOR_FILE %s: %w", path, err)
	}
	return f, nil
}

// reportFloor logs the floor in force and every stored project policy below it
// (their effective policies are raised to it all the same). A failure to list the
// policies is logged, not fatal.
func reportFloor(ctx context.Context, svc *service.Service, floor model.Floor, path string, log *logrus.Logger) {
	if floor.Empty() {
		return
	}
	log.WithFields(logrus.Fields{"file": path, "floor": floor.Describe()}).Info("policy floor in force: every project's effective policy is at least this")
	below, err := svc.FloorViolations(ctx)
	if err != nil {
		log.WithError(err).Warn("policy floor: could not check the stored policies against it")
		return
	}
	for project, v := range below {
		log.WithFields(logrus.Fields{"project": project, "violations": v}).
			Warn("policy floor: the stored policy of this project is below the floor; the floor is enforced, and the next setProjectPolicy must meet it")
	}
}
