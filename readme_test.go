package billwire_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// inFlight are packages the README's map names before they exist on this
// branch: issue 17 creates them on other branches. Once one exists, this
// test fails until its entry is deleted, so that whoever merges reads its
// README line against the package.
var inFlight = map[string]string{}

// mapLine is one line of the map: "- `path` — what it holds".
var mapLine = regexp.MustCompile("^- `([^`]+)` — (.+)$")

// readmeMap returns the packages the README's "How it is built" names, each
// with its line.
func readmeMap(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## How it is built\n")
	if !ok {
		t.Fatal(`README.md has no "## How it is built" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	named := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "- ") {
			continue
		}
		m := mapLine.FindStringSubmatch(line)
		switch {
		case m == nil:
			t.Errorf("README map: %q is not a line \"- `path` — what it holds\"", line)
		case named[m[1]] != "":
			t.Errorf("README map names %s twice", m[1])
		default:
			named[m[1]] = m[2]
		}
	}
	return named
}

// packages returns the module's package directories, relative to the root
// ("." for the root itself): every directory with a .go file, except those
// the go tool ignores (testdata, and names starting with . or _).
func packages(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != "." && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if dir := filepath.ToSlash(filepath.Dir(path)); strings.HasSuffix(name, ".go") && !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// Every package of the module has its line in the README's map, and every
// line names a package that exists, so that "where is X, and what may I
// touch there?" is one hop from the README.
func TestReadmeMapsEveryPackage(t *testing.T) {
	named := readmeMap(t)
	dirs := packages(t)
	if !slices.Contains(dirs, "internal/store") || !slices.Contains(dirs, ".") {
		t.Fatalf("the walk found %v: not the module's packages", dirs)
	}
	for _, dir := range dirs {
		switch _, pending := inFlight[dir]; {
		case pending:
			t.Errorf("%s exists now: check its line in the README's \"How it is built\" against it, drop the line's \"lands with issue 17\" note, then delete its inFlight entry", dir)
		case named[dir] == "":
			t.Errorf("package %s has no line in the README's \"How it is built\": add \"- `%s` — what it holds, and what a change there must keep\"", dir, dir)
		}
	}
	for path := range named {
		if _, pending := inFlight[path]; !pending && !slices.Contains(dirs, path) {
			t.Errorf("the README's \"How it is built\" names %s, which is not a package of the module: fix or drop its line", path)
		}
	}
	for path, why := range inFlight {
		if named[path] == "" {
			t.Errorf("inFlight lists %s (%s), which the README's map does not name", path, why)
		}
	}
}
