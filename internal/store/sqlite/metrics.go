package sqlite

import "github.com/youju/youju/internal/metrics"

// Store metrics: how well group commit amortises the fsyncs.
var (
	mCommits = metrics.NewCounter("youju_store_commits_total",
		"Index transactions committed (each is one group commit).").With()
	mRequests = metrics.NewCounter("youju_store_write_requests_total",
		"Write requests committed, by outcome.", "result")
	mCommitSeconds = metrics.NewHistogram("youju_store_commit_seconds",
		"Time to run and commit one batch's index transaction (WAL fsync included).",
		[]float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1}).With()
	mBlobSyncSeconds = metrics.NewHistogram("youju_store_blob_append_seconds",
		"Time to append and fsync one batch's message bytes.",
		[]float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1}).With()
	mBatchSize = metrics.NewHistogram("youju_store_batch_requests",
		"Write requests per group commit.",
		[]float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}).With()
)
