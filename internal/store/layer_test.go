package store_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The rule "one data layer": every statement on billwire's tables lives in
// internal/store, and callers get typed functions, never the pool. Outside
// internal/store, production code (every .go file but tests) may not
//   - import pgx or pgxpool, through which statements run (pgconn, for
//     reading a *pgconn.PgError, stays allowed),
//   - call Pool(),
//   - hold a string that reads or writes a payments.* table.
// Each exemption names its reason; one that no longer applies fails too,
// so that the list only shrinks.

// sqlOnPayments matches a statement's clause naming one of billwire's
// tables: FROM, JOIN, INTO, UPDATE, LOCK TABLE or TRUNCATE payments.x.
var sqlOnPayments = regexp.MustCompile(`(?i)\b(from|join|into|update|lock\s+table|truncate(\s+table)?)\s+payments\.[a-z_]+`)

type layerRule struct {
	what string
	// exempt maps a file, or a folder ending in "/", to its reason.
	exempt map[string]string
	// breaks lists where f breaks the rule (a line each).
	breaks func(f *ast.File, fset *token.FileSet) []int
}

var layerRules = []layerRule{
	{
		what: "imports pgx outside internal/store",
		exempt: map[string]string{
			"internal/webhooks/":    "the commit engine runs the store's statements (store.Projection, the claims) on connections of its own: pgx batches, pipelines and transactions, no statement text",
			"internal/loadgen/":     "the load generator checks the state the traffic left, as a test does",
			"cmd/billwire-loadgen/": "the load generator's connection for that check",
		},
		breaks: func(f *ast.File, fset *token.FileSet) []int {
			var lines []int
			for _, im := range f.Imports {
				if p, _ := strconv.Unquote(im.Path.Value); p == "github.com/jackc/pgx/v5" || p == "github.com/jackc/pgx/v5/pgxpool" {
					lines = append(lines, fset.Position(im.Pos()).Line)
				}
			}
			return lines
		},
	},
	{
		what:   "calls Pool() outside internal/store",
		exempt: map[string]string{},
		breaks: nodesWhere(func(n ast.Node) bool {
			c, ok := n.(*ast.CallExpr)
			if !ok || len(c.Args) != 0 {
				return false
			}
			s, ok := c.Fun.(*ast.SelectorExpr)
			return ok && s.Sel.Name == "Pool"
		}),
	},
	{
		what: "holds SQL on a payments.* table outside internal/store",
		exempt: map[string]string{
			"internal/scaffold/templates.go": "the fulfillment SQL generated for the app, which reacts to payments.billing_changes",
			"internal/loadgen/":              "the load generator checks the state the traffic left, as a test does",
		},
		breaks: nodesWhere(func(n ast.Node) bool {
			l, ok := n.(*ast.BasicLit)
			return ok && l.Kind == token.STRING && sqlOnPayments.MatchString(l.Value)
		}),
	},
}

func TestOneDataLayer(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	files := productionFiles(t, root)
	if len(files) < 50 {
		t.Fatalf("found %d production files under %s: the walk is broken", len(files), root)
	}
	fset := token.NewFileSet()
	parsed := map[string]*ast.File{}
	for _, rel := range files {
		f, err := parser.ParseFile(fset, filepath.Join(root, rel), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		parsed[rel] = f
	}
	for _, r := range layerRules {
		used := map[string]bool{}
		for _, rel := range files {
			lines := r.breaks(parsed[rel], fset)
			if len(lines) == 0 {
				continue
			}
			if ex := exemption(r.exempt, rel); ex != "" {
				used[ex] = true
				continue
			}
			for _, l := range lines {
				t.Errorf("%s:%d %s: give internal/store a typed function and call that", rel, l, r.what)
			}
		}
		for ex, why := range r.exempt {
			if !used[ex] {
				t.Errorf("%s no longer %s: remove its exemption (%s) from layerRules", ex, r.what, why)
			}
		}
	}
}

// TestOneDataLayerCatches proves each rule fires on what it forbids.
func TestOneDataLayerCatches(t *testing.T) {
	t.Parallel()
	src := `package x
import "github.com/jackc/pgx/v5"
func f(st interface{ Pool() any }) {
	_ = pgx.ErrNoRows
	st.Pool()
	_ = ` + "`" + `DELETE FROM payments.webhook_events WHERE env = $1` + "`" + `
	_ = "recorded in payments.app_migrations" // prose: allowed
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]int{{2}, {5}, {6}} {
		if got := layerRules[i].breaks(f, fset); !slices.Equal(got, want) {
			t.Errorf("rule %q: lines %v, want %v", layerRules[i].what, got, want)
		}
	}
}

// nodesWhere is a rule's breaks: the lines of the nodes match holds for.
func nodesWhere(match func(ast.Node) bool) func(*ast.File, *token.FileSet) []int {
	return func(f *ast.File, fset *token.FileSet) []int {
		var lines []int
		ast.Inspect(f, func(n ast.Node) bool {
			if n != nil && match(n) {
				lines = append(lines, fset.Position(n.Pos()).Line)
			}
			return true
		})
		return lines
	}
}

func exemption(exempt map[string]string, rel string) string {
	for ex := range exempt {
		if rel == ex || (strings.HasSuffix(ex, "/") && strings.HasPrefix(rel, ex)) {
			return ex
		}
	}
	return ""
}

// productionFiles lists the module's .go files that are not tests, outside
// internal/store, relative to root with forward slashes.
func productionFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))
		if d.IsDir() {
			name := d.Name()
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor" || rel == "internal/store") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
