// Package rest is the FHIR R4 REST API over HTTP: one file per
// interaction, every route listed in routes.go. Handlers parse the HTTP
// request, call the engine, and return an error that one function (fail)
// renders as an OperationOutcome with the status from one table.
//
// Invariants:
//   - Every response has an explicit Content-Type with charset, and
//     resource responses are never cached (Cache-Control: no-store).
//   - Error responses never carry internals: no stack traces, SQL, causes
//     or resource content; the cause is logged by request id.
//   - Search values never appear in paging links: links carry sealed,
//     expiring cursors.
package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hestiahealth/hestia/internal/crypt"
	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/fault"
	"github.com/hestiahealth/hestia/internal/fhir"
)

// Config configures the handlers.
type Config struct {
	Engine *engine.Engine
	// BaseURL is the external base of the FHIR API (https://host:port). When
	// empty it is derived from each request.
	BaseURL string
	// MaxBody is the largest request body accepted (default 64 MiB).
	MaxBody int64
	// CursorTTL is how long paging links stay valid (default 1 hour).
	CursorTTL time.Duration
	Logger    *slog.Logger
	Version   string // the software version in the CapabilityStatement
	Now       func() time.Time
	// Cursors seals paging links; nil uses a key that lives only as long
	// as the process.
	Cursors *crypt.Sealer
}

// API serves the FHIR REST interactions.
type API struct {
	eng     *engine.Engine
	base    string
	maxBody int64
	ttl     time.Duration
	log     *slog.Logger
	version string
	now     func() time.Time
	cursors *crypt.Sealer
	caps    []byte
}

// New returns the API.
func New(cfg Config) (*API, error) {
	if cfg.Engine == nil {
		return nil, errors.New("rest: no engine")
	}
	s := cfg.Cursors
	if s == nil {
		var err error
		if s, err = crypt.NewSealer(); err != nil {
			return nil, err
		}
	}
	a := &API{eng: cfg.Engine, base: strings.TrimSuffix(cfg.BaseURL, "/"), maxBody: cfg.MaxBody, ttl: cfg.CursorTTL,
		log: cfg.Logger, version: cfg.Version, now: cfg.Now, cursors: s}
	if a.maxBody <= 0 {
		a.maxBody = 64 << 20
	}
	if a.ttl <= 0 {
		a.ttl = time.Hour
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	var err error
	if a.caps, err = a.capabilityStatement(); err != nil {
		return nil, err
	}
	return a, nil
}

// handlerFunc is a handler that returns its error for fail to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (a *API) wrap(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.negotiate(r); err != nil {
			a.fail(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			a.fail(w, r, err)
		}
	})
}

