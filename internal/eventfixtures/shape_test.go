package eventfixtures

import (
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// unknownKeys walks the JSON value v (as decoded into any) along the Go type
// t that stripe-go decodes it into and returns the paths of keys t has no
// field for: keys Stripe would not send for API version 2024-06-20 (stripe-go
// v79 is generated from that version's API reference), or typos.
func unknownKeys(v any, t reflect.Type, path string) []string {
	var out []string
	walkKeys(v, t, path, &out)
	sort.Strings(out)
	return out
}

func walkKeys(v any, t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := v.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Map:
			for k, e := range v {
				walkKeys(e, t.Elem(), path+"."+k, out)
			}
		case reflect.Struct:
			fields := jsonFields(t)
			for k, e := range v {
				ft, ok := fields[k]
				if !ok {
					// List objects ({"object": "list", "data": [...]})
					// decode into structs without an object field.
					if _, isList := fields["data"]; isList && k == "object" {
						continue
					}
					*out = append(*out, path+"."+k)
					continue
				}
				walkKeys(e, ft, path+"."+k, out)
			}
		case reflect.Interface:
		default:
			*out = append(*out, path+": object for "+t.String())
		}
	case []any:
		if t.Kind() != reflect.Slice {
			*out = append(*out, path+": array for "+t.String())
			return
		}
		for i, e := range v {
			walkKeys(e, t.Elem(), path+"["+strconv.Itoa(i)+"]", out)
		}
	}
	// Scalars (including ids of expandable objects) are left to
	// json.Unmarshal.
}

func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					fields[k] = v
				}
			}
			continue
		}
		if name == "" || !f.IsExported() {
			continue
		}
		fields[name] = f.Type
	}
	return fields
}
