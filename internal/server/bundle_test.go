package server

import (
	"net/http"
	"strings"
	"testing"
)

func txEntry(method, url, fullURL string, res map[string]any) map[string]any {
	e := map[string]any{"request": map[string]any{"method": method, "url": url}}
	if fullURL != "" {
		e["fullUrl"] = fullURL
	}
	if res != nil {
		e["resource"] = res
	}
	return e
}

func bundleOf(typ string, entries ...map[string]any) map[string]any {
	es := make([]any, len(entries))
	for i, e := range entries {
		es[i] = e
	}
	return map[string]any{"resourceType": "Bundle", "type": typ, "entry": es}
}

func responses(t *testing.T, b map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range b["entry"].([]any) {
		out = append(out, e.(map[string]any)["response"].(map[string]any))
	}
	return out
}

func TestTransactionResolvesReferences(t *testing.T) {
	s := newTestServer(t)
	obs := map[string]any{"resourceType": "Observation", "status": "final",
		"code":    map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "8867-4"}}},
		"subject": map[string]any{"reference": "urn:uuid:11111111-1111-1111-1111-111111111111"}}
	b := bundleOf("transaction",
		txEntry("POST", "Observation", "urn:uuid:22222222-2222-2222-2222-222222222222", obs),
		txEntry("POST", "Patient", "urn:uuid:11111111-1111-1111-1111-111111111111", patient("Tx")),
	)
	out := s.expect(s.do("POST", "/", b), http.StatusOK)
	if out["type"] != "transaction-response" {
		t.Fatalf("type %v", out["type"])
	}
	rs := responses(t, out)
	if len(rs) != 2 || !strings.HasPrefix(rs[0]["status"].(string), "201") || !strings.HasPrefix(rs[1]["location"].(string), "Patient/") {
		t.Fatalf("responses %v", rs)
	}
	patID := strings.Split(rs[1]["location"].(string), "/")[1]
	obsID := strings.Split(rs[0]["location"].(string), "/")[1]
	o := s.expect(s.do("GET", "/Observation/"+obsID, nil), http.StatusOK)
	if ref := o["subject"].(map[string]any)["reference"]; ref != "Patient/"+patID {
		t.Fatalf("reference not rewritten: %v", ref)
	}
	found := s.expect(s.do("GET", "/Observation?subject=Patient/"+patID, nil), http.StatusOK)
	if len(entries(found)) != 1 {
		t.Fatalf("search by rewritten reference found %d", len(entries(found)))
	}
}

func TestTransactionIsAllOrNothing(t *testing.T) {
	s := newTestServer(t)
	good := patient("Kept")
	good["id"] = "keep-me"
	s.expect(s.do("PUT", "/Patient/keep-me", good), http.StatusCreated)
	b := bundleOf("transaction",
		txEntry("POST", "Patient", "urn:uuid:aaaaaaaa-1111-1111-1111-111111111111", patient("New")),
		txEntry("DELETE", "Patient/keep-me", "", nil),
		txEntry("POST", "Patient", "", map[string]any{"resourceType": "Patient", "birthDate": "not-a-date"}),
	)
	oo := s.expectOutcome(s.do("POST", "/", b), http.StatusBadRequest)
	if !strings.Contains(string(mustJSON(oo)), "Bundle.entry[2]") {
		t.Fatalf("the outcome does not name the failing entry: %v", oo)
	}
	s.expect(s.do("GET", "/Patient/keep-me", nil), http.StatusOK)
	all := s.expect(s.do("GET", "/Patient?family=New", nil), http.StatusOK)
	if len(entries(all)) != 0 {
		t.Fatal("an entry of a failed transaction was kept")
	}
}

