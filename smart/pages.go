package smart

import (
	"html/template"
	"net/http"
	"net/url"
)

// The authorization pages: plain HTML forms that work without JavaScript, with labels,
// fieldsets and legends, visible focus, and errors announced with role="alert".
var pages = template.Must(template.New("layout").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Portico</title>
<style>
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1b1b1b}
label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input[type=text],input[type=password],input[type=search]{width:100%;padding:.5rem;font-size:1rem;border:1px solid #555;border-radius:4px;box-sizing:border-box}
fieldset{border:1px solid #999;border-radius:4px;margin:1rem 0;padding:.5rem 1rem}
legend{font-weight:600}
.check{display:flex;gap:.5rem;align-items:flex-start;margin:.4rem 0}
.check label{display:inline;font-weight:normal;margin:0}
.sub{margin-left:1.75rem}
button{font-size:1rem;padding:.5rem 1.25rem;margin:.75rem .5rem 0 0;border-radius:4px;border:1px solid #0b4f8a;background:#0b5fa5;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#0b4f8a}
:focus-visible{outline:3px solid #f5a623;outline-offset:2px}
.error{border-left:4px solid #b00020;padding:.5rem 1rem;background:#fdecee}
.hint{color:#444;font-size:.9rem}
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{template "body" .}}
</main>
</body>
</html>`))

var (
	loginPage = template.Must(template.Must(pages.Clone()).Parse(`{{define "body"}}
<p><strong>{{.ClientName}}</strong> asks to use your health record. Sign in to continue.</p>
<form method="post" action="{{.Action}}">
{{template "hidden" .}}
<input type="hidden" name="step" value="login">
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" required autofocus value="{{.Username}}">
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
{{end}}` + hiddenTmpl))

	patientPage = template.Must(template.Must(pages.Clone()).Parse(`{{define "body"}}
<p>Choose the patient whose record <strong>{{.ClientName}}</strong> may use.</p>
<form method="post" action="{{.Action}}">
{{template "hidden" .}}
<input type="hidden" name="step" value="patient-search">
<label for="q">Find a patient by name</label>
<input type="search" id="q" name="q" value="{{.Query}}">
<button type="submit" class="secondary">Search</button>
</form>
<form method="post" action="{{.Action}}">
{{template "hidden" .}}
<input type="hidden" name="step" value="patient">
<fieldset>
<legend>Patient</legend>
{{range $i, $p := .Patients}}<div class="check"><input type="radio" id="patient-{{$i}}" name="patient" value="{{$p.ID}}" required{{if eq $i 0}} checked{{end}}>
<label for="patient-{{$i}}">{{$p.Name}} <span class="hint">(Patient/{{$p.ID}})</span></label></div>
{{else}}<p>No patient found.</p>{{end}}
</fieldset>
<button type="submit">Continue</button>
</form>
{{end}}` + hiddenTmpl))

	consentPage = template.Must(template.Must(pages.Clone()).Parse(`{{define "body"}}
<p><strong>{{.ClientName}}</strong> asks for the access below{{if .Patient}} to the record of <strong>{{.PatientName}}</strong>{{end}}.
Untick anything you do not want to share.</p>
<form method="post" action="{{.Action}}">
{{template "hidden" .}}
<input type="hidden" name="step" value="consent">
<input type="hidden" name="patient" value="{{.Patient}}">
{{if .Always}}<p class="hint">Always shared with this app: {{range $i, $s := .Always}}{{if $i}}, {{end}}{{$s}}{{end}}.</p>{{end}}
<fieldset>
<legend>Access requested</legend>
{{range $i, $c := .Choices}}<div class="check"><input type="checkbox" id="scope-{{$i}}" name="grant" value="{{$c.Scope}}" checked>
<label for="scope-{{$i}}">{{$c.Label}} <span class="hint">({{$c.Scope}})</span></label></div>
{{if $c.Subs}}<fieldset class="sub"><legend>Or only these categories (used when the box above is unticked)</legend>
{{range $j, $s := $c.Subs}}<div class="check"><input type="checkbox" id="scope-{{$i}}-{{$j}}" name="grant" value="{{$s.Scope}}">
<label for="scope-{{$i}}-{{$j}}">{{$s.Label}}</label></div>
{{end}}</fieldset>{{end}}
{{end}}
</fieldset>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary" formnovalidate>Deny</button>
</form>
{{end}}` + hiddenTmpl))

	errorPage = template.Must(template.Must(pages.Clone()).Parse(`{{define "body"}}
<p>This sign-in link cannot be used. Go back to the app and start again.</p>
{{end}}`))
)

// hiddenTmpl carries the authorization request, and the signed-in session, through the forms.
const hiddenTmpl = `{{define "hiddenParams"}}{{range $k, $vs := .Params}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">
{{end}}{{end}}{{end}}{{define "hidden"}}{{template "hiddenParams" .}}{{if .Session}}<input type="hidden" name="session" value="{{.Session}}">{{end}}{{end}}`

type pageData struct {
	Title, Error, Action string
	ClientName           string
	Params               url.Values
	Session              string
	Username             string
	Query                string
	Patients             []patientChoice
	Patient, PatientName string
	Always               []string
	Choices              []scopeChoice
}

type patientChoice struct{ ID, Name string }

type scopeChoice struct {
	Scope, Label string
	Subs         []scopeChoice
}

// renderPage writes an authorization page with headers that keep it out of caches and frames.
func renderPage(w http.ResponseWriter, status int, t *template.Template, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // no referrer to other sites; with no-referrer, browsers would send Origin: null on our own forms
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_ = t.ExecuteTemplate(w, "layout", d)
}
