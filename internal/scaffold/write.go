package scaffold

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/billwire/billwire/internal/vocab"
)

// Written reports a migration file.
type Written struct {
	Path string `json:"path"`
	// Unchanged means the file existed with exactly this content.
	Unchanged bool `json:"unchanged"`
}

// RootsFromURIs turns MCP roots (file:// URIs) into local directories;
// roots of other schemes are skipped.
func RootsFromURIs(uris []string) []string {
	var out []string
	for _, u := range uris {
		p, err := url.Parse(u)
		if err != nil || p.Scheme != "file" || p.Path == "" {
			continue
		}
		out = append(out, filepath.Clean(filepath.FromSlash(p.Path)))
	}
	return out
}

// WriteFile writes m's SQL as a migration file at target, which must lie
// inside one of roots (absolute directories). A relative target is taken
// from the first root. A target that is an existing directory, or ends in
// a separator, gets a file named by [Migration.FileName]; otherwise it must
// end in .sql. Paths that leave the root, by ".." or through a symbolic
// link, are refused (ErrOutsideRoots); an existing file with other content
// is refused too.
func WriteFile(m *Migration, target string, roots []string, now time.Time) (*Written, error) {
	target = strings.TrimSpace(target)
	r, rel, dirLike, err := openTarget(target, roots)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	root := r.Name()
	if dirLike {
		rel = filepath.Join(rel, m.FileName(now))
	} else if filepath.Ext(rel) != ".sql" {
		return nil, invalid("write_to %q must name a .sql file or a directory (ending in /)", target)
	}
	if dir := filepath.Dir(rel); dir != "." {
		if err := r.MkdirAll(dir, 0o755); err != nil {
			return nil, refusedPath(target, roots, err)
		}
	}
	path := filepath.Join(root, rel)
	f, err := r.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		old, rerr := r.ReadFile(rel)
		if rerr != nil {
			return nil, refusedPath(target, roots, rerr)
		}
		if bytes.Equal(old, []byte(m.SQL)) {
			return &Written{Path: path, Unchanged: true}, nil
		}
		return nil, invalid("%s exists with other content; billwire does not overwrite files: choose another write_to path", path)
	}
	if err != nil {
		return nil, refusedPath(target, roots, err)
	}
	if _, err := f.WriteString(m.SQL); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &Written{Path: path}, nil
}

// openTarget opens the root that holds write_to's target and returns the
// target relative to it, and whether it names a directory (ending in a
// separator, or an existing one).
func openTarget(target string, roots []string) (r *os.Root, rel string, dirLike bool, err error) {
	if len(roots) == 0 {
		return nil, "", false, fmt.Errorf("%w: no directory to write in", ErrOutsideRoots)
	}
	if target == "" {
		return nil, "", false, invalid("write_to is empty: give a path such as db/migrations/ or db/migrations/0007_billing.sql")
	}
	dirLike = strings.HasSuffix(target, "/") || strings.HasSuffix(target, string(filepath.Separator))
	abs := filepath.FromSlash(target)
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(roots[0], abs)
	}
	abs = filepath.Clean(abs)
	root, rel, err := within(abs, roots)
	if err != nil {
		return nil, "", false, err
	}
	r, err = os.OpenRoot(root)
	if err != nil {
		return nil, "", false, fmt.Errorf("open %s: %w", root, err)
	}
	if !dirLike {
		if fi, err := r.Stat(rel); err == nil && fi.IsDir() {
			dirLike = true
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.Close()
			return nil, "", false, refusedPath(target, roots, err)
		}
	}
	return r, rel, dirLike, nil
}

// LiveInDir lists the migration files beside write_to's target (in the
// directory it names or writes into) that bind m's table to live: the
// app's migration tool runs them with the new file, so writing a test
// scaffold there rebinds live fulfillment. A target outside roots lists
// nothing (WriteFile refuses it).
func LiveInDir(m *Migration, target string, roots []string) ([]string, error) {
	r, rel, dirLike, err := openTarget(strings.TrimSpace(target), roots)
	if err != nil {
		return nil, nil
	}
	defer r.Close()
	dir := rel
	if !dirLike {
		dir = filepath.Dir(rel)
	}
	entries, err := fs.ReadDir(r.FS(), filepath.ToSlash(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(r.Name(), dir), err)
	}
	var out []string
	for _, e := range entries {
		if !e.Type().IsRegular() || filepath.Ext(e.Name()) != ".sql" {
			continue
		}
		b, err := r.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Join(r.Name(), dir, e.Name()), err)
		}
		for _, lit := range markerInSQL.FindAllString(string(b), -1) {
			if _, env, table, _ := parseMarker(strings.Trim(lit, "'")); env == string(vocab.Live) && table == m.Table {
				out = append(out, "file "+filepath.Join(dir, e.Name())+" binds "+m.Table+" to live")
				break
			}
		}
	}
	return out, nil
}

// within finds the root that holds abs, lexically, against each root as
// given and with its symbolic links resolved.
func within(abs string, roots []string) (root, rel string, err error) {
	for _, r := range roots {
		cands := []string{filepath.Clean(r)}
		if resolved, err := filepath.EvalSymlinks(r); err == nil && resolved != cands[0] {
			cands = append(cands, resolved)
		}
		for _, c := range cands {
			rel, err := filepath.Rel(c, abs)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
				continue
			}
			return c, rel, nil
		}
	}
	return "", "", fmt.Errorf("%w: %s is outside the allowed directories (%s); write inside them, e.g. a relative path such as db/migrations/",
		ErrOutsideRoots, abs, strings.Join(roots, ", "))
}

// refusedPath reports an OS refusal, which for a path inside the root
// means a symbolic link leading out of it.
func refusedPath(target string, roots []string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes") {
		return fmt.Errorf("%w: %s leads outside the allowed directories (%s) through a symbolic link; write inside them",
			ErrOutsideRoots, target, strings.Join(roots, ", "))
	}
	return fmt.Errorf("write %s: %w", target, err)
}
