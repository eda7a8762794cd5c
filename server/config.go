package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/artifact-trust/control-plane/delivery"
)

// Config is the server's configuration. Every field is an environment variable and
// a flag of the same meaning; a flag given on the command line wins.
type Config struct {
	ListenAddr    string
	GraphQLPath   string
	MongoURI      string
	MongoDatabase string
	DataDir       string
	// EmbeddedEngineShared lets other processes use the embedded engine (its
	// address is logged as engine_uri): tests of several replicas on one database.
	EmbeddedEngineShared bool
	// EmbeddedCacheBytes bounds the embedded engine's document cache.
	EmbeddedCacheBytes int64
	Playground         bool
	JWTHS256Secret     string
	JWTPublicKeyFile   string
	JWTJWKSURL         string
	JWTIssuer          string
	JWTAudience        string
	LogLevel           string
	LogFormat          string
	// Operational limits.
	MaxBodyBytes    int64
	RequestTimeout  time.Duration
	ShutdownTimeout time.Duration
	ComplexityLimit int
	// QueryCacheBytes bounds the estimated memory of the parsed-document cache.
	QueryCacheBytes int64
	// CORSAllowedOrigins lists the browser origins allowed to call the API from
	// another origin; empty sends no CORS headers (same-origin only).
	CORSAllowedOrigins []string
	// JWTLeeway is the clock skew tolerated on a token's exp and nbf; a websocket
	// connection is closed (4401) at exp plus this leeway.
	JWTLeeway time.Duration
	// WSMaxSubscriptionsPerConnection and WSMaxSubscriptionsPerSubject bound the
	// live subscriptions of one websocket connection and of one token subject on
	// this replica.
	WSMaxSubscriptionsPerConnection int
	WSMaxSubscriptionsPerSubject    int
	// PolicyFloorFile names the operator's policy floor (JSON, see README); empty:
	// none.
	PolicyFloorFile string
	// now, when set, replaces the service's wall clock (tests).
	now func() time.Time
	// repairClock, when set, replaces the outbox repairer's clock (tests move it
	// past the quarantine bound).
	repairClock func() time.Time
	// WebhookAllowedHosts may be webhook destinations although they are (or
	// resolve to) loopback, private or link-local addresses.
	WebhookAllowedHosts []string
	// Delivery tunes webhook delivery: its Lease is WEBHOOK_LEASE; the other
	// timings have no flag (tests shorten them).
	Delivery delivery.Config
}

// Bounds of configuration values.
const (
	// MaxJWTLeeway is the largest JWT_LEEWAY accepted: a larger skew is a broken
	// clock, not a tolerance.
	MaxJWTLeeway = 5 * time.Minute
	// MinQueryCacheBytes is the smallest QUERY_CACHE_BYTES accepted (1 MiB).
	MinQueryCacheBytes = 1 << 20
	// DefaultEmbeddedCacheBytes is EMBEDDED_CACHE_BYTES unless set (128 MiB), and
	// MinEmbeddedCacheBytes the smallest accepted (1 MiB).
	DefaultEmbeddedCacheBytes = 128 << 20
	MinEmbeddedCacheBytes     = 1 << 20
)

// GraphQLPath is where the API is served unless GRAPHQL_PATH says otherwise.
const GraphQLPath = "/query"

// Default listen addresses: every interface, except for the development server,
// which answers on loopback only unless LISTEN_ADDR says otherwise.
const (
	DefaultListenAddr = ":8080"
	DevListenAddr     = "127.0.0.1:8080"
)

// DevelopmentSecret reports whether the server runs as the development server:
// the embedded engine with no token key configured, so that it makes (or reuses)
// a development secret in DATA_DIR.
func (c Config) DevelopmentSecret() bool {
	return c.MongoURI == "" && c.JWTHS256Secret == "" && c.JWTPublicKeyFile == "" && c.JWTJWKSURL == ""
}

