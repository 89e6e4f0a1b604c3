package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
)

// readTarget is the read interaction: GET Type/id of a random known resource.
// The response must be that resource.
func readTarget(d *dataset) (target, error) {
	refs := d.Refs
	if len(refs) == 0 {
		return target{}, errors.New("read: no resource ids known (ingest failed or discovery found nothing)")
	}
	return target{
		Name: "GET Type/id",
		Next: func(r *rand.Rand) string { return refs[r.IntN(len(refs))] },
		Check: func(rel string, body []byte) (int, int, error) {
			var h resourceHead
			if err := json.Unmarshal(body, &h); err != nil {
				return 0, -1, errors.New("read: response is not JSON")
			}
			if got := h.ResourceType + "/" + h.ID; got != rel {
				return 0, -1, fmt.Errorf("read: asked for a %s, got a %s", typeOf(rel), h.ResourceType)
			}
			return 1, -1, nil
		},
	}, nil
}

// typeOf returns the resource type that starts a path such as "Patient/1"
// or "Observation?code=…", so errors name no ids or search values.
func typeOf(rel string) string {
	if i := strings.IndexAny(rel, "/?"); i >= 0 {
		return rel[:i]
	}
	return rel
}
