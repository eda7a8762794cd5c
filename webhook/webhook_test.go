package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/artifact-trust/control-plane/model"
)

func TestDialTimeCheckRefusesLoopbackUnlessTheHostIsAllowed(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port := u.Port()
	secret := model.NewWebhookSecret()
	msg := func(host string) Message {
		return Message{URL: "http://" + host + ":" + port + "/hook", ID: "a.1", Body: []byte(`{}`), Secrets: []model.WebhookSecret{secret}}
	}
	// Nothing allowed: an IP literal and a name resolving to loopback are refused
	// when the connection is dialled, after DNS resolution.
	c := NewClient(NewGuard(nil))
	for _, host := range []string{"127.0.0.1", "localhost"} {
		res := c.Send(context.Background(), msg(host), time.Now())
		if res.OK() || !errors.Is(res.Err, ErrDestinationRefused) {
			t.Fatalf("%s: %+v, want the destination refused", host, res)
		}
		if strings.Contains(res.Err.Error(), secret.Reveal()) {
			t.Fatal("the error shows the secret")
		}
	}
	if hits != 0 {
		t.Fatalf("the receiver got %d requests", hits)
	}
	// Allowed by name: the same name now connects.
	c = NewClient(NewGuard([]string{"localhost"}))
	if res := c.Send(context.Background(), msg("localhost"), time.Now()); !res.OK() {
		t.Fatalf("allowed host: %+v", res)
	}
	if res := c.Send(context.Background(), msg("127.0.0.1"), time.Now()); res.OK() {
		t.Fatal("127.0.0.1 is not the allowed name, yet it was reached")
	}
}

func TestCheckURLRefusesPrivateLinkLocalAndLoopbackDestinations(t *testing.T) {
	g := NewGuard([]string{"10.1.2.3"})
	for _, u := range []string{"http://127.0.0.1/x", "http://[::1]/x", "http://169.254.169.254/latest", "http://192.168.1.1/", "http://10.0.0.1/", "http://[fd00::1]/", "http://localhost:8080/", "http://0.0.0.0/"} {
		if err := g.CheckURL(context.Background(), u, nil); !model.IsKind(err, model.KindBadInput) {
			t.Errorf("%s: %v, want BAD_USER_INPUT", u, err)
		}
	}
	for _, u := range []string{"http://10.1.2.3/x", "https://93.184.215.14/hook"} {
		if err := g.CheckURL(context.Background(), u, nil); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestSendFollowsNoRedirectAndReadsABoundedBody(t *testing.T) {
	var redirected, followed int
	mux := http.NewServeMux()
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		redirected++
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	mux.HandleFunc("/target", func(w http.ResponseWriter, r *http.Request) { followed++ })
	// An endless 200 body: only a bounded read returns before the timeout.
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 32<<10))
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := NewClient(NewGuard([]string{"127.0.0.1"}))
	sec := []model.WebhookSecret{model.NewWebhookSecret()}
	res := c.Send(context.Background(), Message{URL: srv.URL + "/redirect", ID: "a.1", Body: []byte(`{}`), Secrets: sec}, time.Now())
	if res.OK() || res.StatusCode != http.StatusFound || redirected != 1 || followed != 0 {
		t.Fatalf("redirect: %+v, redirected %d, followed %d; want a failed attempt with 302 and no request to the target", res, redirected, followed)
	}
	start := time.Now()
	res = c.Send(context.Background(), Message{URL: srv.URL + "/endless", ID: "a.2", Body: []byte(`{}`), Secrets: sec}, time.Now())
	if !res.OK() {
		t.Fatalf("endless body: %+v (took %s), want delivered after reading at most %d bytes", res, time.Since(start), MaxResponseBytes)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	w := model.Webhook{ID: "wh_1", Secret: model.NewWebhookSecret(), Previous: model.NewWebhookSecret()}
	for _, s := range []string{fmt.Sprintf("%v", w), fmt.Sprintf("%+v", w), fmt.Sprintf("%#v", w), fmt.Sprint(w.Secret)} {
		if strings.Contains(s, w.Secret.Reveal()) || strings.Contains(s, w.Previous.Reveal()) {
			t.Fatalf("a formatted webhook shows its secret: %s", s)
		}
	}
}
