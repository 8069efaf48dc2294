package events

import "context"

// Prune runs one pruning pass, for tests.
func (s *Service) Prune(ctx context.Context) { s.prune(ctx) }
