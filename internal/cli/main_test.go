package cli

import (
	"os"
	"testing"

	"github.com/youju/youju/internal/testutil/s3test"
)

// TestMain stops the S3 test server (SeaweedFS) a test may have started.
func TestMain(m *testing.M) {
	code := m.Run()
	s3test.Stop()
	os.Exit(code)
}
