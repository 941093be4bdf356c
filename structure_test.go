// The module's structure rules (see STYLE: "Rules that belong to the
// structure"), checked over its source: who may hold Stripe's paths, and
// which packages are leaves.
package billwire_test

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pathOwners may hold Stripe's API paths: the client, and the test
// harness's fake of Stripe.
var pathOwners = []string{"internal/stripeapi", "internal/stripetest"}

// The Stripe client owns Stripe's paths: no "/v1/" string literal in a
// non-test Go file of the module outside pathOwners. A caller names the
// resource (ListProducts, WebhookEndpoint, …) instead.
func TestStripePathsStayInTheClient(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	found := strayPaths(t, root)
	for _, f := range found {
		t.Errorf("%s: a Stripe API path outside internal/stripeapi: call the client's per-resource method (add one there if needed)", f)
	}
	// The scan itself reads the module: a caller's package is among those parsed.
	if n := parsedFiles(t, root); n < 50 {
		t.Fatalf("the scan parsed %d files under %s: it does not read the module", n, root)
	}
}

// strayPaths lists "file:line: literal" for each "/v1/" string literal in
// a non-test .go file under root, outside pathOwners, testdata, hidden
// directories and nested modules.
func strayPaths(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	walkGo(t, root, func(path string, f *ast.File, fset *token.FileSet) {
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && strings.Contains(s, "/v1/") {
				rel, _ := filepath.Rel(root, path)
				out = append(out, rel+":"+strconv.Itoa(fset.Position(lit.Pos()).Line)+": "+lit.Value)
			}
			return true
		})
	})
	return out
}

func parsedFiles(t *testing.T, root string) int {
	n := 0
	walkGo(t, root, func(string, *ast.File, *token.FileSet) { n++ })
	return n
}

func walkGo(t *testing.T, root string, fn func(path string, f *ast.File, fset *token.FileSet)) {
	t.Helper()
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			for _, owner := range pathOwners {
				if rel == owner {
					return filepath.SkipDir
				}
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		fn(path, f, fset)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// A stray path is found: the scan is not blind to a literal in a caller.
func TestStrayPathIsFound(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/m\n")
	write("internal/billing/a.go", "package billing\n\nvar p = \"/v1/products\"\n")
	write("internal/billing/a_test.go", "package billing\n\nvar q = \"/v1/prices\"\n")
	write("internal/stripeapi/c.go", "package stripeapi\n\nvar p = `/v1/products`\n")
	write("internal/billing/testdata/x.go", "package x\n\nvar p = \"/v1/x\"\n")
	got := strayPaths(t, root)
	if len(got) != 1 || !strings.HasPrefix(got[0], "internal/billing/a.go:3: ") {
		t.Fatalf("stray paths = %q, want the one in internal/billing/a.go", got)
	}
}

// The leaves: the vocabulary imports nothing of billwire's own, so every
// layer may import it; the Stripe client sits below the data layer (of
// billwire's own packages it imports only the vocabulary and secrets); auth
// decides who a caller is without the data layer (the runtime looks an API
// key up and hands over what it found); lazyre, a regular expression
// compiled at first use, imports nothing of billwire's.
func TestLeafPackagesImportOnlyLeaves(t *testing.T) {
	t.Parallel()
	const mod = "github.com/billwire/billwire/"
	root := moduleRoot(t)
	for dir, allowed := range map[string][]string{
		"internal/vocab":     nil,
		"internal/secrets":   nil,
		"internal/fault":     nil,
		"internal/stripeapi": {"internal/vocab", "internal/secrets"},
		"internal/auth":      {"internal/vocab", "internal/fault", "internal/lazyre"},
		"internal/lazyre":    nil,
	} {
		pkg, err := build.ImportDir(filepath.Join(root, dir), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(pkg.GoFiles) == 0 {
			t.Fatalf("%s: no Go files read", dir)
		}
		for _, imp := range pkg.Imports {
			if own, ok := strings.CutPrefix(imp, mod); ok && !slices.Contains(allowed, own) {
				t.Errorf("%s imports %s; of billwire's own it may import only %q", dir, imp, allowed)
			}
		}
	}
}
