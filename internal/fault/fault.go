// Package fault holds the error categories of Hestia. Every error that
// reaches a client is (or wraps) an *Error whose Kind decides the HTTP
// status and the OperationOutcome issue code, in one table in internal/rest.
//
// Invariants: Msg and Issues are safe to show to a client (no SQL, no stack
// traces, no PHI); Cause is for the log only, by request id.
package fault

import (
	"errors"
	"fmt"

	"github.com/hestiahealth/hestia/internal/fhir"
)

// Kind is an error category.
type Kind uint8

const (
	Internal Kind = iota
	Invalid
	NotFound
	Gone
	Conflict
	PreconditionFailed
	Forbidden
	Unauthorized
	TooLarge
	UnsupportedMediaType
	NotAcceptable
	MethodNotAllowed
	Unprocessable
	Busy
	Unavailable
	NotImplemented
)

var kindNames = [...]string{"internal", "invalid", "not found", "gone", "conflict", "precondition failed",
	"forbidden", "unauthorized", "too large", "unsupported media type", "not acceptable", "method not allowed",
	"unprocessable", "busy", "unavailable", "not implemented"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error is a categorised error.
type Error struct {
	Kind   Kind
	Msg    string       // for the client
	Issues []fhir.Issue // for the client, when there are several
	Cause  error        // for the log
}

func (e *Error) Error() string {
	msg := e.Msg
	if msg == "" && len(e.Issues) > 0 {
		msg = e.Issues[0].Diagnostics
	}
	if e.Cause != nil {
		return e.Kind.String() + ": " + msg + ": " + e.Cause.Error()
	}
	return e.Kind.String() + ": " + msg
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns an error of kind k with a client-safe message.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Wrap categorises cause with a client-safe message; cause is only logged.
func Wrap(k Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...), Cause: cause}
}

// WithIssues returns an error of kind k carrying OperationOutcome issues.
func WithIssues(k Kind, issues []fhir.Issue) *Error {
	return &Error{Kind: k, Issues: issues}
}

// KindOf returns the category of err (Internal when it has none).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
