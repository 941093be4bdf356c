package tools

import (
	"encoding/json"
	"reflect"

	"github.com/invopop/jsonschema"

	"github.com/billwire/billwire/internal/vocab"
)

// The tools' input schemas are reflected from their params structs by one
// invopop Reflector, here in the tests, which generate schemas_gen.go from
// them (TestInputSchemasGenerated): billwire's binary links no reflector.

func init() { reflectSchema = reflectParams }

var reflector = &jsonschema.Reflector{
	DoNotReference:             true,
	ExpandedStruct:             true,
	RequiredFromJSONSchemaTags: true,
	Anonymous:                  true,
	AllowAdditionalProperties:  false,
	LookupComment:              typeDescription,
}

// reflectParams reflects the input schema of a pointer to a params struct.
func reflectParams(params any) json.RawMessage {
	s := reflector.Reflect(params)
	s.Version = ""
	s.ID = ""
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return b
}

// JSONSchema is Env's input schema: a string, test or live. It returns a
// new schema on every call, since the reflector writes each field's tags
// into it.
func (Env) JSONSchema() *jsonschema.Schema {
	enum := make([]any, len(vocab.Envs))
	for i, e := range vocab.Envs {
		enum[i] = string(e)
	}
	return &jsonschema.Schema{Type: "string", Enum: enum, Description: "Stripe environment: test or live."}
}

// typeDescription gives a field without a jsonschema_description its
// type's own description (the reflector writes the tag's, even an empty
// one, over the description a JSONSchema method gives): an env argument
// says what Env says unless the tool has more to say.
func typeDescription(t reflect.Type, field string) string {
	if field == "" || t.Kind() != reflect.Struct {
		return ""
	}
	if f, ok := t.FieldByName(field); ok && f.Type == reflect.TypeFor[Env]() {
		return Env("").JSONSchema().Description
	}
	return ""
}
