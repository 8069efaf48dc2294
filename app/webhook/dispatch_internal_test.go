package webhook

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/events"
)

// TestPostPlainHTTPAnySpelling: a delivery over plain http to an address
// the allow list does not name is refused by the dialer, however the URL
// spells its scheme, as registration refuses it (a name may resolve to
// an allowed address at registration and to a public one later).
func TestPostPlainHTTPAnySpelling(t *testing.T) {
	d := NewDispatcher(nil, Policy{}, Options{Timeout: 5 * time.Second})
	for _, url := range []string{"http://93.184.215.14:9/hook", "HTTP://93.184.215.14:9/hook", "Http://93.184.215.14:9/hook"} {
		r := d.post(context.Background(), url, "whsec_test", &events.Event{ID: "e"})
		if !strings.Contains(r.err, "must use https") {
			t.Errorf("post(%q): error %q, want the dialer's refusal of plain http", url, r.err)
		}
	}
}
