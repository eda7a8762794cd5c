// Command artifactctl is the pipeline client of the artifact trust and promotion
// control plane. Build it with
//
//	go build -o artifactctl ./ctl
//
// It talks to the GraphQL API through a typed client generated from the schema
// (see genqlient.yaml; internal/client is generated, never edited) and is
// configured by ARTIFACT_TRUST_URL and ARTIFACT_TRUST_TOKEN (or --url and
// --token).
//
// Exit codes: 0 success; 3 refused by policy (POLICY_DENIED, evaluate when
// the promotion would be refused, verify ending FAILED_VERIFICATION, attest
// when the evidence is recorded FAILED), reasons on stderr one per line; 4
// UNAUTHENTICATED or FORBIDDEN (also a missing token and HTTP 401/403); 1
// anything else.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitDenied = 3
	exitAuth   = 4
)

// Environment variables.
const (
	envURL           = "ARTIFACT_TRUST_URL"
	envToken         = "ARTIFACT_TRUST_TOKEN"
	envCorrelationID = "ARTIFACT_TRUST_CORRELATION_ID"
	defaultURL       = "http://localhost:8080/query"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// globals are the flags every command accepts, before or after its name.
type globals struct {
	url           string
	token         string
	output        string
	correlationID string
	timeout       time.Duration
}

// app is one invocation of artifactctl.
type app struct {
	stdout, stderr io.Writer
	g              globals
	cmd            string // the command being run, for messages
	// correlationID is the id sent as X-Correlation-ID (resolved from the
	// flag, the environment or generated) once a client exists.
	correlationID string
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

func commands() []command {
	return []command{
		{"register", "register a digest in a project (PUBLISHED, UNVERIFIED)", cmdRegister},
		{"verify", "run the baseline checks and submit trust inputs (--result CHECK=PASSED|FAILED[:detail]); exit 3 when it ends FAILED_VERIFICATION", cmdVerify},
		{"promote", "promote an artifact into a channel (and target environment)", cmdPromote},
		{"evaluate", "dry-run a promotion: exit 0 when allowed, 3 with every reason (and when it becomes eligible) when not", cmdEvaluate},
		{"approve", "approve promoting an artifact into a channel (and environment) that requires approvals", cmdApprove},
		{"reject", "reject promoting an artifact into a channel (and environment): blocks until you approve again", cmdReject},
		{"freeze", "freeze promotions of a project (--channel ..., --until or --for; project_admin)", cmdFreeze},
		{"unfreeze", "lift a project's freeze (project_admin)", cmdUnfreeze},
		{"diff", "compare what is deployable in two channel/environment pairs (--from STAGING/eu-1 --to PROD/eu-1)", cmdDiff},
		{"deployable", "print the digest to deploy to a channel (and environment), nothing else", cmdDeployable},
		{"status", "show the latest promotion per channel and environment of a project", cmdStatus},
		{"get", "show one artifact with its verification records and promotions", cmdGet},
		{"revoke", "revoke an artifact's trust (terminal; --reason required)", cmdRevoke},
		{"deprecate", "move an artifact to DEPRECATED", cmdDeprecate},
		{"retire", "move an artifact to RETIRED (terminal)", cmdRetire},
		{"audit", "list a project's audit events, newest first", cmdAudit},
		{"policy", "show (policy get), set (policy set --file) or add an allowed source (policy allow-source)", cmdPolicy},
		{"keys", "make a signing key pair (keys generate), trust a public key in a project (keys add), keys list, keys revoke", cmdKeys},
		{"sign", "sign an in-toto statement about a digest in a DSSE envelope (or --format cosign) with a local private key; no server needed", cmdSign},
		{"attest", "submit signed evidence (--envelope, or --payload with --signature) for the service to verify; exit 3 when it is recorded FAILED", cmdAttest},
		{"whoami", "show the actor the server sees in the token", cmdWhoami},
	}
}

// run executes artifactctl with args and returns the exit code.
func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	a := &app{stdout: stdout, stderr: stderr}
	a.g = globals{
		url:           envOr(getenv, envURL, defaultURL),
		token:         getenv(envToken),
		output:        "table",
		correlationID: getenv(envCorrelationID),
		timeout:       30 * time.Second,
	}
	root := flag.NewFlagSet("artifactctl", flag.ContinueOnError)
	root.SetOutput(io.Discard)
	a.addGlobalFlags(root)
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "artifactctl: %v\n", err)
		a.usage(stderr)
		return exitFailed
	}
	rest := root.Args()
	if len(rest) == 0 {
		a.usage(stderr)
		return exitFailed
	}
	name := rest[0]
	if name == "help" {
		a.usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		a.cmd = name
		// The deadline starts when the command's flags are parsed, inside
		// withClient, so the --timeout given after the command name counts.
		return a.exit(c.run(context.Background(), a, rest[1:]))
	}
	fmt.Fprintf(stderr, "artifactctl: unknown command %q\n", name)
	a.usage(stderr)
	return exitFailed
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// addGlobalFlags registers the global flags on fs, keeping the values already
// parsed (so they work both before and after the command name). Flags named in
// skip are left out, for a command that gives the name its own meaning.
func (a *app) addGlobalFlags(fs *flag.FlagSet, skip ...string) {
	str := func(p *string, name, usage string) {
		if !slices.Contains(skip, name) {
			fs.StringVar(p, name, *p, usage)
		}
	}
	str(&a.g.url, "url", "GraphQL endpoint (`URL`; "+envURL+"); a URL without a path gets /query")
	if !slices.Contains(skip, "token") {
		// A secretFlag never prints its value, so -h cannot leak the token
		// from the environment into a CI log.
		fs.Var(&secretFlag{&a.g.token}, "token", "bearer token (`JWT`; "+envToken+")")
	}
	str(&a.g.output, "output", "output `format`: table or json")
	str(&a.g.output, "o", "shorthand for --output")
	str(&a.g.correlationID, "correlation-id", "X-Correlation-ID sent with the request (`ID`: letters, digits, ._-, at most 128; "+envCorrelationID+"); default generated")
	if !slices.Contains(skip, "timeout") {
		fs.DurationVar(&a.g.timeout, "timeout", a.g.timeout, "deadline of the whole command (`duration`)")
	}
}

