package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/hestiahealth/hestia/internal/access"
)

// withPolicy writes a copy of the default policy, changed by edit, and
// points cfg at it.
func withPolicy(t testing.TB, cfg *Config, edit func(p map[string]any)) string {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(access.DefaultPolicy, &p); err != nil {
		t.Fatal(err)
	}
	edit(p)
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Policy = path
	return path
}

// role returns a role of a policy map, for edits.
func role(p map[string]any, name string) map[string]any {
	return p["roles"].(map[string]any)[name].(map[string]any)
}

// careTeam is a CareTeam relating a practitioner to a patient (the
// treatment relationship clinicians and nurses need).
func careTeam(patient, practitioner string) map[string]any {
	return map[string]any{"resourceType": "CareTeam", "status": "active",
		"subject":     map[string]any{"reference": "Patient/" + patient},
		"participant": []any{map[string]any{"member": map[string]any{"reference": "Practitioner/" + practitioner}}}}
}
