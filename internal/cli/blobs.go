package cli

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/youju/youju/internal/blob/fileblobs"
	"github.com/youju/youju/internal/blob/s3blobs"
	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/store"
)

// openBlobs returns the external blob store of a postgres store's config
// ([blobs]), or nil for chunk rows in the database (backend "postgres":
// the store opens internal/blob/pgblobs on its own pool, so that the rows
// join its transactions).
func openBlobs(ctx context.Context, dataDir string, c config.Config) (store.Blobs, error) {
	switch c.BlobBackend() {
	case "files":
		dir := c.Blobs.Dir
		if dir == "" {
			dir = filepath.Join(dataDir, "blobs")
		}
		return fileblobs.Open(dir)
	case "s3":
		secret, err := c.Blobs.SecretValue()
		if err != nil {
			return nil, err
		}
		b, err := s3blobs.Open(ctx, s3blobs.Config{Endpoint: c.Blobs.Endpoint, Bucket: c.Blobs.Bucket,
			AccessKey: c.Blobs.AccessKey, Secret: secret, Region: c.Blobs.Region,
			PathStyle: c.Blobs.PathStyle, Prefix: c.Blobs.Prefix})
		if err != nil {
			return nil, fmt.Errorf("opening the S3 blob store: %w", err)
		}
		return b, nil
	}
	return nil, nil
}

// checkBlobs reaches the blob store of a postgres store's config (the S3
// bucket must exist and the keys work) and says where messages go.
func checkBlobs(ctx context.Context, e *env, dataDir string, c config.Config) error {
	if !c.Store.Postgres() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := openBlobs(ctx, dataDir, c); err != nil {
		return fmt.Errorf("blobs: %w", err)
	}
	switch c.BlobBackend() {
	case "s3":
		fmt.Fprintf(e.stdout, "Blobs: S3 bucket %s at %s, reachable.\n", c.Blobs.Bucket, c.Blobs.Endpoint)
	case "files":
		fmt.Fprintf(e.stdout, "Blobs: files in %s.\n", cmp.Or(c.Blobs.Dir, filepath.Join(dataDir, "blobs")))
	default:
		fmt.Fprintf(e.stdout, "Blobs: in the PostgreSQL database.\n")
	}
	return nil
}
