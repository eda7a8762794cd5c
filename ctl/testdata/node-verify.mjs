// Verifies evidence made by artifactctl with node:crypto, independently of the
// Go code: a DSSE envelope (PAE per the DSSE v1 protocol, in-toto Statement v1
// layout) or a cosign simple-signing payload and signature.
// Usage: node node-verify.mjs dsse <public.pem> <envelope.json> <digest>
//        node node-verify.mjs cosign <public.pem> <payload> <signature.b64> <digest>
// Prints {"verified": bool, "reason": "..."} and exits 0 either way.
import { createPublicKey, verify, constants } from 'node:crypto';
import { readFileSync } from 'node:fs';

const [mode, pubPath, ...rest] = process.argv.slice(2);
const key = createPublicKey(readFileSync(pubPath));
const out = (verified, reason) => process.stdout.write(JSON.stringify({ verified, reason, keyType: key.asymmetricKeyType }));

// Node's verify for each key type, as artifactctl documents its signatures:
// ECDSA P-256 SHA-256 DER; Ed25519 (no pre-hash); RSA with PSS (DSSE) or
// PKCS#1 v1.5 (cosign), SHA-256.
function check(data, sig, rsaPadding) {
  switch (key.asymmetricKeyType) {
    case 'ec': return verify('sha256', data, { key, dsaEncoding: 'der' }, sig);
    case 'ed25519': return verify(null, data, key, sig);
    case 'rsa': return verify('sha256', data, { key, padding: rsaPadding, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig);
  }
  throw new Error('unexpected key type ' + key.asymmetricKeyType);
}
// DSSE allows standard or URL-safe base64.
const b64 = (s) => Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');

if (mode === 'dsse') {
  const [envPath, digest] = rest;
  const env = JSON.parse(readFileSync(envPath, 'utf8'));
  if (env.payloadType !== 'application/vnd.in-toto+json') { out(false, 'payloadType ' + env.payloadType); process.exit(0); }
  const payload = b64(env.payload);
  const pae = Buffer.concat([
    Buffer.from(`DSSEv1 ${Buffer.byteLength(env.payloadType, 'utf8')} ${env.payloadType} ${payload.length} `, 'utf8'),
    payload,
  ]);
  const ok = env.signatures.some((s) => check(pae, b64(s.sig), constants.RSA_PKCS1_PSS_PADDING));
  if (!ok) { out(false, 'no signature verifies over the PAE'); process.exit(0); }
  const st = JSON.parse(payload.toString('utf8'));
  const [alg, hex] = digest.split(':');
  if (st._type !== 'https://in-toto.io/Statement/v1') { out(false, '_type ' + st._type); process.exit(0); }
  if (!st.subject.some((s) => s.digest && s.digest[alg] === hex)) { out(false, 'no subject with ' + digest); process.exit(0); }
  if (typeof st.predicateType !== 'string' || typeof st.predicate !== 'object') { out(false, 'predicate'); process.exit(0); }
  out(true, 'statement about ' + digest + ' (' + st.predicateType + ')');
} else if (mode === 'cosign') {
  const [payloadPath, sigPath, digest] = rest;
  const payload = readFileSync(payloadPath);
  const sig = Buffer.from(readFileSync(sigPath, 'utf8').trim(), 'base64');
  if (!check(payload, sig, constants.RSA_PKCS1_PADDING)) { out(false, 'the signature does not verify over the payload'); process.exit(0); }
  const doc = JSON.parse(payload.toString('utf8'));
  if (doc.critical.type !== 'cosign container image signature' || doc.critical.image['docker-manifest-digest'] !== digest) {
    out(false, 'payload ' + payload); process.exit(0);
  }
  out(true, 'cosign simple signing of ' + digest);
} else {
  throw new Error('mode dsse or cosign');
}
