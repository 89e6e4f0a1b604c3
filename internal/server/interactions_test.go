package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestCreateReadVReadUpdateDelete(t *testing.T) {
	s := newTestServer(t)
	r := s.do("POST", "/Patient", patient("Chalmers", "Peter"))
	p := s.expect(r, http.StatusCreated)
	id := p["id"].(string)
	loc := r.header.Get("Location")
	if !strings.HasSuffix(loc, "/Patient/"+id+"/_history/1") || !strings.HasPrefix(loc, "https://") {
		t.Fatalf("Location %q", loc)
	}
	if r.header.Get("ETag") != `W/"1"` || r.header.Get("Last-Modified") == "" {
		t.Fatalf("headers %v", r.header)
	}
	meta := p["meta"].(map[string]any)
	if meta["versionId"] != "1" || meta["lastUpdated"] == nil {
		t.Fatalf("meta %v", meta)
	}

	got := s.expect(s.do("GET", "/Patient/"+id, nil), http.StatusOK)
	if got["id"] != id || got["name"] == nil {
		t.Fatalf("read %v", got)
	}

	upd := patient("Chalmers", "Jim")
	upd["id"] = id
	r = s.do("PUT", "/Patient/"+id, upd)
	u := s.expect(r, http.StatusOK)
	if u["meta"].(map[string]any)["versionId"] != "2" || r.header.Get("ETag") != `W/"2"` {
		t.Fatalf("update: %v %v", u["meta"], r.header.Get("ETag"))
	}

	v1 := s.expect(s.do("GET", "/Patient/"+id+"/_history/1", nil), http.StatusOK)
	if v1["name"].([]any)[0].(map[string]any)["given"].([]any)[0] != "Peter" {
		t.Fatalf("vread 1: %v", v1)
	}
	s.expectOutcome(s.do("GET", "/Patient/"+id+"/_history/9", nil), http.StatusNotFound)
	s.expectOutcome(s.do("GET", "/Patient/"+id+"/_history/x", nil), http.StatusNotFound)

	r = s.do("DELETE", "/Patient/"+id, nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	r = s.do("GET", "/Patient/"+id, nil)
	s.expectOutcome(r, http.StatusGone)
	if r.header.Get("ETag") != `W/"3"` {
		t.Fatalf("410 ETag %q", r.header.Get("ETag"))
	}
	// Deleting again, or something that never existed, succeeds quietly.
	if r := s.do("DELETE", "/Patient/"+id, nil); r.status != http.StatusNoContent {
		t.Fatalf("second delete %d", r.status)
	}
	if r := s.do("DELETE", "/Patient/never", nil); r.status != http.StatusNoContent {
		t.Fatalf("delete of nothing %d", r.status)
	}
	h := s.expect(s.do("GET", "/Patient/"+id+"/_history", nil), http.StatusOK)
	if h["type"] != "history" || h["total"] != float64(3) {
		t.Fatalf("history: %v %v", h["type"], h["total"])
	}
	first := h["entry"].([]any)[0].(map[string]any)
	if first["request"].(map[string]any)["method"] != "DELETE" || first["resource"] != nil {
		t.Fatalf("newest history entry should be the delete: %v", first)
	}
	// A deleted resource can be brought back by an update.
	upd["id"] = id
	s.expect(s.do("PUT", "/Patient/"+id, upd), http.StatusCreated)
}

func TestReadErrors(t *testing.T) {
	s := newTestServer(t)
	s.expectOutcome(s.do("GET", "/Patient/nope", nil), http.StatusNotFound)
	s.expectOutcome(s.do("GET", "/Patient/bad_id!", nil), http.StatusBadRequest)
	s.expectOutcome(s.do("GET", "/NotAType/1", nil), http.StatusNotFound)
	s.expectOutcome(s.do("GET", "/Patient/"+strings.Repeat("a", 65), nil), http.StatusBadRequest)
	s.expectOutcome(s.do("PATCH", "/Patient/x", "{}"), http.StatusMethodNotAllowed)
	s.expectOutcome(s.do("GET", "/Patient/x/y/z/w", nil), http.StatusNotFound)
}

func TestConditionalRead304(t *testing.T) {
	s := newTestServer(t)
	p := s.create(patient("Etag"))
	r := s.do("GET", "/Patient/"+p["id"].(string), nil, "If-None-Match", `W/"1"`)
	if r.status != http.StatusNotModified {
		t.Fatalf("status %d", r.status)
	}
}

func TestUpdateRules(t *testing.T) {
	s := newTestServer(t)
	// Update as create with a client id.
	p := patient("Client")
	p["id"] = "client-1"
	r := s.do("PUT", "/Patient/client-1", p)
	s.expect(r, http.StatusCreated)
	// If-Match: right version succeeds, wrong version fails with 412.
	s.expect(s.do("PUT", "/Patient/client-1", p, "If-Match", `W/"1"`), http.StatusOK)
	s.expectOutcome(s.do("PUT", "/Patient/client-1", p, "If-Match", `W/"1"`), http.StatusPreconditionFailed)
	s.expectOutcome(s.do("PUT", "/Patient/client-1", p, "If-Match", `garbage`), http.StatusBadRequest)
	// The id in the body must match the URL.
	p["id"] = "other"
	s.expectOutcome(s.do("PUT", "/Patient/client-1", p), http.StatusBadRequest)
	delete(p, "id")
	s.expectOutcome(s.do("PUT", "/Patient/client-1", p), http.StatusBadRequest)
	// The type in the body must match the URL.
	o := map[string]any{"resourceType": "Observation", "id": "client-1"}
	s.expectOutcome(s.do("PUT", "/Patient/client-1", o), http.StatusBadRequest)
}

func TestCreateIgnoresClientIDAndMeta(t *testing.T) {
	s := newTestServer(t)
	p := patient("Meta")
	p["id"] = "chosen"
	p["meta"] = map[string]any{"versionId": "99", "lastUpdated": "1999-01-01T00:00:00Z", "tag": []any{map[string]any{"system": "http://x", "code": "y"}}}
	got := s.create(p)
	meta := got["meta"].(map[string]any)
	if got["id"] == "chosen" || meta["versionId"] != "1" || meta["lastUpdated"] == "1999-01-01T00:00:00Z" || meta["tag"] == nil {
		t.Fatalf("create kept client-controlled fields or lost tags: %v", got)
	}
}

func TestPreferReturn(t *testing.T) {
	s := newTestServer(t)
	r := s.do("POST", "/Patient", patient("Minimal"), "Prefer", "return=minimal")
	if r.status != http.StatusCreated || len(r.body) != 0 || r.header.Get("Location") == "" {
		t.Fatalf("return=minimal: %d %q", r.status, r.body)
	}
	r = s.do("POST", "/Patient", patient("OO"), "Prefer", "return=OperationOutcome")
	oo := s.expectOutcome(r, http.StatusCreated)
	if oo["issue"].([]any)[0].(map[string]any)["severity"] != "information" {
		t.Fatalf("outcome %v", oo)
	}
	r = s.do("POST", "/Patient", patient("Rep"), "Prefer", "return=representation")
	if s.expect(r, http.StatusCreated)["resourceType"] != "Patient" {
		t.Fatal("return=representation did not return the resource")
	}
}

func TestConditionalCreate(t *testing.T) {
	s := newTestServer(t)
	p := patient("Cond")
	p["identifier"] = []any{map[string]any{"system": "http://hosp/mrn", "value": "123"}}
	first := s.expect(s.do("POST", "/Patient", p, "If-None-Exist", "identifier=http://hosp/mrn|123"), http.StatusCreated)
	again := s.expect(s.do("POST", "/Patient", p, "If-None-Exist", "identifier=http://hosp/mrn|123"), http.StatusOK)
	if again["id"] != first["id"] {
		t.Fatalf("conditional create made a second resource: %v vs %v", again["id"], first["id"])
	}
	s.create(p) // a plain create makes a duplicate
	s.expectOutcome(s.do("POST", "/Patient", p, "If-None-Exist", "identifier=http://hosp/mrn|123"), http.StatusPreconditionFailed)
	s.expectOutcome(s.do("POST", "/Patient", p, "If-None-Exist", "bogus=1"), http.StatusBadRequest)
}

func TestConditionalUpdateAndDelete(t *testing.T) {
	s := newTestServer(t)
	p := patient("CU")
	p["identifier"] = []any{map[string]any{"system": "http://hosp/mrn", "value": "cu-1"}}
	created := s.expect(s.do("PUT", "/Patient?identifier=http://hosp/mrn|cu-1", p), http.StatusCreated)
	p["gender"] = "male"
	updated := s.expect(s.do("PUT", "/Patient?identifier=http://hosp/mrn|cu-1", p), http.StatusOK)
	if updated["id"] != created["id"] || updated["meta"].(map[string]any)["versionId"] != "2" {
		t.Fatalf("conditional update did not update the match: %v", updated)
	}
	q := "/Patient?identifier=" + url.QueryEscape("http://hosp/mrn|cu-1")
	s.create(p)
	s.expectOutcome(s.do("PUT", q, p), http.StatusPreconditionFailed)
	s.expectOutcome(s.do("DELETE", q, nil), http.StatusPreconditionFailed)

	one := patient("Single")
	one["identifier"] = []any{map[string]any{"system": "http://hosp/mrn", "value": "cd-1"}}
	c := s.create(one)
	if r := s.do("DELETE", "/Patient?identifier=http://hosp/mrn|cd-1", nil); r.status != http.StatusNoContent {
		t.Fatalf("conditional delete: %d %s", r.status, r.body)
	}
	s.expectOutcome(s.do("GET", "/Patient/"+c["id"].(string), nil), http.StatusGone)
	if r := s.do("DELETE", "/Patient?identifier=http://hosp/mrn|none", nil); r.status != http.StatusNoContent {
		t.Fatalf("conditional delete of nothing: %d", r.status)
	}
}

func TestBadInputNeverCrashes(t *testing.T) {
	s := newTestServer(t)
	cases := []struct {
		name   string
		method string
		path   string
		body   string
		ct     string
		status int
	}{
		{"malformed JSON", "POST", "/Patient", `{"resourceType":"Patient",`, "application/fhir+json", 400},
		{"invalid UTF-8", "POST", "/Patient", "{\"resourceType\":\"Patient\",\"gender\":\"\xff\"}", "application/fhir+json", 400},
		{"duplicate keys", "POST", "/Patient", `{"resourceType":"Patient","gender":"male","gender":"female"}`, "application/fhir+json", 400},
		{"deep nesting", "POST", "/Patient", `{"resourceType":"Patient","extension":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, "application/fhir+json", 400},
		{"not an object", "POST", "/Patient", `[1,2]`, "application/fhir+json", 400},
		{"no resourceType", "POST", "/Patient", `{"id":"x"}`, "application/fhir+json", 400},
		{"unknown element", "POST", "/Patient", `{"resourceType":"Patient","shoeSize":12}`, "application/fhir+json", 400},
		{"bad date", "POST", "/Patient", `{"resourceType":"Patient","birthDate":"1970-13-45"}`, "application/fhir+json", 400},
		{"bad code", "POST", "/Patient", `{"resourceType":"Patient","gender":"robot"}`, "application/fhir+json", 400},
		{"type mismatch", "POST", "/Patient", `{"resourceType":"Observation"}`, "application/fhir+json", 400},
		{"unknown type", "POST", "/Robot", `{"resourceType":"Robot"}`, "application/fhir+json", 404},
		{"XML body", "POST", "/Patient", `<Patient xmlns="http://hl7.org/fhir"/>`, "application/fhir+xml", 415},
		{"no content type", "POST", "/Patient", `{"resourceType":"Patient"}`, "", 415},
		{"text body", "POST", "/Patient", `{"resourceType":"Patient"}`, "text/plain", 415},
		{"latin1 charset", "POST", "/Patient", `{"resourceType":"Patient"}`, "application/fhir+json; charset=iso-8859-1", 415},
		{"too large", "POST", "/Patient", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">` + strings.Repeat("a", 9<<20) + `</div>"}}`, "application/fhir+json", 413},
		{"empty body", "POST", "/Patient", ``, "application/fhir+json", 400},
		{"absurd _count", "GET", "/Patient?_count=999999999999999999999", "", "", 400},
		{"negative _count", "GET", "/Patient?_count=-5", "", "", 400},
		{"XML format", "GET", "/Patient?_format=xml", "", "", 415},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, s.url+c.path, strings.NewReader(c.body))
			if c.ct != "" {
				req.Header.Set("Content-Type", c.ct)
			}
			resp, err := s.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			r := &response{status: resp.StatusCode, header: resp.Header}
			r.body = readAll(t, resp)
			s.t = t
			oo := s.expectOutcome(r, c.status)
			issue := oo["issue"].([]any)[0].(map[string]any)
			if d, _ := issue["diagnostics"].(string); strings.Contains(d, "goroutine") || strings.Contains(d, "SELECT") {
				t.Fatalf("internals leaked: %s", d)
			}
		})
	}
}

