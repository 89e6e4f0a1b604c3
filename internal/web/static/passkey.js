// Passkeys (WebAuthn) on the sign-in pages: register one at enrolment,
// use one as the second factor. The page carries the session's CSRF token
// in <main data-csrf>; the server checks it on every call.
'use strict';
(function () {
  const main = document.querySelector('main');
  const csrf = main ? main.dataset.csrf : '';
  const enc = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const dec = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)),
    (c) => c.charCodeAt(0));
  const show = (msg) => { const e = document.getElementById('passkey-error'); if (e) e.textContent = msg; };

  async function post (url, body) {
    const r = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body || {})
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.error || ('error ' + r.status));
    return data;
  }

  async function register () {
    const opts = await post('/signin/passkey/register/begin');
    const pk = opts.publicKey;
    pk.challenge = dec(pk.challenge);
    pk.user.id = dec(pk.user.id);
    (pk.excludeCredentials || []).forEach((c) => { c.id = dec(c.id); });
    const cred = await navigator.credentials.create({ publicKey: pk });
    const res = await post('/signin/passkey/register/finish', {
      id: cred.id,
      rawId: enc(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: enc(cred.response.attestationObject),
        clientDataJSON: enc(cred.response.clientDataJSON),
        transports: cred.response.getTransports ? cred.response.getTransports() : []
      }
    });
    location.href = res.next;
  }

  async function login () {
    const opts = await post('/signin/passkey/login/begin');
    const pk = opts.publicKey;
    pk.challenge = dec(pk.challenge);
    (pk.allowCredentials || []).forEach((c) => { c.id = dec(c.id); });
    const a = await navigator.credentials.get({ publicKey: pk });
    const res = await post('/signin/passkey/login/finish', {
      id: a.id,
      rawId: enc(a.rawId),
      type: a.type,
      response: {
        authenticatorData: enc(a.response.authenticatorData),
        clientDataJSON: enc(a.response.clientDataJSON),
        signature: enc(a.response.signature),
        userHandle: a.response.userHandle ? enc(a.response.userHandle) : null
      }
    });
    location.href = res.next;
  }

  for (const [id, fn] of [['passkey-register', register], ['passkey-login', login]]) {
    const b = document.getElementById(id);
    if (b) {
      b.hidden = false;
      b.addEventListener('click', () => fn().catch((e) => show(e.message)));
    }
  }
})();
