// Package docs holds Bulkhead's documentation; its test checks that every
// file the documents name exists, so that a renamed file cannot leave a doc
// pointing at nothing.
package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// mdLink is a Markdown link to a local file: [text](path) or (path#anchor).
	mdLink = regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	// codePath is a repository path in the text: app/store/store.go.
	// Placeholders such as schema/control/NNN_name.sql are skipped.
	codePath = regexp.MustCompile(`\b(?:app|web|cmd|schema|templates|static|docs)/[A-Za-z0-9_./-]+\.(?:go|sql|md|templ|css|json|js|png)\b`)
)

// TestDocReferences: every local link and every repository path
// in README.md, RELIABILITY.md and docs/*.md names a file that exists.
func TestDocReferences(t *testing.T) {
	root := ".."
	files := []string{filepath.Join(root, "README.md"), filepath.Join(root, "RELIABILITY.md")}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Dir(f)
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", f, target)
			}
		}
		for _, p := range codePath.FindAllString(string(b), -1) {
			if strings.Contains(p, "NNN") {
				continue
			}
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				t.Errorf("%s names %s, which does not exist", f, p)
			}
		}
	}
}
