package model

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on strings the API takes.
const (
	MaxProjectLength      = 128
	MaxSourceLength       = 2048
	MaxTagLength          = 128
	MaxTags               = 50
	MaxRuntimeClassLength = 63
	MaxEnvironmentLength  = 63
	MaxReasonLength       = 1024
	MaxSubjectLength      = 256
	MaxDetailLength       = 2048
)

var (
	projectRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	tagRE         = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)
	runtimeRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$`)
	environmentRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// ValidateProject checks a project name: 1-128 of letters, digits and ._- starting
// with a letter or digit.
func ValidateProject(s string) error {
	return matchName("project", s, MaxProjectLength, projectRE, "letters, digits and . _ - (starting with a letter or digit)")
}

// ValidateTag checks one tag label (the OCI tag grammar).
func ValidateTag(field, s string) error {
	return matchName(field, s, MaxTagLength, tagRE, "letters, digits and . _ - (not starting with . or -)")
}

// ValidateRuntimeClass checks a runtime class name (a DNS-label-like name).
func ValidateRuntimeClass(field, s string) error {
	return matchName(field, s, MaxRuntimeClassLength, runtimeRE, "lowercase letters, digits, . and - (starting and ending with a letter or digit)")
}

// ValidateEnvironment checks a target environment name.
func ValidateEnvironment(s string) error {
	return matchName("targetEnvironment", s, MaxEnvironmentLength, environmentRE, "letters, digits and . _ - (starting with a letter or digit)")
}

func matchName(field, s string, max int, re *regexp.Regexp, allowed string) error {
	switch {
	case s == "":
		return BadInput(field, "must not be empty")
	case len(s) > max:
		return BadInput(field, "is %d bytes long, at most %d allowed", len(s), max)
	case !re.MatchString(s):
		return BadInput(field, "%q may only contain %s", truncate(s, 64), allowed)
	}
	return nil
}

// ValidateSource checks an artifact source locator: 1-2048 printable characters
// without white space.
func ValidateSource(s string) error { return printable("source", s, MaxSourceLength, false) }

// ValidateSourcePrefix checks one allowed-source prefix.
func ValidateSourcePrefix(field, s string) error { return printable(field, s, MaxPrefixLength, false) }

// ValidateSubject checks an actor subject (a token's sub, a promoter subject, an
// audit filter): at most 256 bytes of printable characters, inner spaces allowed,
// no leading or trailing space and no invisible character at all (not even the
// zero-width joiners free text keeps; see invisible), so two subjects that look
// alike are alike.
func ValidateSubject(field, s string) error {
	if err := printable(field, s, MaxSubjectLength, true); err != nil {
		return err
	}
	if strings.TrimSpace(s) != s {
		return BadInput(field, "must not start or end with a space")
	}
	if i := strings.IndexFunc(s, invisible); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return BadInput(field, "contains an invisible formatting character (%U)", r)
	}
	// Private-use, unassigned and noncharacter code points show as nothing or as
	// a box that two subjects would share.
	if i := strings.IndexFunc(s, func(r rune) bool { return r != ' ' && !unicode.IsGraphic(r) }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return BadInput(field, "contains a character that is not a visible letter, digit, mark, punctuation or symbol (%U)", r)
	}
	return nil
}

// invisible reports whether r shows as nothing although it is there: format
// characters (zero-width, bidirectional controls), the other default-ignorable code
// points (Hangul fillers, the combining grapheme joiner), variation selectors, and
// the blank braille pattern.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) || r == '\u2800'
}

// ValidateReason checks an optional free-text reason (spaces allowed).
func ValidateReason(s string) error {
	if s == "" {
		return nil
	}
	return printable("reason", s, MaxReasonLength, true)
}

// ValidateDetail checks an optional verification detail (spaces allowed).
func ValidateDetail(field, s string) error {
	if s == "" {
		return nil
	}
	return printable(field, s, MaxDetailLength, true)
}

func printable(field, s string, max int, spaces bool) error {
	switch {
	case s == "":
		return BadInput(field, "must not be empty")
	case len(s) > max:
		return BadInput(field, "is %d bytes long, at most %d allowed", len(s), max)
	case !utf8.ValidString(s):
		return BadInput(field, "is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) || (r != ' ' && unicode.IsSpace(r)) || (r == ' ' && !spaces) {
			return BadInput(field, "contains a control or white-space character (%U)", r)
		}
		// Format characters are invisible: bidirectional overrides (U+202E) make
		// text display differently from what it is, zero-width ones make two
		// values look equal. Free text keeps the zero-width joiners emoji need.
		if unicode.Is(unicode.Cf, r) && !(spaces && (r == '\u200c' || r == '\u200d')) {
			return BadInput(field, "contains an invisible formatting character (%U)", r)
		}
	}
	return nil
}

// AuditActions lists every audit action of an artifact.
var AuditActions = []string{ActionRegister, ActionVerify, ActionEvidence, ActionPromote, ActionDeprecate, ActionRetire, ActionRevoke, ActionApprove, ActionReject}

// ValidateAuditAction checks an audit action filter: one of the app_artifact.* actions.
func ValidateAuditAction(field, s string) error {
	for _, a := range AuditActions {
		if s == a {
			return nil
		}
	}
	return BadInput(field, "%q is not an audit action; use one of %s", truncate(s, 64), strings.Join(AuditActions, ", "))
}

// MaxCorrelationIDLength bounds a correlation id, as the X-Correlation-ID header does.
const MaxCorrelationIDLength = 128

var correlationRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// ValidateCorrelationID checks a correlation id given as a filter: the characters
// the server accepts in X-Correlation-ID (letters, digits and . _ -, at most 128).
func ValidateCorrelationID(field, s string) error {
	return matchName(field, s, MaxCorrelationIDLength, correlationRE, "letters, digits and . _ -")
}
