package webhooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The receiver reads a handful of fields from each event and hands the rest
// to PostgreSQL as it came. encoding/json would scan every byte of the event
// several times over (validation, decoding, skipping the fields billwire
// does not read) for each struct it fills; here the body is validated once
// (json.Valid) and the fields are then picked from the valid document by
// skipping over what billwire does not read. The decoded values are those
// encoding/json gives for the same fields (key matching without regard to
// case included): see FuzzScanMatchesEncodingJSON.

var errScan = errors.New("not a valid JSON document")

// members calls fn with each member of the JSON object obj: its key and
// its raw value. Keys come unescaped; unless exact, they are also folded to
// lower case when they are not plain lower-case ASCII already, so that a
// key matches a field name the way encoding/json matches it. null calls fn
// with no member. obj must be valid JSON (callers validate the document
// once); an invalid one gives an error, never a panic.
func members(obj []byte, exact bool, fn func(key, val []byte) error) error {
	i := skipSpace(obj, 0)
	if i < len(obj) && obj[i] == 'n' {
		return nil // null
	}
	if i >= len(obj) || obj[i] != '{' {
		return fmt.Errorf("%w: want an object", errScan)
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return errScan
		}
		end := skipString(obj, i)
		if end < 0 {
			return errScan
		}
		key, err := memberKey(obj[i:end], exact)
		if err != nil {
			return err
		}
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return errScan
		}
		i = skipSpace(obj, i+1)
		vend := skipValue(obj, i)
		if vend < 0 {
			return errScan
		}
		if err := fn(key, obj[i:vend]); err != nil {
			return err
		}
		i = skipSpace(obj, vend)
		if i >= len(obj) {
			return errScan
		}
		if obj[i] == '}' {
			return nil
		}
		if obj[i] != ',' {
			return errScan
		}
		i = skipSpace(obj, i+1)
	}
}

// memberKey turns a quoted key into the form members gives.
func memberKey(quoted []byte, exact bool) ([]byte, error) {
	raw := quoted[1 : len(quoted)-1]
	plain := true
	for _, c := range raw {
		if exact && c != '\\' && c < utf8.RuneSelf {
			continue
		}
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			plain = false
			break
		}
	}
	if plain {
		return raw, nil
	}
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return nil, err
	}
	if !exact {
		// encoding/json matches keys to fields folding case (simple Unicode
		// folding); every field read here has a lower-case ASCII name.
		s = strings.ToLower(strings.ToUpper(s))
	}
	return []byte(s), nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i] ('"'),
// or -1.
func skipString(b []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		i += j
		// The quote ends the string unless an odd number of backslashes escape it.
		n := 0
		for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

// skipValue returns the index after the value that starts at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				if i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		start := i
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if i == start {
					return -1
				}
				return i
			}
			i++
		}
		if i == start {
			return -1
		}
		return i
	}
}

func isNull(v []byte) bool { return len(v) == 4 && string(v) == "null" }

// scanString reads a JSON string (null leaves s alone, as encoding/json does).
func scanString(v []byte, s *string) error {
	if isNull(v) {
		return nil
	}
	if len(v) < 2 || v[0] != '"' {
		return fmt.Errorf("%w: want a string, got %.20s", errScan, v)
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		*s = string(inner)
		return nil
	}
	return json.Unmarshal(v, s)
}

// scanInt reads a JSON integer (null leaves n alone).
func scanInt(v []byte, n *int64) error {
	if isNull(v) {
		return nil
	}
	x, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: want an integer, got %.20s", errScan, v)
	}
	*n = x
	return nil
}

// scanBool reads a JSON boolean (null leaves x alone).
func scanBool(v []byte, x *bool) error {
	switch string(v) {
	case "true":
		*x = true
	case "false":
		*x = false
	case "null":
	default:
		return fmt.Errorf("%w: want a boolean, got %.20s", errScan, v)
	}
	return nil
}

// scanRef reads a field Stripe sends as an id or, expanded, as an object.
func scanRef(v []byte, r *ref) error {
	if len(v) > 0 && v[0] == '{' {
		var id string
		err := members(v, false, func(k, v []byte) error {
			if string(k) == "id" {
				return scanString(v, &id)
			}
			return nil
		})
		*r = ref(id)
		return err
	}
	if isNull(v) {
		*r = ""
		return nil
	}
	s := string(*r)
	if err := scanString(v, &s); err != nil {
		return err
	}
	*r = ref(s)
	return nil
}

// scanMetadata reads an object of strings into *m (made when nil; null
// sets it to nil, as encoding/json does).
func scanMetadata(v []byte, m *map[string]string) error {
	if isNull(v) {
		*m = nil
		return nil
	}
	if *m == nil {
		*m = map[string]string{}
	}
	return members(v, true, func(k, v []byte) error {
		var s string
		if err := scanString(v, &s); err != nil {
			return err
		}
		(*m)[string(k)] = s
		return nil
	})
}
