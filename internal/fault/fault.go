// Package fault is billwire's one error type: a refusal or failure with a
// Kind (what sort of problem, which the HTTP runtime maps to a status), a
// stable Code (what the session API answers and callers branch on) and a
// Message (what to do about it). Every layer may return one; it imports
// nothing of billwire's, like internal/vocab.
package fault

import (
	"errors"
	"fmt"
)

// Kind is the sort of problem an Error reports.
type Kind uint8

// The kinds of Error. The zero Kind is Internal.
const (
	// Internal is a fault of billwire itself: nothing the caller can fix.
	Internal Kind = iota
	// Invalid is a mistake in the caller's request or arguments.
	Invalid
	// NotFound is a thing the request names that does not exist.
	NotFound
	// Conflict is a request at odds with the current state.
	Conflict
	// Unauthorized is a caller without valid credentials.
	Unauthorized
	// Forbidden is an authenticated caller acting beyond its rights.
	Forbidden
	// Unavailable is a dependency of billwire's own (the database, its
	// configuration) that cannot serve the request now.
	Unavailable
	// Upstream is Stripe refusing, failing or not answering.
	Upstream
)

var kindNames = [...]string{"internal", "invalid", "not_found", "conflict", "unauthorized", "forbidden", "unavailable", "upstream"}

// String names the kind.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Error is a refusal or failure with a stable code.
type Error struct {
	Kind Kind
	// Code is stable: the session API answers it, tests and callers branch on it.
	Code string
	// Message says what went wrong and how to fix it. For an upstream or
	// internal failure it is generic: the session API answers it to apps,
	// which may relay it to end users.
	Message string
	// Cause, when set, is the underlying failure: its text is the Error's
	// text (for the operator's log, the agent and the checkout row, which
	// redact it), never an answer of the session API.
	Cause error
}

// Error is the cause's text when there is a cause, else the message.
func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Cause.Error()
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Is matches an Error of the same kind and code: a sentinel Error stands
// for every Error with its code, whatever their messages.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code != "" && t.Kind == e.Kind && t.Code == e.Code
}

// New returns an Error of kind with code and a formatted message.
func New(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error of kind with code whose message is message and
// whose text is cause's.
func Wrap(kind Kind, code, message string, cause error) *Error {
	return &Error{Kind: kind, Code: code, Message: message, Cause: cause}
}

// Invalidf is the caller's mistake (code invalid_request); the message
// says how to fix it.
func Invalidf(format string, args ...any) *Error {
	return New(Invalid, "invalid_request", format, args...)
}

// As returns the Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// KindOf returns the kind of the Error in err's chain, or Internal.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	return Internal
}

// Is reports whether err's chain holds an Error of kind.
func Is(err error, kind Kind) bool {
	e, ok := As(err)
	return ok && e.Kind == kind
}
