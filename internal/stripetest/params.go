package stripetest

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Parsing and validation of Stripe's form-encoded parameters.

// parseLimit returns the page size of a list: 10 by default, else 1 to 100.
func parseLimit(params url.Values) (int, *response) {
	s := params.Get("limit")
	if s == "" {
		return 10, nil
	}
	n, r := parseInt(params, "limit")
	if r != nil {
		return 0, r
	}
	if n < 1 || n > 100 {
		r := invalidRequest(http.StatusBadRequest, "", "limit", "Invalid limit: must be between 1 and 100")
		return 0, &r
	}
	return int(n), nil
}

// checkParams returns Stripe's parameter_unknown error for the first
// parameter that is not in exact, not an array element name[] or name[N] of
// arrays, and not a map entry name[key] of maps.
func checkParams(params url.Values, exact, arrays, maps []string) *response {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
next:
	for _, k := range keys {
		if slices.Contains(exact, k) {
			continue
		}
		for _, a := range arrays {
			if idx, ok := strings.CutPrefix(k, a+"["); ok && strings.HasSuffix(idx, "]") {
				idx = strings.TrimSuffix(idx, "]")
				if _, err := strconv.ParseUint(idx, 10, 32); idx == "" || err == nil {
					continue next
				}
			}
		}
		for _, m := range maps {
			if key, ok := strings.CutPrefix(k, m+"["); ok && strings.HasSuffix(key, "]") && len(key) > 1 {
				continue next
			}
			if k == m && params.Get(k) == "" { // "metadata=" unsets the map
				continue next
			}
		}
		return unknownParam(k)
	}
	return nil
}

func unknownParam(k string) *response {
	r := invalidRequest(http.StatusBadRequest, "parameter_unknown", k,
		fmt.Sprintf("Received unknown parameter: %s (the stripetest fake does not support it)", k))
	return &r
}

func missing(param string) *response {
	r := invalidRequest(http.StatusBadRequest, "parameter_missing", param,
		fmt.Sprintf("Missing required param: %s.", param))
	return &r
}

func emptyParam(param string) *response {
	r := invalidRequest(http.StatusBadRequest, "parameter_invalid_empty", param, fmt.Sprintf(
		"You passed an empty string for '%s'. We assume empty values are an attempt to unset a parameter; however '%s' cannot be unset. You should remove '%s' from your request or supply a non-empty value.",
		param, param, param))
	return &r
}

func hasPrefixedParam(params url.Values, prefix string) bool {
	for k := range params {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// optString returns a non-empty parameter, or nil (JSON null).
func optString(params url.Values, name string) *string {
	if v := params.Get(name); v != "" {
		return &v
	}
	return nil
}

func parseBool(params url.Values, name string) (value, set bool, r *response) {
	switch v := params.Get(name); v {
	case "":
		return false, false, nil
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	default:
		e := invalidRequest(http.StatusBadRequest, "", name, "Invalid boolean: "+v)
		return false, false, &e
	}
}

func parseInt(params url.Values, name string) (int64, *response) {
	v := params.Get(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r := invalidRequest(http.StatusBadRequest, "parameter_invalid_integer", name, "Invalid integer: "+v)
		return 0, &r
	}
	return n, nil
}

// arrayParam returns the values of an array parameter sent as name[0],
// name[1], ... (as stripe-go does) or name[].
func arrayParam(params url.Values, name string) []string {
	type elem struct {
		idx uint64
		v   string
	}
	var elems []elem
	var out []string
	for k, vs := range params {
		idx, ok := strings.CutPrefix(k, name+"[")
		if !ok || !strings.HasSuffix(idx, "]") {
			continue
		}
		idx = strings.TrimSuffix(idx, "]")
		if idx == "" {
			out = append(out, vs...)
			continue
		}
		if n, err := strconv.ParseUint(idx, 10, 32); err == nil {
			elems = append(elems, elem{n, vs[0]})
		}
	}
	slices.SortFunc(elems, func(a, b elem) int { return int(a.idx) - int(b.idx) })
	for _, e := range elems {
		out = append(out, e.v)
	}
	return out
}

// mapParam returns the entries name[key]=value with a non-empty value (an
// empty value unsets a key).
func mapParam(params url.Values, name string) map[string]string {
	m := map[string]string{}
	for k, vs := range params {
		key, ok := strings.CutPrefix(k, name+"[")
		if ok && strings.HasSuffix(key, "]") && len(key) > 1 && vs[0] != "" {
			m[strings.TrimSuffix(key, "]")] = vs[0]
		}
	}
	return m
}

// updateMetadata applies the name parameters of an update to m, as Stripe
// does: name[key]=value sets a key, name[key]= unsets it and name= unsets
// them all. It returns m itself when nothing changes, else a new map.
func updateMetadata(m map[string]string, params url.Values, name string) map[string]string {
	_, clearAll := params[name]
	var out map[string]string
	for k, vs := range params {
		key, ok := strings.CutPrefix(k, name+"[")
		if !ok || !strings.HasSuffix(key, "]") || len(key) < 2 {
			continue
		}
		if out == nil {
			out = maps.Clone(m)
			if clearAll {
				out = map[string]string{}
			}
		}
		if key = strings.TrimSuffix(key, "]"); vs[0] == "" {
			delete(out, key)
		} else {
			out[key] = vs[0]
		}
	}
	switch {
	case out != nil:
		return out
	case clearAll:
		return map[string]string{}
	}
	return m
}