func getenv(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// parseConfig reads the environment, then the flags in args.
func parseConfig(args []string) (Config, error) {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	var c Config
	fs.StringVar(&c.ListenAddr, "listen-addr", getenv("LISTEN_ADDR", ""), "address to listen on (LISTEN_ADDR; default :8080, and 127.0.0.1:8080 for the development server: embedded engine, no key configured)")
	fs.StringVar(&c.GraphQLPath, "graphql-path", getenv("GRAPHQL_PATH", GraphQLPath), "URL path of the GraphQL API (GRAPHQL_PATH)")
	fs.StringVar(&c.MongoURI, "mongodb-uri", getenv("MONGODB_URI", ""), "MongoDB connection string; empty starts the embedded engine (MONGODB_URI)")
	fs.StringVar(&c.MongoDatabase, "mongodb-database", getenv("MONGODB_DATABASE", "artifact_trust"), "database name (MONGODB_DATABASE)")
	fs.StringVar(&c.DataDir, "data-dir", getenv("DATA_DIR", "./data"), "embedded engine's files and the development secret (DATA_DIR)")
	shared := fs.String("embedded-engine-shared", getenv("EMBEDDED_ENGINE_SHARED", "false"), "let other server processes use the embedded engine, whose address is logged as engine_uri, as their MONGODB_URI (EMBEDDED_ENGINE_SHARED; tests of several replicas)")
	embeddedCache := fs.String("embedded-cache-bytes", getenv("EMBEDDED_CACHE_BYTES", strconv.Itoa(DefaultEmbeddedCacheBytes)), "memory the embedded engine's cache of documents (and of decoded read-model heads) may hold (EMBEDDED_CACHE_BYTES)")
	playground := fs.String("playground", getenv("PLAYGROUND", ""), "serve the GraphQL playground at / (PLAYGROUND; default true only on the embedded engine)")
	fs.StringVar(&c.JWTHS256Secret, "jwt-hs256-secret", getenv("JWT_HS256_SECRET", ""), "HS256 shared secret, at least 32 bytes (JWT_HS256_SECRET)")
	fs.StringVar(&c.JWTPublicKeyFile, "jwt-public-key-file", getenv("JWT_PUBLIC_KEY_FILE", ""), "PEM public key for RS256/ES256/EdDSA tokens (JWT_PUBLIC_KEY_FILE)")
	fs.StringVar(&c.JWTJWKSURL, "jwt-jwks-url", getenv("JWT_JWKS_URL", ""), "https URL of a JWK Set for RS256/ES256/EdDSA tokens naming their key by kid; cached and refreshed (JWT_JWKS_URL)")
	fs.StringVar(&c.JWTIssuer, "jwt-issuer", getenv("JWT_ISSUER", ""), "required iss claim (JWT_ISSUER)")
	fs.StringVar(&c.JWTAudience, "jwt-audience", getenv("JWT_AUDIENCE", ""), "required aud claim (JWT_AUDIENCE)")
	leeway := fs.String("jwt-leeway", getenv("JWT_LEEWAY", "5s"), "clock skew tolerated on exp and nbf, at most 5m; websocket connections close at exp plus this (JWT_LEEWAY)")
	fs.StringVar(&c.LogLevel, "log-level", getenv("LOG_LEVEL", "info"), "debug, info, warn or error (LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", getenv("LOG_FORMAT", "json"), "json or text (LOG_FORMAT)")
	maxBody := fs.String("max-body-bytes", getenv("MAX_BODY_BYTES", "1048576"), "largest request body accepted (MAX_BODY_BYTES)")
	reqTimeout := fs.String("request-timeout", getenv("REQUEST_TIMEOUT", "15s"), "deadline of one operation (REQUEST_TIMEOUT)")
	shutdownTimeout := fs.String("shutdown-timeout", getenv("SHUTDOWN_TIMEOUT", "20s"), "how long in-flight requests may take to finish at shutdown (SHUTDOWN_TIMEOUT)")
	complexityLimit := fs.String("complexity-limit", getenv("COMPLEXITY_LIMIT", "5000"), "largest query complexity accepted (COMPLEXITY_LIMIT)")
	queryCache := fs.String("query-cache-bytes", getenv("QUERY_CACHE_BYTES", strconv.Itoa(DefaultQueryCacheBytes)), "estimated memory the parsed-document cache may hold (QUERY_CACHE_BYTES)")
	corsOrigins := fs.String("cors-allowed-origins", getenv("CORS_ALLOWED_ORIGINS", ""), "comma-separated browser origins allowed cross-origin, e.g. https://portal.example.com (CORS_ALLOWED_ORIGINS)")
	wsPerConn := fs.String("ws-max-subscriptions-per-connection", getenv("WS_MAX_SUBSCRIPTIONS_PER_CONNECTION", "100"), "live subscriptions one websocket connection may hold (WS_MAX_SUBSCRIPTIONS_PER_CONNECTION)")
	wsPerSubject := fs.String("ws-max-subscriptions-per-subject", getenv("WS_MAX_SUBSCRIPTIONS_PER_SUBJECT", "500"), "live subscriptions one token subject may hold on this replica, over all its connections (WS_MAX_SUBSCRIPTIONS_PER_SUBJECT)")
	fs.StringVar(&c.PolicyFloorFile, "policy-floor-file", getenv("POLICY_FLOOR_FILE", ""), "JSON file of per-channel minimums no project policy may go below; a file that does not parse stops the server (POLICY_FLOOR_FILE)")
	webhookLease := fs.String("webhook-lease", getenv("WEBHOOK_LEASE", "30s"), "how long a replica holds a webhook's deliveries without renewing; a replica that dies (or restarts) is taken over after this, at least 1s (WEBHOOK_LEASE)")
	allowedHosts := fs.String("webhook-allowed-hosts", getenv("WEBHOOK_ALLOWED_HOSTS", ""), "comma-separated host names or IP addresses webhooks may reach although loopback, private or link-local (WEBHOOK_ALLOWED_HOSTS)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if c.ListenAddr == "" {
		c.ListenAddr = DefaultListenAddr
		if c.DevelopmentSecret() {
			c.ListenAddr = DevListenAddr
		}
	}
	var err error
	if c.EmbeddedEngineShared, err = strconv.ParseBool(*shared); err != nil {
		return c, fmt.Errorf("EMBEDDED_ENGINE_SHARED: %w", err)
	}
	if c.EmbeddedCacheBytes, err = strconv.ParseInt(*embeddedCache, 10, 64); err != nil || c.EmbeddedCacheBytes < MinEmbeddedCacheBytes {
		return c, fmt.Errorf("EMBEDDED_CACHE_BYTES must be a number of bytes, at least %d", MinEmbeddedCacheBytes)
	}
	if *playground == "" {
		c.Playground = c.MongoURI == ""
	} else if c.Playground, err = strconv.ParseBool(*playground); err != nil {
		return c, fmt.Errorf("PLAYGROUND: %w", err)
	}
	if c.MaxBodyBytes, err = strconv.ParseInt(*maxBody, 10, 64); err != nil || c.MaxBodyBytes <= 0 {
		return c, errors.New("MAX_BODY_BYTES must be a positive number of bytes")
	}
	if c.RequestTimeout, err = time.ParseDuration(*reqTimeout); err != nil || c.RequestTimeout <= 0 {
		return c, errors.New("REQUEST_TIMEOUT must be a positive duration such as 15s")
	}
	if c.ShutdownTimeout, err = time.ParseDuration(*shutdownTimeout); err != nil || c.ShutdownTimeout <= 0 {
		return c, errors.New("SHUTDOWN_TIMEOUT must be a positive duration such as 20s")
	}
	if c.ComplexityLimit, err = strconv.Atoi(*complexityLimit); err != nil || c.ComplexityLimit <= 0 {
		return c, errors.New("COMPLEXITY_LIMIT must be a positive number")
	}
	if c.JWTLeeway, err = time.ParseDuration(*leeway); err != nil || c.JWTLeeway < 0 || c.JWTLeeway > MaxJWTLeeway {
		return c, fmt.Errorf("JWT_LEEWAY must be a duration from 0s to %s such as 5s", MaxJWTLeeway)
	}
	if c.QueryCacheBytes, err = strconv.ParseInt(*queryCache, 10, 64); err != nil || c.QueryCacheBytes < MinQueryCacheBytes {
		return c, fmt.Errorf("QUERY_CACHE_BYTES must be a number of bytes, at least %d", MinQueryCacheBytes)
	}
	if c.WSMaxSubscriptionsPerConnection, err = strconv.Atoi(*wsPerConn); err != nil || c.WSMaxSubscriptionsPerConnection <= 0 {
		return c, errors.New("WS_MAX_SUBSCRIPTIONS_PER_CONNECTION must be a positive number")
	}
	if c.WSMaxSubscriptionsPerSubject, err = strconv.Atoi(*wsPerSubject); err != nil || c.WSMaxSubscriptionsPerSubject <= 0 {
		return c, errors.New("WS_MAX_SUBSCRIPTIONS_PER_SUBJECT must be a positive number")
	}
	switch {
	case !strings.HasPrefix(c.GraphQLPath, "/") || c.GraphQLPath == "/" || strings.ContainsAny(c.GraphQLPath, " {}?#"):
		return c, fmt.Errorf("GRAPHQL_PATH must be a path such as /query, not %q", c.GraphQLPath)
	case c.GraphQLPath == "/metrics" || c.GraphQLPath == "/healthz" || c.GraphQLPath == "/readyz":
		return c, fmt.Errorf("GRAPHQL_PATH %s is taken by the server itself", c.GraphQLPath)
	}
	if _, err := logrus.ParseLevel(c.LogLevel); err != nil {
		return c, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, not %q", c.LogLevel)
	}
	for _, o := range strings.Split(*corsOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			if o == "*" {
				return c, errors.New("CORS_ALLOWED_ORIGINS must name origins; * is not accepted for an API that takes bearer tokens")
			}
			c.CORSAllowedOrigins = append(c.CORSAllowedOrigins, o)
		}
	}
	if c.Delivery.Lease, err = time.ParseDuration(*webhookLease); err != nil || c.Delivery.Lease < time.Second {
		return c, errors.New("WEBHOOK_LEASE must be a duration of at least 1s such as 30s")
	}
	for _, h := range strings.Split(*allowedHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			if strings.ContainsAny(h, "/ @?#") {
				return c, fmt.Errorf("WEBHOOK_ALLOWED_HOSTS must list host names or IP addresses, not %q", h)
			}
			c.WebhookAllowedHosts = append(c.WebhookAllowedHosts, h)
		}
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return c, fmt.Errorf("LOG_FORMAT must be json or text, not %q", c.LogFormat)
	}
	return c, nil
}
