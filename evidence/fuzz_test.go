package evidence

import (
	"encoding/base64"
	"testing"

	"github.com/artifact-trust/control-plane/model"
)

// FuzzParse: whatever a client sends as an envelope or a simple-signing payload,
// Parse never panics and either refuses it as BAD_USER_INPUT or returns evidence
// with its SHA-256, which Judge then decides without panicking.
func FuzzParse(f *testing.F) {
	f.Add(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AAAA"}]}`, "", "")
	f.Add(`{"payloadType":"application/vnd.in-toto+json","payload":"`+base64.StdEncoding.EncodeToString(statementJSON(subjectOf(testDigest), PredicateSLSAProvenance1, slsaPredicate("b", "https://github.com/acme/app")))+`","signatures":[{"sig":"AAAA"}]}`, "", "")
	f.Add("", base64.StdEncoding.EncodeToString([]byte(`{"critical":{"image":{"docker-manifest-digest":"`+testDigest+`"}}}`)), "AAAA")
	f.Add("[[[[", "", "")
	f.Add(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=\n","signatures":[{"sig":"AA\r\nAA"}]}`, "", "")
	f.Add(`{"payloadType":"application/vnd.in-toto+json","payload":"`+base64.StdEncoding.EncodeToString([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"00","sha256":"11"}}],"predicateType":"x","predicate":{}}`))+`","signatures":[{"sig":"AAAA"},{"sig":"AAAA"}]}`, "", "")
	pp := &model.ProvenancePolicy{BuilderIDs: []string{"b"}, SourceRepositories: []string{"https://github.com/acme/"}}
	f.Fuzz(func(t *testing.T, env, payload, sig string) {
		p, err := KeyVerifier{}.Parse(Submission{DSSE: env, Payload: payload, Signature: sig})
		if err != nil {
			if model.KindOf(err) != model.KindBadInput {
				t.Fatalf("not BAD_USER_INPUT: %v", err)
			}
			return
		}
		if len(p.EnvelopeSHA256) != 64 {
			t.Fatalf("sha %q", p.EnvelopeSHA256)
		}
		js := KeyVerifier{}.Judge(p, testDigest, nil, pp)
		for _, j := range js {
			if j.Result != model.ResultFailed {
				t.Fatalf("passed without keys: %+v", j)
			}
		}
	})
}
