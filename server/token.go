package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/artifact-trust/control-plane/auth"
)

type roleFlags []string

func (r *roleFlags) String() string     { return fmt.Sprint(*r) }
func (r *roleFlags) Set(s string) error { *r = append(*r, s); return nil }

// tokenCommand mints a development HS256 token and prints it.
func tokenCommand(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	sub := fs.String("sub", "", "subject of the token (required)")
	actorType := fs.String("actor-type", "user", "user or service_account")
	ttl := fs.Duration("ttl", 12*time.Hour, "lifetime of the token")
	dataDir := fs.String("data-dir", getenv("DATA_DIR", "./data"), "DATA_DIR holding the development secret (used when JWT_HS256_SECRET is unset)")
	secret := fs.String("secret", getenv("JWT_HS256_SECRET", ""), "HS256 secret (JWT_HS256_SECRET)")
	issuer := fs.String("issuer", getenv("JWT_ISSUER", ""), "iss claim (JWT_ISSUER)")
	audience := fs.String("audience", getenv("JWT_AUDIENCE", ""), "aud claim (JWT_AUDIENCE)")
	var roles roleFlags
	fs.Var(&roles, "role", "PROJECT:ROLE, repeatable; PROJECT may be * (for example payments:project_admin)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sub == "" {
		return errors.New("--sub is required")
	}
	key := []byte(*secret)
	if len(key) == 0 {
		var err error
		if key, err = auth.LoadOrCreateDevSecret(*dataDir); err != nil {
			return err
		}
	}
	claims := auth.Claims{Subject: *sub, ActorType: *actorType, Roles: map[string][]string{}, Issuer: *issuer, Audience: *audience}
	for _, r := range roles {
		project, role, err := auth.ParseRoleFlag(r)
		if err != nil {
			return err
		}
		claims.Roles[project] = append(claims.Roles[project], role)
	}
	tok, err := auth.MintHS256(key, claims, *ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, tok)
	return err
}
