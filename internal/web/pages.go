package web

import (
	"html/template"
	"net/url"

	"github.com/hestiahealth/hestia/internal/oauth"
)

var (
	errAccessDenied = oauth.ErrAccessDenied
	urlQueryEscape  = url.QueryEscape
)

// dict builds a map for a nested template: dict "k1" v1 "k2" v2.
func dict(kv ...any) map[string]any {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		m[k] = kv[i+1]
	}
	return m
}

// pages are the HTML pages: plain HTML without style; the second-factor
// pages load the passkey script, their own file only (scriptCSP).
var pages = template.Must(template.New("").Funcs(template.FuncMap{"dict": dict}).Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}} · Hestia</title></head><body><main>
<h1>{{.}}</h1>{{end}}
{{define "headcsrf"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Hestia</title></head><body><main data-csrf="{{.CSRF}}">
<h1>{{.Title}}</h1>{{end}}
{{define "foot"}}</main></body></html>{{end}}
{{define "err"}}{{if .Error}}<p role="alert" id="error"><strong>{{.Error}}</strong></p>{{end}}{{end}}

{{define "error"}}{{template "head" "Something went wrong"}}<p role="alert">{{.Message}}</p>{{template "foot"}}{{end}}

{{define "signin"}}{{template "head" "Sign in"}}{{template "err" .}}
<form method="post" action="/signin">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<p><label for="username">Username</label><br><input id="username" name="username" autocomplete="username" required autofocus></p>
<p><label for="password">Password</label><br><input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button id="submit" type="submit">Sign in</button></p>
</form>
{{if .External}}<p><a id="external" href="{{.ExternalURL}}">Sign in with {{.External}}</a></p>{{end}}{{template "foot"}}{{end}}

{{define "mfa"}}{{template "headcsrf" (dict "Title" "Second step" "CSRF" .CSRF)}}{{template "err" .}}
{{if .Passkeys}}<p><button id="passkey-login" type="button" hidden>Use your passkey</button></p>
<p role="alert" id="passkey-error"></p>
<script src="/signin/passkey.js" defer></script>{{end}}
<form method="post" action="/signin/mfa">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<p><label for="code">Code from your authenticator app, or a recovery code</label><br>
<input id="code" name="code" autocomplete="one-time-code" inputmode="numeric" required autofocus></p>
<p><button id="submit" type="submit">Continue</button></p>
</form>{{template "foot"}}{{end}}

{{define "password"}}{{template "head" "Choose a new password"}}{{template "err" .}}
<p>Use at least 12 characters; a few unrelated words make a good password. Common and breached passwords are refused.</p>
<form method="post" action="/signin/password">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<p><label for="current">Current password</label><br><input id="current" name="current" type="password" autocomplete="current-password" required></p>
<p><label for="new">New password</label><br><input id="new" name="new" type="password" autocomplete="new-password" minlength="12" maxlength="128" required></p>
<p><label for="confirm">New password again</label><br><input id="confirm" name="confirm" type="password" autocomplete="new-password" required></p>
<p><button id="submit" type="submit">Change password</button></p>
</form>{{template "foot"}}{{end}}

{{define "enrol"}}{{template "headcsrf" (dict "Title" "Set up your second factor" "CSRF" .CSRF)}}{{template "err" .}}
{{if .Passkeys}}<p>Your role requires a second factor: a passkey (a security key, or this device's screen lock), or an authenticator app.</p>
<p><button id="passkey-register" type="button" hidden>Use a passkey</button></p>
<p role="alert" id="passkey-error"></p>
<script src="/signin/passkey.js" defer></script>
<p>Or, in an authenticator app (any TOTP app), add an account with this key:</p>
{{else}}<p>Your role requires a second factor. In an authenticator app (any TOTP app), add an account with this key:</p>{{end}}
<p><code id="secret">{{.Secret}}</code></p>
{{if .URI}}<p>Or open this link on the device that has the app: <a id="uri" href="{{.URI}}">add to authenticator</a></p>{{end}}
<form method="post" action="/signin/enrol">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<p><label for="code">Then type the 6-digit code it shows</label><br>
<input id="code" name="code" autocomplete="one-time-code" inputmode="numeric" required autofocus></p>
<p><button id="submit" type="submit">Confirm</button></p>
</form>{{template "foot"}}{{end}}

{{define "recovery"}}{{template "head" "Your recovery codes"}}
<p>Keep these codes somewhere safe. Each signs you in once if you lose your authenticator. They are shown only now.</p>
<ul id="codes">{{range .Codes}}<li><code>{{.}}</code></li>{{end}}</ul>
<p><a id="continue" href="{{.Next}}">Continue</a></p>{{template "foot"}}{{end}}

{{define "done"}}{{template "head" "Signed in"}}
<p>You are signed in. Apps you allow can now act for you.</p>
<form method="post" action="/signout"><input type="hidden" name="csrf" value="{{.CSRF}}"><button id="signout" type="submit">Sign out</button></form>
{{template "foot"}}{{end}}

{{define "signedout"}}{{template "head" "Signed out"}}<p>You are signed out.</p><p><a href="/signin">Sign in again</a></p>{{template "foot"}}{{end}}

{{define "authorize"}}{{template "head" "Allow access"}}{{template "err" .}}
<p><strong id="app">{{.App}}</strong> asks for access. Untick what you do not want it to have.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<fieldset><legend>Access</legend>
{{range $i, $s := .Scopes}}<p><label><input type="checkbox" name="grant" value="{{$s}}" checked> <code>{{$s}}</code></label></p>
{{end}}</fieldset>
{{if .Picker}}<p><label for="patient">Patient (id)</label><br><input id="patient" name="patient" required></p>{{end}}
<p><button id="allow" type="submit" name="decision" value="allow">Allow</button>
<button id="deny" type="submit" name="decision" value="deny">Deny</button></p>
</form>{{template "foot"}}{{end}}
`))
