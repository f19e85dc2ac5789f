package cli

import (
	"time"

	"github.com/youju/youju/internal/metrics"
	"github.com/youju/youju/internal/store/sqlite"
)

// Store metrics: how well the SQLite store's group commit amortises the
// fsyncs. The store reports through sqlite.Observer and does not import
// metrics.
var (
	mStoreCommits = metrics.NewCounter("youju_store_commits_total",
		"Index transactions committed (each is one group commit).").With()
	mStoreRequests = metrics.NewCounter("youju_store_write_requests_total",
		"Write requests committed, by outcome.", "result")
	mStoreCommitSeconds = metrics.NewHistogram("youju_store_commit_seconds",
		"Time to run and commit one batch's index transaction (WAL fsync included).",
		[]float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1}).With()
	mStoreBlobSyncSeconds = metrics.NewHistogram("youju_store_blob_append_seconds",
		"Time to append and fsync one batch's message bytes.",
		[]float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1}).With()
	mStoreBatchSize = metrics.NewHistogram("youju_store_batch_requests",
		"Write requests per group commit.",
		[]float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}).With()
)

// storeObserver connects the store's group-commit figures to the metrics.
func storeObserver() sqlite.Observer {
	return sqlite.Observer{
		BlobSync: func(d time.Duration) { mStoreBlobSyncSeconds.Observe(d.Seconds()) },
		Commit: func(d time.Duration, requests int) {
			mStoreCommitSeconds.Observe(d.Seconds())
			mStoreCommits.Inc()
			mStoreBatchSize.Observe(float64(requests))
		},
		Request: func(ok bool) {
			if ok {
				mStoreRequests.With("ok").Inc()
			} else {
				mStoreRequests.With("error").Inc()
			}
		},
	}
}