func TestTransactionConditionalEntries(t *testing.T) {
	s := newTestServer(t)
	org := map[string]any{"resourceType": "Organization", "name": "Acme",
		"identifier": []any{map[string]any{"system": "http://orgs", "value": "acme"}}}
	existing := s.create(org)
	p := patient("Cond")
	p["managingOrganization"] = map[string]any{"reference": "Organization?identifier=http://orgs|acme"}
	p2 := patient("Cond2")
	p2["managingOrganization"] = map[string]any{"reference": "urn:uuid:bbbbbbbb-0000-0000-0000-000000000000"}
	b := bundleOf("transaction",
		txEntry("POST", "Patient", "", p),
		txEntry("POST", "Patient", "", p2),
	)
	entry := txEntry("POST", "Organization", "urn:uuid:bbbbbbbb-0000-0000-0000-000000000000", org)
	entry["request"].(map[string]any)["ifNoneExist"] = "identifier=http://orgs|acme"
	b["entry"] = append(b["entry"].([]any), entry)
	out := s.expect(s.do("POST", "/", b), http.StatusOK)
	rs := responses(t, out)
	if !strings.HasPrefix(rs[2]["status"].(string), "200") {
		t.Fatalf("ifNoneExist matched but status %v", rs[2]["status"])
	}
	for i := 0; i < 2; i++ {
		id := strings.Split(rs[i]["location"].(string), "/")[1]
		got := s.expect(s.do("GET", "/Patient/"+id, nil), http.StatusOK)
		if ref := got["managingOrganization"].(map[string]any)["reference"]; ref != "Organization/"+existing["id"].(string) {
			t.Fatalf("entry %d: reference %v, want the existing organization", i, ref)
		}
	}
	// A conditional reference that matches nothing fails the transaction.
	bad := patient("Bad")
	bad["managingOrganization"] = map[string]any{"reference": "Organization?identifier=http://orgs|none"}
	s.expectOutcome(s.do("POST", "/", bundleOf("transaction", txEntry("POST", "Patient", "", bad))), http.StatusPreconditionFailed)
	// So does a urn:uuid reference to no entry.
	bad["managingOrganization"] = map[string]any{"reference": "urn:uuid:cccccccc-0000-0000-0000-000000000000"}
	s.expectOutcome(s.do("POST", "/", bundleOf("transaction", txEntry("POST", "Patient", "", bad))), http.StatusBadRequest)
}

func TestTransactionProcessingOrderAndReads(t *testing.T) {
	s := newTestServer(t)
	p := patient("Order")
	p["id"] = "ord-1"
	s.expect(s.do("PUT", "/Patient/ord-1", p), http.StatusCreated)
	// GET is processed after the PUT even though it comes first.
	p["gender"] = "female"
	out := s.expect(s.do("POST", "/", bundleOf("transaction",
		txEntry("GET", "Patient/ord-1", "", nil),
		txEntry("PUT", "Patient/ord-1", "", p),
	)), http.StatusOK)
	es := out["entry"].([]any)
	got := es[0].(map[string]any)["resource"].(map[string]any)
	if got["gender"] != "female" {
		t.Fatalf("GET entry ran before the PUT: %v", got)
	}
	// Two entries touching one resource are refused.
	s.expectOutcome(s.do("POST", "/", bundleOf("transaction",
		txEntry("PUT", "Patient/ord-1", "", p),
		txEntry("DELETE", "Patient/ord-1", "", nil),
	)), http.StatusBadRequest)
}

func TestBatchReportsEachEntry(t *testing.T) {
	s := newTestServer(t)
	ok := patient("BatchOK")
	ok["id"] = "b1"
	out := s.expect(s.do("POST", "/", bundleOf("batch",
		txEntry("PUT", "Patient/b1", "", ok),
		txEntry("POST", "Patient", "", map[string]any{"resourceType": "Patient", "gender": "robot"}),
		txEntry("GET", "Patient/b1", "", nil),
		txEntry("GET", "Patient/missing", "", nil),
		txEntry("GET", "Patient?family=BatchOK", "", nil),
	)), http.StatusOK)
	if out["type"] != "batch-response" {
		t.Fatalf("type %v", out["type"])
	}
	rs := responses(t, out)
	want := []string{"201", "400", "200", "404", "200"}
	for i, w := range want {
		if !strings.HasPrefix(rs[i]["status"].(string), w) {
			t.Errorf("entry %d: status %v, want %s", i, rs[i]["status"], w)
		}
	}
	if rs[1]["outcome"] == nil {
		t.Error("failed entry has no outcome")
	}
	inner := out["entry"].([]any)[4].(map[string]any)["resource"].(map[string]any)
	if inner["type"] != "searchset" || len(entries(inner)) != 1 {
		t.Fatalf("search entry: %v", inner)
	}
}

func TestBundleShapeErrors(t *testing.T) {
	s := newTestServer(t)
	cases := map[string]any{
		"not a bundle":        patient("X"),
		"collection":          bundleOf("collection"),
		"entry not an array":  map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": map[string]any{}},
		"no request":          bundleOf("transaction", map[string]any{"resource": patient("X")}),
		"bad method":          bundleOf("transaction", txEntry("FETCH", "Patient", "", nil)),
		"absolute url":        bundleOf("transaction", txEntry("GET", "http://other/Patient/1", "", nil)),
		"post without body":   bundleOf("transaction", txEntry("POST", "Patient", "", nil)),
		"type mismatch":       bundleOf("transaction", txEntry("POST", "Observation", "", patient("X"))),
		"duplicate fullUrl":   bundleOf("transaction", txEntry("POST", "Patient", "urn:uuid:dddddddd-0000-0000-0000-000000000000", patient("A")), txEntry("POST", "Patient", "urn:uuid:dddddddd-0000-0000-0000-000000000000", patient("B"))),
		"put without id":      bundleOf("transaction", txEntry("PUT", "Patient", "", patient("X"))),
		"unknown type in url": bundleOf("transaction", txEntry("GET", "Robot/1", "", nil)),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			s.t = t
			s.expectOutcome(s.do("POST", "/", b), http.StatusBadRequest)
		})
	}
}

