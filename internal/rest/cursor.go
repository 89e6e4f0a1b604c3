package rest

import (
	"encoding/json"
	"net/url"

	"github.com/hestiahealth/hestia/internal/fault"
)

// cursor is the state of a paging link. It is sealed (encrypted and
// authenticated), so a link neither reveals nor lets anyone change the
// search values, and it expires.
type cursor struct {
	Kind     string `json:"k"` // "search" or "history"
	Type     string `json:"t,omitempty"`
	ID       string `json:"i,omitempty"`
	Query    string `json:"q"`
	Offset   int    `json:"o"`
	Snapshot int64  `json:"s"`
	Lenient  bool   `json:"l,omitempty"`
	Expires  int64  `json:"x"`
}

var cursorContext = []byte("hestia/paging-cursor/v1")

func (a *API) sealCursor(c cursor) (string, error) {
	c.Expires = a.now().Add(a.ttl).Unix()
	b, err := json.Marshal(c)
	if err != nil {
		return "", fault.Wrap(fault.Internal, err, "paging link")
	}
	tok, err := a.cursors.Seal(b, cursorContext)
	if err != nil {
		return "", fault.Wrap(fault.Internal, err, "paging link")
	}
	return tok, nil
}

// openCursor opens a _page token for the given kind and path.
func (a *API) openCursor(tok, kind, typ, id string) (*cursor, url.Values, error) {
	bad := fault.New(fault.Invalid, "the paging link is invalid or has expired; repeat the search")
	b, err := a.cursors.Open(tok, cursorContext)
	if err != nil {
		return nil, nil, bad
	}
	var c cursor
	if json.Unmarshal(b, &c) != nil || c.Kind != kind || c.Type != typ || c.ID != id || a.now().Unix() > c.Expires {
		return nil, nil, bad
	}
	q, err := url.ParseQuery(c.Query)
	if err != nil {
		return nil, nil, bad
	}
	return &c, q, nil
}

// pageLink returns the URL of a page: path ?_page=token.
func (a *API) pageLink(base, path string, c cursor) (string, error) {
	tok, err := a.sealCursor(c)
	if err != nil {
		return "", err
	}
	return base + path + "?_page=" + tok, nil
}
