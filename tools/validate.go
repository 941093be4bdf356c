package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// A tool's arguments are checked against its input schema before its
// function runs, with the validator mcp-go uses, and a refusal reads like
// billwire's other errors: which argument, what was given, what is
// allowed. (mcp-go's own validation answers the validator's raw text, such
// as `/subject/type: &{Got:organization Want:[user team]}`, so the server
// does not turn it on.)

// validator checks arguments against one tool's input schema.
type validator struct{ schema *jsonschema.Schema }

func newValidator(name string, raw json.RawMessage) validator {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		panic(fmt.Sprintf("tools: %s: input schema: %v", name, err))
	}
	c := jsonschema.NewCompiler()
	url := "mem:///billwire/tools/" + name + ".json"
	if err := c.AddResource(url, doc); err != nil {
		panic(fmt.Sprintf("tools: %s: input schema: %v", name, err))
	}
	s, err := c.Compile(url)
	if err != nil {
		panic(fmt.Sprintf("tools: %s: input schema: %v", name, err))
	}
	return validator{s}
}

// check returns nil when args fit the schema, else an error that says,
// for each argument at fault, what was wrong and what is allowed.
func (v validator) check(args map[string]any) error {
	if args == nil {
		args = map[string]any{} // no arguments: an empty object
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	err = v.schema.Validate(inst)
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	var parts []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			parts = append(parts, describe(e))
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(verr)
	return errors.New(strings.Join(parts, "; "))
}

var printer = message.NewPrinter(language.English)

// describe says what one failed constraint means for the caller.
func describe(e *jsonschema.ValidationError) string {
	arg := strings.Join(e.InstanceLocation, ".")
	where := "argument " + arg
	if arg == "" {
		where = "the arguments"
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			b, _ := json.Marshal(w)
			want[i] = string(b)
		}
		got, _ := json.Marshal(k.Got)
		return fmt.Sprintf("%s: %s is not allowed; use %s", where, got, strings.Join(want, " or "))
	case *kind.Required:
		names := make([]string, len(k.Missing))
		for i, m := range k.Missing {
			names[i] = strings.TrimPrefix(arg+"."+m, ".")
		}
		return fmt.Sprintf("missing required argument %s", strings.Join(names, ", "))
	case *kind.AdditionalProperties:
		names := make([]string, len(k.Properties))
		for i, p := range k.Properties {
			names[i] = strings.TrimPrefix(arg+"."+p, ".")
		}
		return fmt.Sprintf("unknown argument %s: see the tool's input schema for the arguments it takes", strings.Join(names, ", "))
	case *kind.Type:
		return fmt.Sprintf("%s: got %s, want %s", where, k.Got, strings.Join(k.Want, " or "))
	}
	return fmt.Sprintf("%s: %s", where, e.ErrorKind.LocalizedString(printer))
}
