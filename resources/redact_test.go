package resources

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

// A resource's error leaves billwire with every key and signing secret in
// it masked, whatever produced it.
func TestResourceErrorsAreRedacted(t *testing.T) {
	t.Parallel()
	const key, whsec = "sk_test_51Abcdefghijklmnopqrstuvwx", "whsec_abcdefghijklmnopqrstuvwxyz012345"
	h := redacted(func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		return nil, errors.New("stripe: invalid API key " + key + " (signing secret " + whsec + ")")
	})
	_, err := h(context.Background(), mcp.ReadResourceRequest{})
	if err == nil {
		t.Fatal("the error was lost")
	}
	for _, secret := range []string{key, whsec} {
		if strings.Contains(err.Error(), secret[:len(secret)-4]) {
			t.Fatalf("error %q shows a secret", err)
		}
	}
	if !strings.Contains(err.Error(), "stripe: invalid API key") {
		t.Fatalf("error %q lost its words", err)
	}
}
