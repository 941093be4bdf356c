package main

import (
	"strings"
	"testing"
)

// A retention billwire cannot read stops serve before it starts, with a
// message naming the variable and the forms it takes.
func TestServeRefusesABadEventRetention(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"30", "-1h", "thirty", "1.5d"} {
		e := map[string]string{"BILLWIRE_EVENT_RETENTION": bad, "XDG_CONFIG_HOME": t.TempDir(), "HOME": t.TempDir(),
			"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"}
		code, out, errs := cli(t, e, "", "serve", "--addr", "127.0.0.1:0")
		if code == 0 || !strings.Contains(errs, "BILLWIRE_EVENT_RETENTION") || !strings.Contains(errs, "30d") || !strings.Contains(errs, bad) {
			t.Errorf("BILLWIRE_EVENT_RETENTION=%s: exit %d\n%s%s", bad, code, out, errs)
		}
	}
}
