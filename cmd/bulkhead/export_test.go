package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

// TestTenantExportImport: bulkhead tenant export ID > file, then import
// from stdin under a new id and from the file under the exported one.
func TestTenantExportImport(t *testing.T) {
	db := "--database-url=" + storetest.URL(t)
	if code, _, errOut := cliRun(t, "", "tenant", "create", "acme", "--name", "Acme Inc", db); code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	code, dump, errOut := cliRun(t, "", "tenant", "export", "acme", db)
	if code != 0 || !strings.Contains(dump, `"format":"bulkhead-tenant-export/1"`) {
		t.Fatalf("export: exit %d: %s %s", code, errOut, dump)
	}
	code, out, errOut := cliRun(t, dump, "tenant", "import", "--id", "acme_copy", "--json", db)
	var got struct {
		ID, Name string
		Token    string `json:"token"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.ID != "acme_copy" || got.Name != "Acme Inc" || !strings.HasPrefix(got.Token, "bh_") {
		t.Fatalf("import from stdin: exit %d: %s %s", code, out, errOut)
	}
	if code, _, _ := cliRun(t, "", "tenant", "delete", "acme", "--yes", db); code != 0 {
		t.Fatal("delete failed")
	}
	file := filepath.Join(t.TempDir(), "acme.json")
	if err := os.WriteFile(file, []byte(dump), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cliRun(t, "", "tenant", "import", file, db); code != 0 || !strings.Contains(out, "Imported tenant acme ") {
		t.Fatalf("import from a file: exit %d: %s %s", code, out, errOut)
	}
	if code, _, errOut := cliRun(t, "", "tenant", "export", "nobody", db); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("export of an unknown tenant: exit %d: %s", code, errOut)
	}
}
