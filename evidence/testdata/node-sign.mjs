// Signs an in-toto Statement v1 about one digest in a DSSE envelope with
// node:crypto, following the DSSE v1 protocol (PAE) independently of the Go code
// under test. Usage: node node-sign.mjs <ec|ed25519> <sha256:hex>
// Prints {"publicKeyPem": ..., "envelope": ...}.
import { generateKeyPairSync, sign } from 'node:crypto';

const [kind, digest] = process.argv.slice(2);
const [alg, hex] = digest.split(':');
const { publicKey, privateKey } = kind === 'ec'
  ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
  : generateKeyPairSync('ed25519');

const statement = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: 'app', digest: { [alg]: hex } }],
  predicateType: 'https://example.com/test-result/v1',
  predicate: { passed: true },
};
const payloadType = 'application/vnd.in-toto+json';
const payload = Buffer.from(JSON.stringify(statement), 'utf8');
const pae = Buffer.concat([
  Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `, 'utf8'),
  payload,
]);
// ECDSA: SHA-256, DER signature (node's default); Ed25519: no pre-hash.
const sig = sign(kind === 'ec' ? 'sha256' : null, pae, privateKey);
const envelope = {
  payloadType,
  payload: payload.toString('base64'),
  signatures: [{ keyid: 'node-test-key', sig: sig.toString('base64') }],
};
process.stdout.write(JSON.stringify({
  publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }),
  envelope: JSON.stringify(envelope),
}));