// negotiate checks that the client accepts JSON.
func (a *API) negotiate(r *http.Request) error {
	if f := r.URL.Query().Get("_format"); f != "" {
		switch strings.ToLower(f) {
		case "json", "application/json", "application/fhir+json":
		case "xml", "text/xml", "application/xml", "application/fhir+xml":
			return fault.New(fault.UnsupportedMediaType, "XML is not supported; use JSON")
		default:
			return fault.New(fault.UnsupportedMediaType, "unsupported _format; use json")
		}
		return nil
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		return nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/fhir+json", "application/json", "application/json+fhir", "*/*", "application/*", "text/html", "text/plain", "text/*":
			return nil
		}
	}
	if strings.Contains(accept, "xml") {
		return fault.New(fault.UnsupportedMediaType, "XML is not supported; use JSON")
	}
	return fault.New(fault.NotAcceptable, "this server answers in application/fhir+json only")
}

// readResource reads and parses a request body holding a resource.
func (a *API) readResource(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	if err := checkContentType(r); err != nil {
		return nil, err
	}
	body, err := a.readBody(w, r)
	if err != nil {
		return nil, err
	}
	res, err := fhir.ParseResource(body)
	if err != nil {
		var se *fhir.SyntaxError
		if errors.As(err, &se) {
			return nil, fault.WithIssues(fault.Invalid, []fhir.Issue{{Severity: "error", Code: "structure", Diagnostics: se.Error()}})
		}
		return nil, fault.New(fault.Invalid, "the body must be a FHIR resource: a JSON object with a resourceType")
	}
	return res, nil
}

func checkContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return fault.New(fault.UnsupportedMediaType, "Content-Type is required: application/fhir+json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fault.New(fault.UnsupportedMediaType, "invalid Content-Type")
	}
	switch mt {
	case "application/fhir+json", "application/json", "application/json+fhir":
	case "application/fhir+xml", "application/xml", "text/xml":
		return fault.New(fault.UnsupportedMediaType, "XML is not supported; use application/fhir+json")
	default:
		return fault.New(fault.UnsupportedMediaType, "unsupported Content-Type; use application/fhir+json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fault.New(fault.UnsupportedMediaType, "only the UTF-8 charset is supported")
	}
	return nil
}

func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > a.maxBody {
		return nil, fault.New(fault.TooLarge, "the request body is larger than %d bytes", a.maxBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fault.New(fault.TooLarge, "the request body is larger than %d bytes", a.maxBody)
		}
		return nil, fault.Wrap(fault.Invalid, err, "the request body could not be read")
	}
	return body, nil
}

// baseURL is the FHIR base of the server as the client sees it.
func (a *API) baseURL(r *http.Request) string {
	if a.base != "" {
		return a.base
	}
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

// prefer reads the Prefer header: return=minimal|representation|OperationOutcome
// and handling=strict|lenient.
type prefer struct {
	ret     string
	lenient bool
}

func preferOf(r *http.Request) prefer {
	var p prefer
	for _, h := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(h, ";") {
			for _, kv := range strings.Split(part, ",") {
				k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
				v = strings.Trim(v, `"`)
				switch strings.ToLower(k) {
				case "return":
					p.ret = v
				case "handling":
					p.lenient = strings.EqualFold(v, "lenient")
				}
			}
		}
	}
	return p
}

const contentType = "application/fhir+json; charset=utf-8"

// maxPretty is the largest body _pretty indents (indenting copies it).
const maxPretty = 4 << 20

// write sends a JSON body with FHIR headers.
func (a *API) write(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	if p := r.URL.Query().Get("_pretty"); p == "true" && len(body) < maxPretty {
		var buf bytes.Buffer
		if json.Indent(&buf, body, "", "  ") == nil {
			body = buf.Bytes()
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

func (a *API) writeValue(w http.ResponseWriter, r *http.Request, status int, v any) error {
	body, err := fhir.Marshal(v)
	if err != nil {
		return fault.Wrap(fault.Internal, err, "response encoding failed")
	}
	a.write(w, r, status, body)
	return nil
}

// setVersionHeaders sets ETag and Last-Modified for a resource version.
func setVersionHeaders(w http.ResponseWriter, res *engine.Resource) {
	w.Header().Set("ETag", engine.ETag(res.Version))
	w.Header().Set("Last-Modified", res.Updated.UTC().Format(http.TimeFormat))
}

// statusOf is the one table from error category to HTTP status and
// OperationOutcome issue code.
var statusOf = map[fault.Kind]struct {
	status int
	code   string
}{
	fault.Internal:             {http.StatusInternalServerError, "exception"},
	fault.Invalid:              {http.StatusBadRequest, "invalid"},
	fault.NotFound:             {http.StatusNotFound, "not-found"},
	fault.Gone:                 {http.StatusGone, "deleted"},
	fault.Conflict:             {http.StatusConflict, "conflict"},
	fault.PreconditionFailed:   {http.StatusPreconditionFailed, "conflict"},
	fault.Forbidden:            {http.StatusForbidden, "forbidden"},
	fault.Unauthorized:         {http.StatusUnauthorized, "login"},
	fault.TooLarge:             {http.StatusRequestEntityTooLarge, "too-long"},
	fault.UnsupportedMediaType: {http.StatusUnsupportedMediaType, "not-supported"},
	fault.NotAcceptable:        {http.StatusNotAcceptable, "not-supported"},
	fault.MethodNotAllowed:     {http.StatusMethodNotAllowed, "not-supported"},
	fault.Unprocessable:        {http.StatusUnprocessableEntity, "processing"},
	fault.Busy:                 {http.StatusTooManyRequests, "throttled"},
	fault.Unavailable:          {http.StatusServiceUnavailable, "transient"},
	fault.NotImplemented:       {http.StatusNotImplemented, "not-supported"},
}

// outcomeOf turns an error into a status and an OperationOutcome.
func outcomeOf(err error, requestID string) (int, map[string]any) {
	kind := fault.KindOf(err)
	st, ok := statusOf[kind]
	if !ok {
		st = statusOf[fault.Internal]
	}
	var issues []fhir.Issue
	if f, ok := fault.As(err); ok && kind != fault.Internal {
		issues = f.Issues
		if len(issues) == 0 {
			issues = []fhir.Issue{{Severity: "error", Code: st.code, Diagnostics: f.Msg}}
		}
	} else {
		issues = []fhir.Issue{{Severity: "fatal", Code: st.code, Diagnostics: "internal error; quote request id " + requestID}}
	}
	return st.status, fhir.OperationOutcome(issues...)
}

// fail renders err. Causes are logged, never sent.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	id := engine.RequestID(r.Context())
	status, oo := outcomeOf(err, id)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	a.log.LogAttrs(r.Context(), level, "request failed", slog.String("request", id), slog.Int("status", status),
		slog.String("kind", fault.KindOf(err).String()), slog.String("error", err.Error()))
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	body, merr := fhir.Marshal(oo)
	if merr != nil {
		body = []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception"}]}`)
	}
	a.write(w, r, status, body)
}

// NotFound renders 404 for paths that name no interaction.
func (a *API) NotFound(w http.ResponseWriter, r *http.Request) {
	a.fail(w, r, fault.New(fault.NotFound, "no FHIR interaction at this path"))
}

// requestQuery returns the search parameters of a request: the URL query,
// plus the form body for POST _search.
func (a *API) requestQuery(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, fault.New(fault.Invalid, "the query string is not valid")
	}
	if r.Method == http.MethodPost {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct != "application/x-www-form-urlencoded" {
			return nil, fault.New(fault.UnsupportedMediaType, "POST _search takes an application/x-www-form-urlencoded body")
		}
		body, err := a.readBody(w, r)
		if err != nil {
			return nil, err
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, fault.New(fault.Invalid, "the form body is not valid")
		}
		for k, vs := range form {
			q[k] = append(q[k], vs...)
		}
	}
	return q, nil
}

// pathVersion parses a version from a path segment.
func pathVersion(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 1 {
		return 0, fault.New(fault.NotFound, "no such version")
	}
	return v, nil
}

// ifMatch reads an If-Match header (0 when absent).
func ifMatch(r *http.Request) (int64, error) {
	h := r.Header.Get("If-Match")
	if h == "" {
		return 0, nil
	}
	v, ok := engine.ParseETag(h)
	if !ok {
		return 0, fault.New(fault.Invalid, `If-Match must be an ETag such as W/"3"`)
	}
	return v, nil
}
