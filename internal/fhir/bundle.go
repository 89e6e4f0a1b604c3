package fhir

import "strings"

// bundle checks the Bundle rules the element tables cannot express: the
// bdl-* invariants, fullUrl rules and search-set entries. Entries have
// already been validated. The current path names the Bundle.
func (v *validator) bundle(m map[string]any) {
	btype, _ := m["type"].(string)
	searchOrHistory := btype == "searchset" || btype == "history"
	if _, ok := m["total"]; ok && !searchOrHistory {
		v.errorAtChild("total", -1, "invariant", "bdl-1: total is only allowed in a searchset or history")
	}
	if links, ok := m["link"].([]any); ok {
		v.bundleLinks(links)
	}
	entries, _ := m["entry"].([]any)
	switch btype {
	case "document":
		id, _ := m["identifier"].(map[string]any)
		_, hasSystem := id["system"]
		_, hasValue := id["value"]
		if !hasSystem || !hasValue {
			v.errorAtChild("identifier", -1, "invariant", "bdl-9: a document must have an identifier with a system and a value")
		}
		if _, ok := m["timestamp"]; !ok {
			v.errorAtChild("timestamp", -1, "invariant", "bdl-10: a document must have a timestamp")
		}
		if firstResourceType(entries) != "Composition" {
			v.errorAtChild("entry", 0, "invariant", "bdl-11: the first resource of a document must be a Composition")
		} else {
			v.documentReferences(entries)
		}
	case "message":
		if firstResourceType(entries) != "MessageHeader" {
			v.errorAtChild("entry", 0, "invariant", "bdl-12: the first resource of a message must be a MessageHeader")
		}
	}

	needRequest := btype == "batch" || btype == "transaction" || btype == "history"
	needResponse := btype == "batch-response" || btype == "transaction-response" || btype == "history"
	// fullUrl + versionId -> entry index, for bdl-7. The identity of an
	// entry is its fullUrl: the same type and id from two servers are
	// different resources (as an official example shows).
	var seen map[[2]string]int
	v.push("entry", -1)
	for i, item := range entries {
		e, ok := item.(map[string]any)
		if !ok {
			continue
		}
		v.setIndex(i)
		res, hasRes := e["resource"].(map[string]any)
		_, hasRequest := e["request"]
		_, hasResponse := e["response"]
		if !hasRes && !hasRequest && !hasResponse {
			v.errorf("invariant", "bdl-5: an entry must have a resource, a request or a response")
		}
		if _, ok := e["search"]; ok && btype != "searchset" {
			v.errorAtChild("search", -1, "invariant", "bdl-2: entry.search is only allowed in a searchset")
		}
		if hasRequest != needRequest {
			v.errorAtChild("request", -1, "invariant", "bdl-3: entry.request is required in a batch, transaction or history, and not allowed otherwise")
		}
		if hasResponse != needResponse {
			v.errorAtChild("response", -1, "invariant", "bdl-4: entry.response is required in a batch-response, transaction-response or history, and not allowed otherwise")
		}
		if btype == "searchset" && hasRes {
			v.searchEntry(e, res)
		}
		fullURL, ok := e["fullUrl"].(string)
		if !ok {
			continue
		}
		v.push("fullUrl", -1)
		v.fullURL(fullURL, res)
		v.pop()
		if btype != "history" {
			version := ""
			if meta, ok := res["meta"].(map[string]any); ok {
				version, _ = meta["versionId"].(string)
			}
			key := [2]string{fullURL, version}
			if seen == nil {
				seen = make(map[[2]string]int, len(entries))
			}
			if _, dup := seen[key]; dup {
				v.errorAtChild("fullUrl", -1, "invariant", "bdl-7: fullUrl must be unique in a bundle (or differ by meta.versionId)")
			} else {
				seen[key] = i
			}
		}
	}
	v.pop()
}

func firstResourceType(entries []any) string {
	if len(entries) == 0 {
		return ""
	}
	e, _ := entries[0].(map[string]any)
	res, _ := e["resource"].(map[string]any)
	rt, _ := res["resourceType"].(string)
	return rt
}

// bundleLinks reports a paging relation (self, first, previous, next, last)
// that occurs more than once.
func (v *validator) bundleLinks(links []any) {
	var seen [5]bool
	for i, l := range links {
		lm, _ := l.(map[string]any)
		rel, _ := lm["relation"].(string)
		k := -1
		switch rel {
		case "self":
			k = 0
		case "first":
			k = 1
		case "previous", "prev":
			k = 2
		case "next":
			k = 3
		case "last":
			k = 4
		}
		if k < 0 {
			continue
		}
		if seen[k] {
			v.errorAtChild("link", i, "invariant", "a bundle must not have the link relation "+rel+" more than once")
		}
		seen[k] = true
	}
}

