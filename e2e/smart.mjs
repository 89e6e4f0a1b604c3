// A SMART App Launch (standalone, authorization code + PKCE S256) against
// Hestia with clients Hestia did not write: openid-client for the OAuth
// protocol, Chromium (through playwright-core) for the sign-in, password
// change, MFA enrolment and authorization pages. Then a FHIR read with the
// token. Run by internal/server TestBrowserSMARTLaunch, which starts the
// server and passes the settings in the environment:
//
//   HESTIA_URL  the server's base URL     HESTIA_CLIENT_ID  a public client
//   HESTIA_USER, HESTIA_PASSWORD          a new clinician and its one-time password
//   HESTIA_NEW_PASSWORD                   the password to change to
//   HESTIA_PATIENT                        the patient to pick
//   CHROMIUM                              the browser binary
//
// It prints one JSON line: {"patient": ..., "scope": ..., "status": ..., "id": ...,
// "fhirUser": (from the ID token)}.
import * as client from 'openid-client'
import { createHmac } from 'node:crypto'
import { env, launch, signInWithOneTimePassword } from './lib.mjs'

const base = env('HESTIA_URL')
const redirectURI = 'http://127.0.0.1:53682/cb'

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s), as an authenticator app computes it.
function totp (secret, t = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const c of secret.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0')
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)))
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 1000 / 30)))
  const h = createHmac('sha1', key).update(counter).digest()
  const o = h[h.length - 1] & 0xf
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0')
}

const smart = await (await fetch(new URL('.well-known/smart-configuration', base + '/'))).json()
const config = new client.Configuration(
  { issuer: smart.issuer, authorization_endpoint: smart.authorization_endpoint, token_endpoint: smart.token_endpoint, jwks_uri: smart.jwks_uri },
  env('HESTIA_CLIENT_ID'), { id_token_signed_response_alg: 'ES256' }, client.None())

const verifier = client.randomPKCECodeVerifier()
const state = client.randomState()
const nonce = client.randomNonce()
const authURL = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectURI,
  scope: 'openid fhirUser user/Patient.rs launch/patient offline_access',
  nonce,
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  aud: base
})

const browser = await launch()
try {
  // The server's certificate is self-signed for the test: the browser
  // accepts it; Node trusts it through NODE_EXTRA_CA_CERTS.
  const context = await browser.newContext({ ignoreHTTPSErrors: true })
  const page = await context.newPage()
  let callback
  await page.route('http://127.0.0.1:53682/**', async (route) => {
    callback = route.request().url()
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'back at the app' })
  })
  await page.goto(authURL.href)
  await signInWithOneTimePassword(page)
  await page.waitForURL('**/signin/enrol')
  const secret = (await page.textContent('#secret')).trim()
  await page.fill('#code', totp(secret))
  await page.click('#submit')
  await page.waitForURL('**/signin/recovery')
  await page.click('#continue')
  await page.waitForSelector('#allow')
  const app = await page.textContent('#app')
  await page.fill('#patient', env('HESTIA_PATIENT'))
  await page.click('#allow')
  await page.waitForURL('http://127.0.0.1:53682/**')

  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce
  })
  const id = tokens.claims() // the ID token, checked by openid-client
  const res = await client.fetchProtectedResource(config, tokens.access_token,
    new URL(`${base}/Patient/${tokens.patient}`), 'GET')
  const body = await res.json()
  console.log(JSON.stringify({ app, patient: tokens.patient, scope: tokens.scope, refresh: !!tokens.refresh_token, status: res.status, id: body.id, fhirUser: id?.fhirUser }))
} finally {
  await browser.close()
}
