package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestSearchPagingIsStableAndOpaque(t *testing.T) {
	s := newTestServer(t)
	for i := range 7 {
		s.create(patient(fmt.Sprintf("Pager%02d", i)))
	}
	b := s.expect(s.do("GET", "/Patient?family=pager&_count=3&_sort=family", nil), http.StatusOK)
	if b["total"] != float64(7) || len(entries(b)) != 3 {
		t.Fatalf("page 1: total %v, %d entries", b["total"], len(entries(b)))
	}
	for _, rel := range []string{"self", "first", "next"} {
		l := link(b, rel)
		if l == "" {
			t.Fatalf("no %s link", rel)
		}
		if strings.Contains(l, "pager") || strings.Contains(l, "family") {
			t.Fatalf("%s link reveals the search: %s", rel, l)
		}
	}
	if link(b, "previous") != "" {
		t.Fatal("first page has a previous link")
	}
	// A matching resource created meanwhile does not shift the pages.
	s.create(patient("Pager00a"))
	var names []string
	for _, r := range entries(b) {
		names = append(names, r["name"].([]any)[0].(map[string]any)["family"].(string))
	}
	next := link(b, "next")
	for next != "" {
		u, _ := url.Parse(next)
		b = s.expect(s.do("GET", u.RequestURI(), nil), http.StatusOK)
		for _, r := range entries(b) {
			names = append(names, r["name"].([]any)[0].(map[string]any)["family"].(string))
		}
		if link(b, "previous") == "" {
			t.Fatal("a later page has no previous link")
		}
		next = link(b, "next")
	}
	want := "Pager00 Pager01 Pager02 Pager03 Pager04 Pager05 Pager06"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("pages gave %s, want %s", got, want)
	}
	// A tampered or foreign cursor is refused.
	u, _ := url.Parse(link(b, "self"))
	tok := u.Query().Get("_page")
	s.expectOutcome(s.do("GET", "/Patient?_page="+tok[:len(tok)-2]+"xx", nil), http.StatusBadRequest)
	s.expectOutcome(s.do("GET", "/Observation?_page="+tok, nil), http.StatusBadRequest)
}

func TestSearchByPOSTKeepsValuesOutOfTheURL(t *testing.T) {
	s := newTestServer(t)
	p := patient("Secret", "Name")
	p["birthDate"] = "1966-06-06"
	s.create(p)
	req, _ := http.NewRequest("POST", s.url+"/Patient/_search", strings.NewReader("family=secret&birthdate=1966-06-06"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := &response{status: resp.StatusCode, header: resp.Header, body: readAll(t, resp)}
	b := s.expect(r, http.StatusOK)
	if len(entries(b)) != 1 {
		t.Fatalf("POST _search found %d", len(entries(b)))
	}
	if l := link(b, "self"); strings.Contains(l, "secret") || strings.Contains(l, "1966") {
		t.Fatalf("self link reveals the search: %s", l)
	}
	// POST _search needs a form body.
	s.expectOutcome(s.do("POST", "/Patient/_search", `{"family":"x"}`), http.StatusUnsupportedMediaType)
}

func TestSearchHandling(t *testing.T) {
	s := newTestServer(t)
	s.create(patient("Lenient"))
	s.expectOutcome(s.do("GET", "/Patient?shoesize=9", nil), http.StatusBadRequest)
	b := s.expect(s.do("GET", "/Patient?shoesize=9&family=lenient", nil, "Prefer", "handling=lenient"), http.StatusOK)
	var outcome map[string]any
	for _, e := range b["entry"].([]any) {
		em := e.(map[string]any)
		if em["search"].(map[string]any)["mode"] == "outcome" {
			outcome = em["resource"].(map[string]any)
		}
	}
	if outcome == nil || len(entries(b)) != 2 {
		t.Fatalf("lenient search must report the ignored parameter: %v", b)
	}
}

func TestSearchSummaryAndElements(t *testing.T) {
	s := newTestServer(t)
	p := patient("Shape", "Amy")
	p["gender"] = "female"
	p["text"] = map[string]any{"status": "generated", "div": `<div xmlns="http://www.w3.org/1999/xhtml">Amy Shape</div>`}
	s.create(p)
	b := s.expect(s.do("GET", "/Patient?_summary=count", nil), http.StatusOK)
	if b["total"] != float64(1) || b["entry"] != nil {
		t.Fatalf("_summary=count: %v", b)
	}
	b = s.expect(s.do("GET", "/Patient?_elements=gender", nil), http.StatusOK)
	r := entries(b)[0]
	if r["gender"] != "female" || r["name"] != nil {
		t.Fatalf("_elements=gender: %v", r)
	}
	if !strings.Contains(fmt.Sprint(r["meta"]), "SUBSETTED") {
		t.Fatalf("subsetted resource not tagged: %v", r["meta"])
	}
	b = s.expect(s.do("GET", "/Patient?_summary=true", nil), http.StatusOK)
	if r := entries(b)[0]; r["text"] != nil || r["name"] == nil {
		t.Fatalf("_summary=true: %v", r)
	}
	s.expectOutcome(s.do("GET", "/Patient?_elements=shoesize", nil), http.StatusBadRequest)
	// _summary also shapes a read.
	id := entries(b)[0]["id"].(string)
	if r := s.expect(s.do("GET", "/Patient/"+id+"?_elements=gender", nil), http.StatusOK); r["name"] != nil {
		t.Fatalf("read with _elements: %v", r)
	}
}

func TestSearchIncludeRevinclude(t *testing.T) {
	s := newTestServer(t)
	org := s.create(map[string]any{"resourceType": "Organization", "name": "Inc"})
	p := patient("Incl")
	p["managingOrganization"] = map[string]any{"reference": "Organization/" + org["id"].(string)}
	pat := s.create(p)
	obs := map[string]any{"resourceType": "Observation", "status": "final", "code": map[string]any{"text": "x"},
		"subject": map[string]any{"reference": "Patient/" + pat["id"].(string)}}
	s.create(obs)
	b := s.expect(s.do("GET", "/Observation?_include=Observation:subject&_include:iterate=Patient:organization", nil), http.StatusOK)
	modes := map[string]string{}
	for _, e := range b["entry"].([]any) {
		em := e.(map[string]any)
		modes[em["resource"].(map[string]any)["resourceType"].(string)] = em["search"].(map[string]any)["mode"].(string)
	}
	if modes["Observation"] != "match" || modes["Patient"] != "include" || modes["Organization"] != "include" {
		t.Fatalf("modes %v", modes)
	}
	b = s.expect(s.do("GET", "/Patient?_revinclude=Observation:subject", nil), http.StatusOK)
	if len(entries(b)) != 2 || b["total"] != float64(1) {
		t.Fatalf("_revinclude: %d entries, total %v", len(entries(b)), b["total"])
	}
}