// searchEntry checks a searchset entry: a match must have an id, an
// outcome must be an OperationOutcome.
func (v *validator) searchEntry(e, res map[string]any) {
	search, _ := e["search"].(map[string]any)
	mode, _ := search["mode"].(string)
	rt, _ := res["resourceType"].(string)
	switch mode {
	case "match", "include":
		if _, ok := res["id"]; !ok {
			v.errorAtChild("resource", -1, "invariant", "search results must have ids")
		}
	case "outcome":
		if rt != "OperationOutcome" {
			v.errorAtChild("resource", -1, "invariant", "an entry with search mode outcome must be an OperationOutcome")
		}
	}
}

// fullURL checks Bundle.entry.fullUrl: an absolute URI (urn:uuid:, urn:oid:
// or a URL), not version specific (bdl-8), and when it is a RESTful URL
// ending in Type/id, consistent with the resource.
func (v *validator) fullURL(u string, res map[string]any) {
	switch {
	case hasXMLSpace(u):
		v.errorf("value", "fullUrl must not contain white space")
	case strings.HasPrefix(u, "urn:uuid:"):
		if !validUUID(u) {
			v.errorf("value", "fullUrl is not a valid urn:uuid:")
		}
	case strings.HasPrefix(u, "urn:oid:"):
		if !validOID(u) {
			v.errorf("value", "fullUrl is not a valid urn:oid:")
		}
	case !hasScheme(u):
		v.errorf("value", "fullUrl must be an absolute URL")
	case strings.Contains(u, "/_history/"):
		v.errorf("invariant", "bdl-8: fullUrl must not be version specific")
	default:
		rt, id, ok := restTail(u)
		if !ok || res == nil {
			return
		}
		resType, _ := res["resourceType"].(string)
		resID, hasID := res["id"].(string)
		switch {
		case rt != resType:
			v.errorf("value", "fullUrl looks like a RESTful URL but does not end with the resource's type")
		case hasID && id != resID:
			// A warning: official examples disagree on the id.
			v.report("warning", "value", "fullUrl looks like a RESTful URL but does not end with the resource's id")
		}
	}
}

// documentReferences checks that the Composition of a document refers to
// its subject, authors and section entries inside the bundle, each to
// exactly one entry (a document is self-contained).
func (v *validator) documentReferences(entries []any) {
	e0, _ := entries[0].(map[string]any)
	comp, _ := e0["resource"].(map[string]any)
	from, _ := e0["fullUrl"].(string)
	v.push("entry", 0)
	v.push("resource", -1)
	v.push("ofType(Composition)", -1)
	check := func(name string, index int, ref any) {
		rm, _ := ref.(map[string]any)
		r, ok := rm["reference"].(string)
		if !ok || r == "" || r[0] == '#' {
			return
		}
		v.push(name, index)
		switch resolveInBundle(entries, from, r) {
		case 0:
			v.errorf("not-found", "the reference does not resolve to an entry of the document")
		case 1:
		default:
			v.errorf("invariant", "the reference matches more than one entry of the document")
		}
		v.pop()
	}
	check("subject", -1, comp["subject"])
	if authors, ok := comp["author"].([]any); ok {
		for i, a := range authors {
			check("author", i, a)
		}
	}
	var sections func(list []any)
	sections = func(list []any) {
		v.push("section", -1)
		for i, s := range list {
			sm, _ := s.(map[string]any)
			v.setIndex(i)
			if refs, ok := sm["entry"].([]any); ok {
				for j, r := range refs {
					check("entry", j, r)
				}
			}
			if sub, ok := sm["section"].([]any); ok {
				sections(sub)
			}
		}
		v.pop()
	}
	if list, ok := comp["section"].([]any); ok {
		sections(list)
	}
	v.pop()
	v.pop()
	v.pop()
}

// resolveInBundle counts the entries a reference made in the entry with
// fullUrl from resolves to. A relative reference is resolved against the
// base of a RESTful fullUrl, or else by resource type and id; a versioned
// reference must match meta.versionId.
func resolveInBundle(entries []any, from, ref string) int {
	target, version, _ := strings.Cut(ref, "/_history/")
	relative := !hasScheme(target)
	if relative {
		if rt, id, ok := restTail(from); ok {
			base := strings.TrimSuffix(from, rt+"/"+id)
			target = base + target
			relative = false
		}
	}
	n := 0
	for _, item := range entries {
		e, _ := item.(map[string]any)
		res, _ := e["resource"].(map[string]any)
		if relative {
			rt, _ := res["resourceType"].(string)
			id, _ := res["id"].(string)
			if rt+"/"+id != target {
				continue
			}
		} else if fu, _ := e["fullUrl"].(string); fu != target {
			continue
		}
		if version != "" {
			meta, _ := res["meta"].(map[string]any)
			if vid, _ := meta["versionId"].(string); vid != version {
				continue
			}
		}
		n++
	}
	return n
}
