package postgres

import (
	"testing"

	"github.com/youju/youju/internal/blob/fileblobs"
	"github.com/youju/youju/internal/blob/s3blobs"
	"github.com/youju/youju/internal/store"
	"github.com/youju/youju/internal/store/storetest"
	"github.com/youju/youju/internal/testutil/s3test"
)

// TestConformance runs the backend-agnostic suite on PostgreSQL, each
// store in a schema of its own, with every blob backend: chunk rows in
// the database, files, S3 (SeaweedFS, a real server; and the in-process
// fake, fast).
func TestConformance(t *testing.T) {
	testDSN(t)
	t.Run("blobs=postgres", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, key string) store.Store {
			return openStore(t, key)
		})
	})
	t.Run("blobs=postgres/cache=every-mailbox", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, key string) store.Store {
			return openSchema(t, schemaFor(key), Options{cacheMin: 1})
		})
	})
	t.Run("blobs=files", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, key string) store.Store {
			b, err := fileblobs.Open(storetest.Dir(t, key))
			if err != nil {
				t.Fatal(err)
			}
			return openSchema(t, schemaFor(key), Options{Blobs: b})
		})
	})
	t.Run("blobs=s3fake", func(t *testing.T) {
		_, url := s3test.NewFake(t)
		storetest.Run(t, func(t *testing.T, key string) store.Store {
			return openSchema(t, schemaFor(key), Options{Blobs: openS3(t, s3blobs.Config{Endpoint: url,
				Bucket: "youju-fake", AccessKey: "a", Secret: "s", PathStyle: true, CreateBucket: true, Prefix: schemaFor(key) + "/"})})
		})
	})
	t.Run("blobs=s3", func(t *testing.T) {
		cfg := s3test.Config(t)
		storetest.Run(t, func(t *testing.T, key string) store.Store {
			c := cfg
			c.Prefix = schemaFor(key) + "/"
			return openSchema(t, schemaFor(key), Options{Blobs: openS3(t, c)})
		})
	})
}

func openS3(t testing.TB, cfg s3blobs.Config) *s3blobs.Store {
	t.Helper()
	b, err := s3blobs.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