func (a *app) usage(w io.Writer) {
	fmt.Fprint(w, `artifactctl: pipeline client of the artifact trust and promotion control plane

Usage:
  artifactctl [global flags] COMMAND [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Global flags (also accepted after COMMAND):
  --url URL             GraphQL endpoint (`+envURL+`, default `+defaultURL+`)
  --token JWT           bearer token (`+envToken+`)
  --output table|json   output format (default table); -o for short
  --correlation-id ID   X-Correlation-ID of the request (`+envCorrelationID+`; default generated)
  --timeout DURATION    deadline of the command (default 30s)

Artifacts are named by --id ID, or by --project P --digest sha256:... .
Run 'artifactctl COMMAND -h' for the flags of a command.

Exit codes: 0 success; 3 refused by policy (reasons on stderr, one per line);
4 unauthenticated or forbidden; 1 anything else.
`)
}

// newFlagSet makes a command's flag set, with the global flags on it too.
func (a *app) newFlagSet(usage string, skipGlobals ...string) *flag.FlagSet {
	fs := flag.NewFlagSet("artifactctl "+a.cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.addGlobalFlags(fs, skipGlobals...)
	fs.Usage = func() {
		fmt.Fprintf(a.stdout, "Usage: artifactctl %s %s\n\nFlags:\n", a.cmd, usage)
		fs.SetOutput(a.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses a command's flags; it refuses positional arguments.
func (a *app) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp // fs.Usage has printed the usage
		}
		return usageErrorf("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	switch strings.ToLower(a.g.output) {
	case "table", "json":
		a.g.output = strings.ToLower(a.g.output)
	default:
		return usageErrorf("--output must be table or json, not %q", a.g.output)
	}
	if a.g.timeout <= 0 {
		return usageErrorf("--timeout must be positive")
	}
	return nil
}

func (a *app) json() bool { return a.g.output == "json" }

// secretFlag is a string flag whose value is never shown.
type secretFlag struct{ p *string }

func (s *secretFlag) String() string { return "" }
func (s *secretFlag) Set(v string) error {
	*s.p = v
	return nil
}