func mustJSON(v any) []byte {
	b, _ := jsonMarshal(v)
	return b
}

func TestTransactionReadsAreInsideTheTransaction(t *testing.T) {
	s := newTestServer(t)
	// A failing GET fails the whole transaction, writes included.
	s.expectOutcome(s.do("POST", "/", bundleOf("transaction",
		txEntry("POST", "Patient", "", patient("Atomicity")),
		txEntry("GET", "Patient/does-not-exist", "", nil),
	)), http.StatusNotFound)
	if b := s.expect(s.do("GET", "/Patient?family=atomicity", nil), http.StatusOK); b["total"] != float64(0) {
		t.Fatalf("a failed transaction kept its write: %v", b["total"])
	}
	// A search entry sees the transaction's own writes.
	out := s.expect(s.do("POST", "/", bundleOf("transaction",
		txEntry("GET", "Patient?family=inside", "", nil),
		txEntry("POST", "Patient", "", patient("Inside")),
	)), http.StatusOK)
	inner := out["entry"].([]any)[0].(map[string]any)["resource"].(map[string]any)
	if inner["total"] != float64(1) {
		t.Fatalf("the search entry did not see the transaction's write: %v", inner["total"])
	}
	// vread and history belong in a batch.
	s.expectOutcome(s.do("POST", "/", bundleOf("transaction", txEntry("GET", "Patient/x/_history/1", "", nil))), http.StatusBadRequest)
}

func TestConditionalUpdateNeverOverwritesANonMatch(t *testing.T) {
	s := newTestServer(t)
	victim := patient("Victim")
	victim["id"] = "victim"
	victim["identifier"] = []any{map[string]any{"system": "urn:mrn", "value": "V-1"}}
	s.expect(s.do("PUT", "/Patient/victim", victim), http.StatusCreated)
	attack := patient("Attacker")
	attack["id"] = "victim"
	s.expectOutcome(s.do("POST", "/", bundleOf("transaction", txEntry("PUT", "Patient?identifier=urn:mrn|NOPE", "", attack))), http.StatusConflict)
	s.expectOutcome(s.do("PUT", "/Patient?identifier=urn:mrn|NOPE", attack), http.StatusConflict)
	got := s.expect(s.do("GET", "/Patient/victim", nil), http.StatusOK)
	if got["meta"].(map[string]any)["versionId"] != "1" {
		t.Fatalf("the victim was overwritten: %v", got)
	}
}

func TestConditionalCriteriaMustFilterCheaply(t *testing.T) {
	s := newTestServer(t)
	s.create(patient("Only"))
	s.expectOutcome(s.do("DELETE", "/Patient?_sort=_id", nil), http.StatusPreconditionFailed)
	s.expectOutcome(s.do("PUT", "/Patient?_total=none", patient("X")), http.StatusPreconditionFailed)
	s.expectOutcome(s.do("POST", "/Patient", patient("X"), "If-None-Exist", "_count=5"), http.StatusPreconditionFailed)
	s.expectOutcome(s.do("DELETE", "/Patient?family%ZZ=1", nil), http.StatusBadRequest)
	s.expectOutcome(s.do("DELETE", "/Patient?_has:Observation:subject:code=1", nil), http.StatusBadRequest)
	s.expectOutcome(s.do("DELETE", "/Patient?name:contains=nl", nil), http.StatusBadRequest)
	if b := s.expect(s.do("GET", "/Patient", nil), http.StatusOK); b["total"] != float64(1) {
		t.Fatalf("a refused conditional operation changed data: total %v", b["total"])
	}
	// Repeating the criteria of a conditional entry in one transaction is refused.
	p := patient("Twice")
	p["identifier"] = []any{map[string]any{"system": "s", "value": "v"}}
	e1 := txEntry("POST", "Patient", "", p)
	e1["request"].(map[string]any)["ifNoneExist"] = "identifier=s|v"
	e2 := txEntry("POST", "Patient", "", p)
	e2["request"].(map[string]any)["ifNoneExist"] = "identifier=s|v"
	s.expectOutcome(s.do("POST", "/", bundleOf("transaction", e1, e2)), http.StatusBadRequest)
}
