package tools

import "testing"

// Validators compile at a tool's first call; every input schema must
// compile, so that no call finds out first.
func TestEveryInputSchemaCompiles(t *testing.T) {
	t.Parallel()
	for _, tool := range All(Deps{}) {
		newValidator(tool.Def.Name, tool.Def.RawInputSchema) // panics on a bad schema
	}
}
