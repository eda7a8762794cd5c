package model

import (
	"regexp"
	"strings"
	"testing"
)

func TestParseDigestAcceptsCanonicalSHA256AndSHA512(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"sha256 of empty string", testSHA256},
		{"sha256 of a", testSHA256b},
		{"sha256 all zeros", "sha256:" + strings.Repeat("0", 64)},
		{"sha256 all f", "sha256:" + strings.Repeat("f", 64)},
		{"sha512 of empty string", testSHA512},
		{"sha512 mixed digits and letters", "sha512:" + strings.Repeat("0123456789abcdef", 8)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDigest(tt.in)
			if err != nil {
				t.Fatalf("ParseDigest(%q) = error %v, want accepted", tt.in, err)
			}
			if got != tt.in {
				t.Fatalf("ParseDigest(%q) = %q, want the input unchanged", tt.in, got)
			}
		})
	}
}

func TestParseDigestRefusesNonCanonicalAsBadInputOnDigestSayingWhatIsWrong(t *testing.T) {
	hex64 := strings.TrimPrefix(testSHA256, "sha256:")
	hex128 := strings.TrimPrefix(testSHA512, "sha512:")
	tests := []struct {
		name string
		in   string
		want []string // substrings of the message that say what is wrong
	}{
		{"empty", "", []string{"is empty", "sha256:<64 lowercase hex>"}},
		{"uppercase hex sha256", "sha256:" + strings.ToUpper(hex64), []string{"lowercase hex"}},
		{"one uppercase hex char", "sha256:" + "A" + hex64[1:], []string{"lowercase hex"}},
		{"uppercase hex sha512", "sha512:" + strings.ToUpper(hex128), []string{"lowercase hex"}},
		{"non-hex letter g", "sha256:" + "g" + hex64[1:], []string{"lowercase hex"}},
		{"sha256 with 63 hex", "sha256:" + hex64[:63], []string{"64 hex characters", "got 63"}},
		{"sha256 with 65 hex", "sha256:" + hex64 + "0", []string{"64 hex characters", "got 65"}},
		{"sha256 with 128 hex", "sha256:" + hex128, []string{"64 hex characters", "got 128"}},
		{"sha512 with 127 hex", "sha512:" + hex128[:127], []string{"128 hex characters", "got 127"}},
		{"sha512 with 129 hex", "sha512:" + hex128 + "0", []string{"128 hex characters", "got 129"}},
		{"sha512 with 64 hex", "sha512:" + hex64, []string{"128 hex characters", "got 64"}},
		{"sha384", "sha384:" + strings.Repeat("a", 96), []string{`algorithm "sha384" is not allowed`, "sha256 or sha512"}},
		{"md5", "md5:d41d8cd98f00b204e9800998ecf8427e", []string{`algorithm "md5" is not allowed`}},
		{"unknown algorithm", "blake3:" + hex64, []string{`algorithm "blake3" is not allowed`}},
		{"uppercase algorithm", "SHA256:" + hex64, []string{`algorithm "SHA256" is not allowed`}},
		{"algorithm with suffix", "sha256+b64:" + hex64, []string{"is not allowed"}},
		{"missing colon", "sha256" + hex64, []string{"algorithm:encoded"}},
		{"bare hex", hex64, []string{"algorithm:encoded"}},
		{"leading colon", ":" + hex64, []string{"algorithm:encoded"}},
		{"trailing colon only", "sha256:", []string{"algorithm:encoded"}},
		{"double colon", "sha256::" + hex64, []string{"64 hex characters"}},
		{"leading space", " " + testSHA256, []string{"whitespace"}},
		{"trailing space", testSHA256 + " ", []string{"whitespace"}},
		{"leading tab", "\t" + testSHA256, []string{"whitespace"}},
		{"inner space after colon", "sha256: " + hex64, []string{"whitespace"}},
		{"inner space in hex", "sha256:" + hex64[:32] + " " + hex64[32:], []string{"whitespace"}},
		{"inner tab", "sha256:\t" + hex64, []string{"whitespace"}},
		{"trailing newline", testSHA256 + "\n", []string{"whitespace"}},
		{"trailing CRLF", testSHA256 + "\r\n", []string{"whitespace"}},
		{"only whitespace", "   ", []string{"whitespace"}},
		{"very long input", "sha256:" + strings.Repeat("a", 10000), []string{"10007 bytes long", "more than 256"}},
		{"just over the length bound", "sha256:" + strings.Repeat("a", MaxDigestLength-6), []string{"more than 256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDigest(tt.in)
			if got != "" {
				t.Errorf("ParseDigest(%q) returned %q alongside an error, want empty", tt.in, got)
			}
			wantBadInput(t, err, "digest", tt.want...)
			if e := asError(t, err, KindBadInput); !strings.HasPrefix(e.Message, "digest: ") {
				t.Errorf("message %q does not name the field", e.Message)
			}
		})
	}
}

func TestParseDigestRefusesOtherUnicodeWhitespace(t *testing.T) {
	hex64 := strings.TrimPrefix(testSHA256, "sha256:")
	// Leading/trailing Unicode white space is caught by the whitespace rule; inner
	// white space other than space/tab/CR/LF is refused too (as not lowercase hex).
	tests := []struct {
		name, in string
	}{
		{"leading NBSP", "\u00a0" + testSHA256},
		{"trailing vertical tab", testSHA256 + "\v"},
		{"trailing form feed", testSHA256 + "\f"},
		{"inner vertical tab", "sha256:" + hex64[:10] + "\v" + hex64[11:]},
		{"inner NBSP", "sha256:" + hex64[:10] + "\u00a0" + hex64[12:]},
		{"NUL byte", "sha256:" + hex64[:63] + "\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDigest(tt.in)
			wantBadInput(t, err, "digest")
		})
	}
}

var canonicalDigestRE = regexp.MustCompile(`^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$`)

func FuzzParseDigest(f *testing.F) {
	hex64 := strings.TrimPrefix(testSHA256, "sha256:")
	for _, s := range []string{
		"", testSHA256, testSHA256b, testSHA512,
		"sha256:" + strings.ToUpper(hex64), "sha256:" + hex64[:63], "sha256:" + hex64 + "0",
		"sha384:" + strings.Repeat("a", 96), "md5:d41d8cd98f00b204e9800998ecf8427e",
		"sha256" + hex64, " " + testSHA256, testSHA256 + "\n", "sha256: " + hex64,
		"sha256:", ":", "sha256::", strings.Repeat("a", 300), "sha512:" + hex64,
		"sha256:" + hex64 + ":", "\u00a0" + testSHA256, "sha256:\xff" + hex64[1:],
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDigest(s)
		canonical := canonicalDigestRE.MatchString(s)
		if err == nil {
			if !canonical {
				t.Fatalf("ParseDigest accepted non-canonical %q", s)
			}
			if got != s {
				t.Fatalf("ParseDigest(%q) = %q, want input unchanged", s, got)
			}
			return
		}
		if canonical {
			t.Fatalf("ParseDigest refused canonical %q: %v", s, err)
		}
		e, ok := err.(*Error)
		if !ok || e.Kind != KindBadInput || e.Field != "digest" || e.Message == "" {
			t.Fatalf("ParseDigest(%q) error %#v is not BAD_USER_INPUT on digest with a message", s, err)
		}
		if got != "" {
			t.Fatalf("ParseDigest(%q) returned %q with an error", s, got)
		}
	})
}
