package credential_test

import (
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }
