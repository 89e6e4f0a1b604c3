// Passkeys (WebAuthn) in Chromium with a virtual authenticator (Chrome
// DevTools Protocol, through playwright-core): a new clinician signs in
// with a one-time password, changes it, registers a passkey as the second
// factor, signs out, and signs in again with the password and the passkey.
// Run by internal/server TestBrowserPasskey, which starts the server on
// http://localhost (WebAuthn needs a secure context; localhost is one) and
// sets HESTIA_URL, HESTIA_USER, HESTIA_PASSWORD, HESTIA_NEW_PASSWORD,
// CHROMIUM. It prints one JSON line: {"registered": true, "signedIn": true}.
import { env, launch, signIn, signInWithOneTimePassword } from './lib.mjs'

const base = env('HESTIA_URL')

const browser = await launch()
try {
  const context = await browser.newContext()
  const page = await context.newPage()
  const cdp = await context.newCDPSession(page)
  await cdp.send('WebAuthn.enable')
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true }
  })

  await page.goto(base + '/signin')
  await signInWithOneTimePassword(page)
  await page.waitForURL('**/signin/enrol')
  await page.click('#passkey-register')
  await page.waitForURL('**/signin/recovery')
  await page.click('#continue')
  await page.waitForURL('**/signin/done')
  await page.click('#signout')
  await page.waitForSelector('text=You are signed out')

  await page.goto(base + '/signin')
  await signIn(page, env('HESTIA_NEW_PASSWORD'))
  await page.waitForURL('**/signin/mfa')
  await page.click('#passkey-login')
  await page.waitForURL('**/signin/done')
  console.log(JSON.stringify({ registered: true, signedIn: true }))
} finally {
  await browser.close()
}
