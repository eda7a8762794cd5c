package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func TestPlaygroundDefaultsOnOnlyForTheEmbeddedEngine(t *testing.T) {
	t.Setenv("PLAYGROUND", "")
	os.Unsetenv("PLAYGROUND")
	embedded, err := parseConfig(nil)
	if err != nil || !embedded.Playground {
		t.Fatalf("embedded: playground %v, err %v", embedded.Playground, err)
	}
	real, err := parseConfig([]string{"-mongodb-uri", "mongodb://db.example.com:27017"})
	if err != nil || real.Playground {
		t.Fatalf("MongoDB: playground %v, err %v", real.Playground, err)
	}
	t.Setenv("PLAYGROUND", "true")
	forced, _ := parseConfig([]string{"-mongodb-uri", "mongodb://db.example.com:27017"})
	if !forced.Playground {
		t.Fatal("PLAYGROUND=true ignored")
	}
}

func TestConfigurationIsReadFromTheEnvironmentAndRefusedWhenInvalid(t *testing.T) {
	t.Setenv("LISTEN_ADDR", "127.0.0.1:9999")
	t.Setenv("GRAPHQL_PATH", "/graphql")
	t.Setenv("MONGODB_DATABASE", "trust_prod")
	t.Setenv("DATA_DIR", "/var/lib/trust")
	t.Setenv("LOG_FORMAT", "text")
	t.Setenv("COMPLEXITY_LIMIT", "900")
	t.Setenv("EMBEDDED_ENGINE_SHARED", "true")
	t.Setenv("WEBHOOK_LEASE", "3s")
	t.Setenv("EMBEDDED_CACHE_BYTES", "268435456")
	c, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.ListenAddr != "127.0.0.1:9999" || c.GraphQLPath != "/graphql" || c.MongoDatabase != "trust_prod" || c.DataDir != "/var/lib/trust" || c.LogFormat != "text" || c.ComplexityLimit != 900 || !c.EmbeddedEngineShared || c.Delivery.Lease != 3*time.Second || c.EmbeddedCacheBytes != 256<<20 {
		t.Fatalf("config %+v", c)
	}
	for name, args := range map[string][]string{
		"bad log format":   {"-log-format", "xml"},
		"bad log level":    {"-log-level", "loud"},
		"bad path":         {"-graphql-path", "query"},
		"reserved path":    {"-graphql-path", "/metrics"},
		"bad timeout":      {"-request-timeout", "-1s"},
		"bad complexity":   {"-complexity-limit", "0"},
		"stray argument":   {"extra"},
		"wildcard origins": {"-cors-allowed-origins", "*"},
		"bad sharing":      {"-embedded-engine-shared", "sometimes"},
		"tiny cache":       {"-embedded-cache-bytes", "1000"},
		"short lease":      {"-webhook-lease", "500ms"},
		"bad lease":        {"-webhook-lease", "soon"},
	} {
		if _, err := parseConfig(args); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestServerRefusesMongoDBWithoutATokenKeyBeforeConnecting(t *testing.T) {
	cfg, err := parseConfig([]string{"-mongodb-uri", "mongodb://127.0.0.1:1/", "-listen-addr", "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.JWTHS256Secret, cfg.JWTPublicKeyFile, cfg.JWTJWKSURL = "", "", ""
	log := logrus.New()
	log.SetOutput(io.Discard)
	start := time.Now()
	err = run(context.Background(), cfg, log, nil)
	if err == nil || !strings.Contains(err.Error(), "no token key configured") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("took %v: the key check must come before the database", time.Since(start))
	}
}

func TestEmbeddedServerWithoutAKeyUsesADevelopmentSecretTheTokenCommandShares(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, func(c *Config) { c.JWTHS256Secret = "" }, func(c *Config) { c.GraphQLPath = "/graphql" })
	if _, err := os.Stat(filepath.Join(dir, "dev-jwt-secret")); err != nil {
		t.Fatalf("no development secret in DATA_DIR: %v", err)
	}
	var out bytes.Buffer
	if err := tokenCommand([]string{"--data-dir", dir, "--sub", "alice", "--role", "payments:viewer"}, &out); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/graphql", strings.NewReader(`{"query":"{ viewer { subject } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(out.String()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"subject":"alice"`) {
		t.Fatalf("GRAPHQL_PATH=/graphql with a dev token: %d %s", resp.StatusCode, body)
	}
	// A test-secret token does not verify against the development secret.
	if r := ts.DoPath("/graphql", token(t, "mallory", "*:project_admin"), `{ viewer { subject } }`); !strings.Contains(r, "UNAUTHENTICATED") {
		t.Fatalf("foreign token accepted: %s", r)
	}
}

func TestJWTLeewayAndWebsocketSubscriptionLimitsAreConfigurable(t *testing.T) {
	c, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.JWTLeeway != 5*time.Second || c.WSMaxSubscriptionsPerConnection != 100 || c.WSMaxSubscriptionsPerSubject != 500 {
		t.Fatalf("defaults: leeway %v, per connection %d, per subject %d", c.JWTLeeway, c.WSMaxSubscriptionsPerConnection, c.WSMaxSubscriptionsPerSubject)
	}
	t.Setenv("JWT_LEEWAY", "2s")
	t.Setenv("WS_MAX_SUBSCRIPTIONS_PER_CONNECTION", "7")
	t.Setenv("WS_MAX_SUBSCRIPTIONS_PER_SUBJECT", "9")
	if c, err = parseConfig(nil); err != nil || c.JWTLeeway != 2*time.Second || c.WSMaxSubscriptionsPerConnection != 7 || c.WSMaxSubscriptionsPerSubject != 9 {
		t.Fatalf("from the environment: %+v %v", c, err)
	}
	if c, err = parseConfig([]string{"-jwt-leeway", "0s", "-ws-max-subscriptions-per-connection", "1", "-ws-max-subscriptions-per-subject", "2"}); err != nil || c.JWTLeeway != 0 || c.WSMaxSubscriptionsPerConnection != 1 || c.WSMaxSubscriptionsPerSubject != 2 {
		t.Fatalf("from flags: %+v %v", c, err)
	}
	for _, args := range [][]string{
		{"-jwt-leeway", "-1s"}, {"-jwt-leeway", "soon"},
		{"-ws-max-subscriptions-per-connection", "0"}, {"-ws-max-subscriptions-per-subject", "-5"}, {"-ws-max-subscriptions-per-subject", "many"},
	} {
		if _, err := parseConfig(args); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// The server raises GOGC for itself only on the embedded engine and only when the
// environment sets none: GOGC set (even empty) or a MongoDB URI leaves Go's own.
func TestServerSetsGOGCOnlyOnTheEmbeddedEngineWhenTheEnvironmentSetsNone(t *testing.T) {
	t.Parallel()
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	cases := []struct {
		name  string
		cfg   Config
		env   map[string]string
		want  int
		wants bool
	}{
		{"embedded, GOGC unset", Config{}, nil, embeddedGCPercent, true},
		{"embedded, GOGC set", Config{}, map[string]string{"GOGC": "100"}, 0, false},
		{"embedded, GOGC set empty", Config{}, map[string]string{"GOGC": ""}, 0, false},
		{"MongoDB", Config{MongoURI: "mongodb://db:27017"}, nil, 0, false},
	}
	for _, c := range cases {
		got, ok := gcPercent(c.cfg, env(c.env))
		if got != c.want || ok != c.wants {
			t.Errorf("%s: gcPercent = %d, %v; want %d, %v", c.name, got, ok, c.want, c.wants)
		}
	}
}
