package health

import (
	"context"
	"fmt"
	"strings"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/webhook"
)

// Webhooks is the system check of the webhook endpoints: Warn while any is
// paused, because it gave up on an event, naming them with the reason, so
// that someone fixes the receiver and resumes or replays it; Fail when the
// endpoints cannot be read.
func Webhooks(ctx context.Context, db *store.DB) (Level, string) {
	svc := webhook.NewService(db, webhook.Policy{})
	all, err := svc.List(ctx, "")
	if err != nil {
		return Fail, "cannot read the webhook endpoints"
	}
	var paused []string
	for _, e := range all {
		if e.PausedAt != nil {
			paused = append(paused, fmt.Sprintf("%s (%s) %s", e.URL, e.Scope(), e.PausedReason))
		}
	}
	switch {
	case len(all) == 0:
		return OK, "no endpoints registered"
	case len(paused) > 5:
		return Warn, fmt.Sprintf("%d of %d endpoints paused: %s; …", len(paused), len(all), strings.Join(paused[:5], "; "))
	case len(paused) > 0:
		return Warn, fmt.Sprintf("%d of %d endpoints paused: %s", len(paused), len(all), strings.Join(paused, "; "))
	}
	return OK, fmt.Sprintf("%d endpoints delivering", len(all))
}
