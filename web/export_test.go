package web

// WithoutObservability turns the observe middleware off, so that a
// benchmark can measure what metering costs.
func WithoutObservability(s *Server) *Server {
	s.obs = nil
	return s
}
