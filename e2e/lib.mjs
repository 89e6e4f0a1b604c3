// What the browser tests share: settings from the environment, Chromium,
// and the sign-in pages' first steps.
import { chromium } from 'playwright-core'

// env returns a required setting.
export function env (k) {
  const v = process.env[k]
  if (!v) throw new Error(`${k} is not set`)
  return v
}

// launch starts Debian's Chromium (CHROMIUM), headless.
export function launch () {
  return chromium.launch({ executablePath: env('CHROMIUM'), args: ['--no-sandbox'] })
}

// signInWithOneTimePassword fills the sign-in form with HESTIA_USER and
// HESTIA_PASSWORD (a one-time password) and changes it to
// HESTIA_NEW_PASSWORD on the page that follows.
export async function signInWithOneTimePassword (page) {
  await signIn(page, env('HESTIA_PASSWORD'))
  await page.waitForURL('**/signin/password')
  await page.fill('#current', env('HESTIA_PASSWORD'))
  await page.fill('#new', env('HESTIA_NEW_PASSWORD'))
  await page.fill('#confirm', env('HESTIA_NEW_PASSWORD'))
  await page.click('#submit')
}

// signIn fills the sign-in form with HESTIA_USER and password.
export async function signIn (page, password) {
  await page.fill('#username', env('HESTIA_USER'))
  await page.fill('#password', password)
  await page.click('#submit')
}
