package tools

import (
	"encoding/json"
	"errors"

	"github.com/billwire/billwire/internal/vocab"
)

// Env is a tool's env argument: test or live, validated when the arguments
// are decoded, so a handler never parses it. Its schema (the enum) is
// written once, in its JSONSchema method (schema_reflect_test.go: schemas
// are reflected when generated, not in the binary); each field's
// jsonschema_description says what the environment is for in that tool.
type Env vocab.Env

// UnmarshalJSON accepts what vocab.ParseEnv accepts; anything else is an
// argument error whose text the tool answers as it is.
func (e *Env) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return argError{errors.New("env must be the string \"test\" or \"live\"")}
	}
	v, err := vocab.ParseEnv(s)
	if err != nil {
		return argError{err}
	}
	*e = Env(v)
	return nil
}

// argError is an argument that decoded but is not valid: define answers
// its text alone, without the generic "invalid arguments" wrapper.
type argError struct{ err error }

func (a argError) Error() string { return a.err.Error() }
func (a argError) Unwrap() error { return a.err }
