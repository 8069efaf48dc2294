// Package static holds the console's stylesheet, script and icon, embedded
// in the binary so that the console works offline, with no CDN.
package static

import "embed"

// FS holds the files served under /admin/static/.
//
//go:embed *.css *.js *.svg
var FS embed.FS
