package server

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hestiahealth/hestia/internal/fhir"
	"github.com/hestiahealth/hestia/internal/shareddata"
)

// invalidExamples are official examples that break the R4 definitions;
// the server must refuse them (internal/fhir's tests list the errors).
var invalidExamples = map[string]string{
	"Questionnaire-qs1.json": "32 nested items without the mandatory linkId",
}

// TestOfficialExamplesRoundTrip stores every official R4 example through
// the REST API (PUT with its own id) and reads it back: it must be accepted
// and come back unchanged apart from meta.versionId and meta.lastUpdated.
// AuditEvent examples are refused (405): the server writes AuditEvents.
func TestOfficialExamplesRoundTrip(t *testing.T) {
	files, err := filepath.Glob(shareddata.Path(t, "fhir-examples", "r4-examples", "*.json"))
	if err != nil || len(files) < 700 {
		t.Fatalf("examples: %d files, %v", len(files), err)
	}
	// The examples include privacy Consents that deny everything of their
	// patients: the service loading them is exempt here, so that it can
	// read back what it wrote (consent enforcement has its own tests).
	cfg := testConfig(t)
	cfg.MaxBody = 8 << 20
	withPolicy(t, &cfg, func(p map[string]any) { role(p, "service")["consentExempt"] = true })
	s := openAt(t, cfg)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		orig, err := fhir.ParseResource(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		typ := orig["resourceType"].(string)
		id, _ := orig["id"].(string)
		var path string
		var r *response
		if id == "" {
			r = s.do("POST", "/"+typ, data)
		} else {
			path = "/" + typ + "/" + id
			r = s.do("PUT", path, data)
		}
		if typ == "AuditEvent" {
			// AuditEvents are the server's own, in its tamper-evident log:
			// clients may search and read them, never write them.
			if r.status != http.StatusMethodNotAllowed {
				t.Errorf("%s: status %d, want 405 (AuditEvents are written by the server alone)", filepath.Base(f), r.status)
			}
			continue
		}
		if why, bad := invalidExamples[filepath.Base(f)]; bad {
			if r.status != http.StatusBadRequest {
				t.Errorf("%s (%s): status %d, want 400", filepath.Base(f), why, r.status)
			}
			continue
		}
		if r.status != http.StatusCreated && r.status != http.StatusOK {
			t.Errorf("%s: status %d: %s", filepath.Base(f), r.status, r.body[:min(len(r.body), 400)])
			continue
		}
		if path == "" {
			got, _ := fhir.ParseResource(r.body)
			path = "/" + typ + "/" + got["id"].(string)
			orig["id"] = got["id"]
		}
		back := s.do("GET", path, nil)
		if back.status != http.StatusOK {
			t.Errorf("%s: read %d", filepath.Base(f), back.status)
			continue
		}
		got, err := fhir.ParseResource(back.body)
		if err != nil {
			t.Fatalf("%s: read back: %v", f, err)
		}
		if !reflect.DeepEqual(withoutServerMeta(orig), withoutServerMeta(got)) {
			t.Errorf("%s: changed by the round trip", filepath.Base(f))
		}
	}
}

// withoutServerMeta drops what the server sets: meta.versionId and
// meta.lastUpdated (and meta itself when nothing else is left).
func withoutServerMeta(res map[string]any) map[string]any {
	out := make(map[string]any, len(res))
	for k, v := range res {
		out[k] = v
	}
	if m, ok := res["meta"].(map[string]any); ok {
		mm := make(map[string]any, len(m))
		for k, v := range m {
			if k != "versionId" && k != "lastUpdated" {
				mm[k] = v
			}
		}
		if len(mm) == 0 {
			delete(out, "meta")
		} else {
			out["meta"] = mm
		}
	}
	return out
}
