package audit

import "context"

type detailsKey struct{}

// WithDetails returns a context whose events carry details besides their
// own, such as the client address and request id of the staff request that
// made the change, or the state before it. Keys an event sets itself win.
func WithDetails(ctx context.Context, details map[string]any) context.Context {
	merged := map[string]any{}
	if prev, ok := ctx.Value(detailsKey{}).(map[string]any); ok {
		for k, v := range prev {
			merged[k] = v
		}
	}
	for k, v := range details {
		merged[k] = v
	}
	return context.WithValue(ctx, detailsKey{}, merged)
}

// contextDetails adds the details carried by ctx to details, without
// replacing keys details already has.
func contextDetails(ctx context.Context, details map[string]any) map[string]any {
	extra, _ := ctx.Value(detailsKey{}).(map[string]any)
	if len(extra) == 0 {
		return details
	}
	out := make(map[string]any, len(details)+len(extra))
	for k, v := range extra {
		out[k] = v
	}
	for k, v := range details {
		out[k] = v
	}
	return out
}
