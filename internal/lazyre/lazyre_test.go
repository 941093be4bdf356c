package lazyre

import "testing"

func TestNewCompilesAtFirstUse(t *testing.T) {
	t.Parallel()
	re := New(`^[a-z]{1,3}$`)
	if !re().MatchString("abc") || re().MatchString("abcd") {
		t.Fatal("wrong expression")
	}
	if re() != re() {
		t.Fatal("compiled twice")
	}
	bad := New(`(`) // no panic before use
	defer func() {
		if recover() == nil {
			t.Fatal("bad expression did not panic at first use")
		}
	}()
	bad()
}