func TestValidationOutcomeHasLocations(t *testing.T) {
	s := newTestServer(t)
	r := s.do("POST", "/Patient", `{"resourceType":"Patient","birthDate":"yesterday","name":[{"family":"X","given":[1]}]}`)
	oo := s.expectOutcome(r, http.StatusBadRequest)
	var exprs []string
	for _, i := range oo["issue"].([]any) {
		for _, e := range i.(map[string]any)["expression"].([]any) {
			exprs = append(exprs, e.(string))
		}
	}
	joined := strings.Join(exprs, " ")
	if !strings.Contains(joined, "Patient.birthDate") || !strings.Contains(joined, "Patient.name[0].given[0]") {
		t.Fatalf("expressions %v", exprs)
	}
	if strings.Contains(string(r.body), "yesterday") {
		t.Fatalf("the outcome echoes the invalid value: %s", r.body)
	}
}

func TestMetadata(t *testing.T) {
	s := newTestServer(t)
	cs := s.expect(s.do("GET", "/metadata", nil), http.StatusOK)
	if cs["resourceType"] != "CapabilityStatement" || cs["fhirVersion"] != "4.0.1" {
		t.Fatalf("%v", cs["resourceType"])
	}
	rest := cs["rest"].([]any)[0].(map[string]any)
	var obs map[string]any
	for _, r := range rest["resource"].([]any) {
		if r.(map[string]any)["type"] == "Observation" {
			obs = r.(map[string]any)
		}
	}
	if obs == nil {
		t.Fatal("no Observation in the CapabilityStatement")
	}
	found := false
	for _, p := range obs["searchParam"].([]any) {
		if p.(map[string]any)["name"] == "code-value-quantity" {
			found = true
		}
	}
	if !found {
		t.Fatal("Observation code-value-quantity is not listed")
	}
	s.expectOutcome(s.do("POST", "/metadata", "{}"), http.StatusMethodNotAllowed)
}

