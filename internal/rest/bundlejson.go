package rest

import (
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/hestiahealth/hestia/internal/engine"
	"github.com/hestiahealth/hestia/internal/fhir"
)

// bundleWriter assembles a Bundle as JSON bytes, splicing stored resource
// bodies in without parsing them again.
type bundleWriter struct {
	buf     []byte
	entries int
	err     error
}

func newBundle(typ string, now time.Time) *bundleWriter {
	b := &bundleWriter{buf: make([]byte, 0, 4096)}
	b.buf = append(b.buf, `{"resourceType":"Bundle","id":"`...)
	b.buf = append(b.buf, uuid.NewString()...)
	b.buf = append(b.buf, `","meta":{"lastUpdated":"`...)
	b.buf = append(b.buf, engine.FormatInstant(now)...)
	b.buf = append(b.buf, `"},"type":"`...)
	b.buf = append(b.buf, typ...)
	b.buf = append(b.buf, '"')
	return b
}

func (b *bundleWriter) total(n int) {
	b.buf = append(b.buf, `,"total":`...)
	b.buf = strconv.AppendInt(b.buf, int64(n), 10)
}

type link struct{ rel, url string }

func (b *bundleWriter) links(ls []link) {
	if len(ls) == 0 {
		return
	}
	b.buf = append(b.buf, `,"link":[`...)
	for i, l := range ls {
		if i > 0 {
			b.buf = append(b.buf, ',')
		}
		b.value(map[string]any{"relation": l.rel, "url": l.url})
	}
	b.buf = append(b.buf, ']')
}

func (b *bundleWriter) value(v any) {
	if b.err != nil {
		return
	}
	b.buf, b.err = fhir.AppendJSON(b.buf, v)
}

// entry appends one entry: fields is the entry without its resource, body
// the resource JSON (may be nil).
func (b *bundleWriter) entry(fullURL string, body []byte, fields map[string]any) {
	if b.entries == 0 {
		b.buf = append(b.buf, `,"entry":[`...)
	} else {
		b.buf = append(b.buf, ',')
	}
	b.entries++
	b.buf = append(b.buf, '{')
	first := true
	if fullURL != "" {
		b.buf = append(b.buf, `"fullUrl":`...)
		b.value(fullURL)
		first = false
	}
	if body != nil {
		if !first {
			b.buf = append(b.buf, ',')
		}
		b.buf = append(b.buf, `"resource":`...)
		b.buf = append(b.buf, body...)
		first = false
	}
	for _, k := range []string{"search", "request", "response"} {
		if v, ok := fields[k]; ok {
			if !first {
				b.buf = append(b.buf, ',')
			}
			b.buf = append(b.buf, '"')
			b.buf = append(b.buf, k...)
			b.buf = append(b.buf, `":`...)
			b.value(v)
			first = false
		}
	}
	b.buf = append(b.buf, '}')
}

func (b *bundleWriter) bytes() ([]byte, error) {
	if b.entries > 0 {
		b.buf = append(b.buf, ']')
	}
	b.buf = append(b.buf, '}')
	return b.buf, b.err
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