func TestSecurityHeaders(t *testing.T) {
	s := newTestServer(t)
	r := s.do("GET", "/metadata", nil)
	for k, want := range map[string]string{
		"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Strict-Transport-Security": "max-age=31536000",
		"Content-Type": "application/fhir+json; charset=utf-8",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if r.header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
}

func TestHistoryTypeAndSystem(t *testing.T) {
	s := newTestServer(t)
	for i := range 5 {
		s.create(patient(fmt.Sprintf("H%d", i)))
	}
	s.create(map[string]any{"resourceType": "Organization", "name": "Acme"})
	h := s.expect(s.do("GET", "/Patient/_history?_count=2", nil), http.StatusOK)
	if h["total"] != float64(5) || len(entries(h)) != 2 {
		t.Fatalf("type history: total %v, %d entries", h["total"], len(entries(h)))
	}
	next := link(h, "next")
	if next == "" {
		t.Fatal("no next link")
	}
	// A version written after the first page does not shift the pages.
	s.create(patient("Late"))
	u, _ := url.Parse(next)
	h2 := s.expect(s.do("GET", u.RequestURI(), nil), http.StatusOK)
	if h2["total"] != float64(5) || len(entries(h2)) != 2 {
		t.Fatalf("second page: total %v, %d entries", h2["total"], len(entries(h2)))
	}
	sys := s.expect(s.do("GET", "/_history", nil), http.StatusOK)
	if sys["total"] != float64(7) {
		t.Fatalf("system history total %v", sys["total"])
	}
	s.expect(s.do("GET", "/_history?_since=2000-01-01T00:00:00Z", nil), http.StatusOK)
	future := s.expect(s.do("GET", "/_history?_since=2999-01-01T00:00:00Z", nil), http.StatusOK)
	if future["total"] != float64(0) {
		t.Fatalf("_since in the future: %v", future["total"])
	}
	s.expectOutcome(s.do("GET", "/_history?_since=notadate", nil), http.StatusBadRequest)
	s.expectOutcome(s.do("GET", "/_history?bogus=1", nil), http.StatusBadRequest)
	s.expectOutcome(s.do("GET", "/Patient/_history?_page=tampered", nil), http.StatusBadRequest)
}

func TestHistoryAt(t *testing.T) {
	s := newTestServer(t)
	p := patient("At")
	p["id"] = "at-1"
	s.expect(s.do("PUT", "/Patient/at-1", p), http.StatusCreated)
	h := s.expect(s.do("GET", "/Patient/at-1/_history?_at=2999", nil), http.StatusOK)
	if h["total"] != float64(1) {
		t.Fatalf("_at: %v", h["total"])
	}
	h = s.expect(s.do("GET", "/Patient/at-1/_history?_at=1999", nil), http.StatusOK)
	if h["total"] != float64(0) {
		t.Fatalf("_at before creation: %v", h["total"])
	}
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return []byte(b.String())
}
